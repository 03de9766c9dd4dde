"""The user operation log (SPEC 8.10) over real HTTP: filters, paging, scope, CSV export, and
proof that no route changes or deletes an audit row."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.management.hospitals import create_alliance
from kernel.paths import UI_DIR
from store.tables import Alliance, AuditLog
from store.uow import Ctx
from tests.fixtures.hospitals import PASSWORD, Place
from ui.assets import static_url

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def add_rows(
    n: int,
    *,
    username: str,
    hospital_id: int | None,
    alliance_id: int | None = None,
    action: str = "test.action",
    outcome: str = "success",
    target_type: str = "thing",
    detail: str = "",
    at: datetime | None = None,
) -> list[int]:
    """Rows written the way the app writes them, straight into the table."""
    at = at or datetime.now(UTC)
    rows = [
        AuditLog(
            at=at,
            username=username,
            hospital_id=hospital_id,
            alliance_id=alliance_id,
            action=action,
            target_type=target_type,
            target_id=str(i),
            outcome=outcome,
            ip="10.0.0.1",
            detail=detail or f"row {i}",
        )
        for i in range(n)
    ]
    result = await AuditLog.insert(*rows).returning(AuditLog.id)
    return [r["id"] for r in result]


async def demo_alliance_id() -> int:
    rows = await Alliance.select(Alliance.id, Alliance.name)
    return next(r["id"] for r in rows if "Demo" in r["name"])


async def test_paging_by_50_forward_and_back(place: Place, uniq) -> None:
    who = uniq("pager.")
    ids = await add_rows(120, username=who, hospital_id=place.id)
    seen: list[int] = []
    params: dict[str, object] = {"user": who}
    pages = []
    while True:
        res = await place.admin.get("/api/manage/audit", params=params)
        assert res.status_code == 200, res.text
        page = res.json()
        pages.append(page)
        seen += [r["id"] for r in page["items"]]
        if page["next_before"] is None:
            break
        params = {"user": who, "before": page["next_before"]}
    assert [len(p["items"]) for p in pages] == [50, 50, 20]
    assert seen == sorted(ids, reverse=True)  # newest first, nothing twice, nothing missed
    assert pages[0]["prev_after"] is None and pages[1]["prev_after"] == pages[1]["items"][0]["id"]
    back = await place.admin.get(
        "/api/manage/audit", params={"user": who, "after": pages[2]["prev_after"]}
    )
    assert [r["id"] for r in back.json()["items"]] == [r["id"] for r in pages[1]["items"]]
    first = await place.admin.get(
        "/api/manage/audit", params={"user": who, "after": pages[1]["prev_after"]}
    )
    assert first.json()["prev_after"] is None
    assert [r["id"] for r in first.json()["items"]] == [r["id"] for r in pages[0]["items"]]


async def test_filters(place: Place, uniq) -> None:
    who = uniq("filter.")
    await add_rows(2, username=who, hospital_id=place.id, action="doctor.freeze")
    await add_rows(3, username=who, hospital_id=place.id, outcome="denied", target_type="role")
    await add_rows(1, username=uniq("someone."), hospital_id=place.id, action="doctor.freeze")

    async def ids(**params: object) -> int:
        res = await place.admin.get("/api/manage/audit", params=params)
        assert res.status_code == 200, res.text
        return len(res.json()["items"])

    assert await ids(user=who) == 5
    assert await ids(user=who.upper()) == 5  # case does not matter
    assert await ids(user=who, action="freeze") == 2
    assert await ids(user=who, outcome="denied") == 3
    assert await ids(user=who, target_type="role") == 3
    assert await ids(user=who, outcome="success", target_type="role") == 0
    assert await ids(action="doctor.freeze") == 3


async def test_the_log_names_its_targets_in_the_readers_language(place: Place, uniq) -> None:
    """Every target type the app writes reads as a word (a study is no billing unit "按检查"),
    an unknown one as stored; the filter offers them all."""
    who = uniq("targets.")
    for kind in ("study", "exam_report", "diagnosis_request", "mystery_kind"):
        await add_rows(1, username=who, hospital_id=place.id, target_type=kind)
    for lang, words in (
        ("zh-CN", ["影像检查 0", "检查报告 0", "远程诊断申请 0", "mystery_kind 0"]),
        ("en", ["Study 0", "Examination report 0", "Diagnosis request 0", "mystery_kind 0"]),
    ):
        page = await place.admin.get(
            "/manage/audit", params={"user": who}, headers={"Accept-Language": lang}
        )
        assert page.status_code == 200, page.text
        cells = re.findall(r'data-label="[^"]*" class="small">([^<]*)</td>', page.text)
        assert sorted(c.strip() for c in cells if c.strip().endswith(" 0")) == sorted(words)
        assert "按检查" not in page.text
    page = await place.admin.get("/manage/audit", headers={"Accept-Language": "zh-CN"})
    assert '<option value="exam_report" >检查报告</option>' in page.text


async def test_date_range_is_in_the_hospital_time_zone(place: Place, uniq) -> None:
    who = uniq("dates.")
    local = [
        datetime(2020, 1, 1, 10, 0, tzinfo=SHANGHAI),
        datetime(2020, 1, 2, 23, 30, tzinfo=SHANGHAI),  # 15:30 UTC on the 2nd
        datetime(2020, 1, 3, 0, 30, tzinfo=SHANGHAI),  # 16:30 UTC on the 2nd, local 3rd
    ]
    for i, at in enumerate(local):
        await add_rows(1, username=who, hospital_id=place.id, at=at, detail=f"day {i}")

    async def details(**params: object) -> list[str]:
        res = await place.admin.get("/api/manage/audit", params={"user": who, **params})
        return [r["detail"] for r in res.json()["items"]]

    assert await details(date_from="2020-01-02", date_to="2020-01-02") == ["day 1"]
    assert await details(date_from="2020-01-02") == ["day 2", "day 1"]
    assert await details(date_to="2020-01-01") == ["day 0"]
    assert await details(date_from="2021-01-01") == []


async def test_bad_filters_are_refused_clearly(place: Place, other: Place) -> None:
    res = await place.admin.get("/api/manage/audit", params={"date_from": "yesterday"})
    assert res.status_code == 400 and "2026-11-27" in res.json()["detail"]
    res = await place.admin.get(
        "/api/manage/audit", params={"date_from": "2024-02-02", "date_to": "2024-02-01"}
    )
    assert res.status_code == 400 and "after" in res.json()["detail"]
    res = await place.admin.get("/api/manage/audit", params={"outcome": "maybe"})
    assert res.status_code == 400 and "denied" in res.json()["detail"]
    res = await place.admin.get("/api/manage/audit", params={"hospital_id": "east"})
    assert res.status_code == 400 and "hospital id" in res.json()["detail"]
    res = await place.admin.get("/api/manage/audit", params={"hospital_id": other.id})
    assert res.status_code == 404
    denied = await AuditLog.select(AuditLog.action).where(
        AuditLog.username == place.admin_name, AuditLog.outcome == "denied"
    )
    assert any("/api/manage/audit" in d["action"] for d in denied)


async def test_scope_hospital_admin_alliance_admin_and_stranger(
    place: Place, other: Place, alliance, new_api, uniq
) -> None:
    who = uniq("scope.")
    mine = await add_rows(2, username=who, hospital_id=place.id)
    theirs = await add_rows(3, username=who, hospital_id=other.id)
    alliance_wide = await add_rows(
        1, username=who, hospital_id=None, alliance_id=await demo_alliance_id()
    )

    async def ids(client, **params: object) -> set[int]:
        res = await client.get("/api/manage/audit", params={"user": who, **params})
        assert res.status_code == 200, res.text
        return {r["id"] for r in res.json()["items"]}

    assert await ids(place.admin) == set(mine)
    assert await ids(other.admin) == set(theirs)
    assert await ids(alliance) == set(mine + theirs + alliance_wide)
    assert await ids(alliance, hospital_id=other.id) == set(theirs)
    stranger_name = uniq("stranger.")
    await create_alliance(Ctx(), uniq("Other alliance "), stranger_name, PASSWORD)
    stranger = new_api()
    await stranger.login(stranger_name, PASSWORD, admin=True)
    assert await ids(stranger) == set()
    res = await stranger.get("/api/manage/audit", params={"hospital_id": place.id})
    assert res.status_code == 404


async def test_reading_the_log_is_audited(place: Place, uniq) -> None:
    who = uniq("reader.")
    res = await place.admin.get("/api/manage/audit", params={"user": who, "outcome": "denied"})
    assert res.status_code == 200
    rows = await AuditLog.select().where(
        AuditLog.username == place.admin_name, AuditLog.action == "audit.read"
    )
    assert any(who in r["detail"] and "outcome=denied" in r["detail"] for r in rows)
    assert all(r["hospital_id"] == place.id for r in rows)


async def test_doctor_cannot_read_the_log(api, demo) -> None:
    await api.login("dr.li", demo["password"])
    assert (await api.get("/api/manage/audit")).status_code == 403
    assert (await api.get("/api/manage/audit/export.csv")).status_code == 403


async def test_csv_export(place: Place, uniq) -> None:
    who = uniq("csv.")
    await add_rows(3, username=who, hospital_id=place.id, detail="查看影像 张三")
    await add_rows(1, username=who, hospital_id=place.id, detail='=HYPERLINK("http://x")')
    await add_rows(2, username=uniq("nobody."), hospital_id=place.id)
    res = await place.admin.get("/api/manage/audit/export.csv", params={"user": who})
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/csv")
    assert res.headers["content-disposition"].startswith("attachment; filename=")
    assert res.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
    assert rows[0][0].startswith("Time 时间") and rows[0][-1] == "Detail 详情"
    body = rows[1:]
    assert len(body) == 4 and {r[1] for r in body} == {who}
    assert [r[-1] for r in body].count("查看影像 张三") == 3
    assert '\'=HYPERLINK("http://x")' in [r[-1] for r in body]  # no formula in Excel
    exported = await AuditLog.select(AuditLog.detail).where(
        AuditLog.username == place.admin_name, AuditLog.action == "audit.export"
    )
    assert any(who in r["detail"] for r in exported)


async def test_csv_export_streams_more_than_one_batch(place: Place, uniq) -> None:
    who = uniq("bulk.")
    ids = await add_rows(1203, username=who, hospital_id=place.id)
    res = await place.admin.get("/api/manage/audit/export.csv", params={"user": who})
    rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))[1:]
    assert len(rows) == 1203
    assert [int(r[4]) for r in rows[:2]] == [1202, 1201]  # newest first
    assert len(ids) == 1203


async def test_no_route_changes_or_deletes_audit_rows(place: Place, uniq) -> None:
    who = uniq("keep.")
    ids = await add_rows(3, username=who, hospital_id=place.id)
    before = await AuditLog.select().where(AuditLog.id.is_in(ids)).order_by(AuditLog.id)
    total_before = await AuditLog.count().where(AuditLog.id <= max(ids))
    urls = [
        "/api/manage/audit",
        "/api/manage/audit/",
        f"/api/manage/audit/{ids[0]}",
        "/api/manage/audit/export.csv",
        f"/api/manage/audit?user={who}",
    ]
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for url in urls:
            res = await place.admin.request(method, url, json={"detail": "forged", "id": ids[0]})
            assert res.status_code in (404, 405), (method, url, res.status_code)
    after = await AuditLog.select().where(AuditLog.id.is_in(ids)).order_by(AuditLog.id)
    assert after == before
    assert await AuditLog.count().where(AuditLog.id <= max(ids)) == total_before


def test_the_app_has_no_writing_route_on_the_audit_log() -> None:
    from aimis.app import create_app

    app = create_app()
    for route in app.routes:
        if "audit" in route.path:
            assert set(route.methods) <= {"GET", "HEAD", "OPTIONS"}, (route.path, route.methods)


async def test_refusals_are_audited_by_the_app(place: Place, other: Place, uniq) -> None:
    """The after-exception hook of the composition root writes every refused read (403/404)
    and refused write, with who, what and from where."""
    res = await other.admin.post("/api/manage/departments", json={"name": uniq("D ")})
    url = f"/api/manage/departments/{res.json()['id']}"
    started = datetime.now(UTC) - timedelta(seconds=5)
    assert (await place.admin.get(url)).status_code == 404
    rows = await AuditLog.select().where(
        AuditLog.username == place.admin_name,
        AuditLog.outcome == "denied",
        AuditLog.at >= started,
    )
    row = next(r for r in rows if r["action"].startswith("GET /api/manage/departments/"))
    assert row["hospital_id"] == place.id and row["ip"] == "127.0.0.1"
    assert row["detail"].startswith("404: No department")


async def test_the_browser_icon_is_served_and_not_a_refused_read(api) -> None:
    """Browsers ask for /favicon.ico on their own; a 404 there would be audited as a refused
    read on every page view."""
    before = await AuditLog.count().where(AuditLog.action.like("%favicon%"))
    res = await api.get("/favicon.ico")
    assert res.status_code == 200 and res.headers["content-type"].startswith("image/svg+xml")
    assert res.content.startswith(b"<svg")
    page = await api.get("/login", headers={"accept": "text/html"})
    assert 'rel="icon" href="/static/favicon.svg?v=' in page.text
    assert await AuditLog.count().where(AuditLog.action.like("%favicon%")) == before


async def test_static_files_are_addressed_by_their_content(api) -> None:
    """A page names its script and stylesheet with their digest: after an upgrade a browser
    that cached the old app.js fetches the new one instead of running it with a new page."""
    page = await api.get("/login", headers={"accept": "text/html"})
    [script] = re.findall(r'src="(/static/app\.js\?v=[0-9a-f]{12})"', page.text)
    [sheet] = re.findall(r'href="(/static/app\.css\?v=[0-9a-f]{12})"', page.text)
    served = await api.get(script)
    assert served.status_code == 200 and b"liveRegion" in served.content
    digest = hashlib.sha256((UI_DIR / "static" / "app.js").read_bytes()).hexdigest()[:12]
    assert script.endswith(digest)
    assert (await api.get(sheet)).status_code == 200
    with pytest.raises(ValueError):
        static_url("../templates/base.html")
    with pytest.raises(ValueError):
        static_url("missing.js")
