"""Finding 9 of issue 12 and the read audit's rows: what one call writes, for whom."""

from __future__ import annotations

import pytest

from store.tables import AuditLog
from tests.conftest import Api
from tests.integration.security.canary import Canary

pytestmark = pytest.mark.integration


async def rows_since(mark: int, username: str) -> list[dict]:
    return list(
        await AuditLog.select()
        .where(AuditLog.id > mark, AuditLog.username == username)
        .order_by(AuditLog.id)
    )


async def mark() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def test_a_rendered_template_is_an_audited_read(
    accounts: dict[str, Api], canary: Canary
) -> None:
    """Finding 9: ``GET /api/templates/{t}/render/{exam}`` fills the template with the
    patient's name, ID and birth date; it wrote no audit row."""
    wang = accounts["dr.wang"]
    url = f"/api/templates/{canary.ids['template_id']}/render/{canary.p1.exam_id}"
    start = await mark()
    for _ in range(2):
        res = await wang.get(url)
        assert res.status_code == 200 and canary.p1.patient_id in res.text
    rows = await rows_since(start, "dr.wang")
    assert [(r["action"], r["target_type"], r["target_id"]) for r in rows] == [
        ("template.render", "examination", str(canary.p1.exam_id))
    ] * 2
    assert all(r["ip"] == "127.0.0.1" and r["hospital_id"] == canary.city for r in rows)
    assert f"template {canary.ids['template_id']}" in rows[0]["detail"]
    start = await mark()
    res = await accounts["dr.chen"].get(url)
    assert res.status_code == 404
    assert [(r["action"], r["outcome"]) for r in await rows_since(start, "dr.chen")] == [
        ("GET /api/templates/{template_id}/render/{examination_id}", "denied")
    ]


async def test_a_shared_examination_read_is_in_its_owners_log(
    accounts: dict[str, Api], canary: Canary
) -> None:
    """West reads P2 through the open request: one row, which City's admin sees (the
    examination's hospital), not West's."""
    start = await mark()
    res = await accounts["dr.liu"].get(f"/api/exams/{canary.p2.exam_id}")
    assert res.status_code == 200
    rows = await rows_since(start, "dr.liu")
    assert [(r["action"], r["hospital_id"]) for r in rows] == [("exam.view", canary.city)]
    seen = await accounts["admin.city"].get(
        "/api/manage/audit", params={"user": "dr.liu", "action": "exam.view"}
    )
    assert rows[0]["id"] in [i["id"] for i in seen.json()["items"]]
    west = await accounts["admin.west"].get(
        "/api/manage/audit", params={"user": "dr.liu", "action": "exam.view"}
    )
    assert rows[0]["id"] not in [i["id"] for i in west.json()["items"]]


async def test_a_page_with_several_reads_writes_one_row(
    accounts: dict[str, Api], canary: Canary
) -> None:
    """The report editor reads the examination, the report and the priors: one row (before,
    each service wrote its own)."""
    start = await mark()
    res = await accounts["dr.wang"].get(
        f"/exams/{canary.p1.exam_id}/report", headers={"accept": "text/html"}
    )
    assert res.status_code == 200
    rows = await rows_since(start, "dr.wang")
    assert [(r["action"], r["target_id"]) for r in rows] == [
        ("exam_report.view", str(canary.report_id))
    ]
