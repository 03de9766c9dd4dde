"""The examination report over real HTTP against the real app and database (SPEC 2.4, 2.5):
the whole story, the lock and autosave, each refusal — a clear 4xx with a sentence, nothing
changed, an audit row. Review rules, versions, the remote case and the lock's expiry are in
``test_report_review.py``; the helpers in ``tests/fixtures/reports.py``."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from store.tables import (
    AuditLog,
    CaseHistory,
    ExamReport,
    Outbox,
    Timer,
)
from tests.fixtures.exams import make_exam
from tests.fixtures.reports import (
    current,
    exam_status,
    make_hospital,
    notices,
    refused,
    report_row,
    save,
    url,
)

pytestmark = pytest.mark.integration


async def chest_ct(
    client: Any, exam_id: int, after: dict[str, Any], findings: str
) -> dict[str, Any]:
    """An explicit save, after ``after``, of a plain chest CT's report with these findings."""
    return await save(
        client,
        exam_id,
        after["version"],
        title="胸部CT平扫",
        findings=findings,
        impression="胸部CT平扫未见明显异常。",
    )


# --- the whole story ------------------------------------------------------------------------


async def test_write_submit_return_fix_resubmit_approve(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    empty = await current(h.author, exam_id)
    assert (empty["report_id"], empty["state"], empty["version"]) == (None, "", 0)
    assert empty["can_write"] and not empty["can_review"]
    assert empty["reporting_hospital_id"] == h.id

    lock = await h.author.post(url(exam_id, "/lock"))
    assert lock.status_code == 200 and lock.json()["mine"] is True
    first = await save(
        h.author, exam_id, 0, title="胸部CT平扫", findings="双肺纹理清晰。", autosave=True
    )
    second = await save(
        h.author, exam_id, first["version"], findings="双肺纹理清晰。\n心影不大。", autosave=True
    )
    assert second["revision"] == first["revision"] == 1  # the autosave replaced its version
    row = await report_row(exam_id)
    assert row["lock_user"] == h.author_id  # an autosave keeps the lock
    assert await exam_status(exam_id) == "report_draft"

    # An explicit save adds a version and frees the lock.
    third = await chest_ct(h.author, exam_id, second, "双肺纹理清晰。\n心影不大。")
    assert third["revision"] == 2
    row = await report_row(exam_id)
    assert row["lock_user"] is None and row["author"] == h.author_id

    res = await h.author.post(url(exam_id, "/submit"), json={"version": third["version"]})
    assert res.status_code == 200, res.text
    assert await exam_status(exam_id) == "initial_report"
    seen = await current(h.reviewer, exam_id)
    assert (
        seen["state"] == "initial"
        and seen["can_review"]
        and seen["initial_by"]["id"] == h.author_id
    )

    res = await h.reviewer.post(
        url(exam_id, "/return"), json={"version": seen["version"], "reason": "请补充纵隔描述"}
    )
    assert res.status_code == 200, res.text
    assert await exam_status(exam_id) == "report_draft"
    back = await current(h.author, exam_id)
    assert back["state"] == "returned" and back["returned_reason"] == "请补充纵隔描述"

    fixed = await chest_ct(
        h.author, exam_id, back, "双肺纹理清晰。\n心影不大。\n纵隔未见肿大淋巴结。"
    )
    assert (await report_row(exam_id))["state"] == "draft"
    assert (
        await h.author.post(url(exam_id, "/submit"), json={"version": fixed["version"]})
    ).status_code == 200
    final = await current(h.reviewer, exam_id)
    res = await h.reviewer.post(url(exam_id, "/approve"), json={"version": final["version"]})
    assert res.status_code == 200, res.text

    row = await report_row(exam_id)
    assert (row["state"], row["reviewer"], row["returned_reason"]) == (
        "reviewed",
        h.reviewer_id,
        "",
    )
    assert await exam_status(exam_id) == "reviewed"
    steps = (
        await CaseHistory.select(CaseHistory.event, CaseHistory.to_state)
        .where(CaseHistory.case_type == "exam_report", CaseHistory.case_id == row["id"])
        .order_by(CaseHistory.id)
    )
    assert [(s["event"], s["to_state"]) for s in steps] == [
        ("submit", "initial"),
        ("return", "returned"),
        ("save", "draft"),
        ("submit", "initial"),
        ("approve", "reviewed"),
    ]
    dicom = await Outbox.select().where(
        Outbox.kind == "report.dicom",
        Outbox.idempotency_key == f"report-dicom-{row['id']}-{row['revision']}",
    )
    assert msgspec.json.decode(dicom[0]["payload"]) == {"report_id": row["id"], "exam_id": exam_id}
    told = await notices(row["id"])
    events = sorted((n["event"], tuple(n["user_ids"])) for n in told)
    assert ("return", (h.author_id,)) in events and ("review", (h.author_id,)) in events
    submitted = [n for n in told if n["event"] == "submit_report"]
    assert len(submitted) == 2 and all(
        h.reviewer_id in n["user_ids"] and h.author_id not in n["user_ids"] for n in submitted
    )
    assert all(
        n["business_type"] == "diagnosis" and n["link"] == f"/exams/{exam_id}/report" for n in told
    )
    actions = {
        r["action"]
        for r in await AuditLog.select(AuditLog.action).where(
            AuditLog.target_id == str(row["id"]), AuditLog.target_type == "exam_report"
        )
    }
    assert {
        "exam_report.autosave",
        "exam_report.save",
        "exam_report.submit",
        "exam_report.return",
        "exam_report.approve",
        "exam_report.lock",
    } <= actions

    # Reviewed is final: nobody edits it any more.
    await refused(h.author, "POST", url(exam_id, "/lock"), 409, exam_id, "reviewed")
    await refused(
        h.author,
        "PUT",
        url(exam_id),
        409,
        exam_id,
        "reviewed",
        json={"version": row["version"], "impression": "x"},
    )


# --- the lock -------------------------------------------------------------------------------


async def test_two_editors_racing_for_the_lock_one_wins(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    answers = await asyncio.gather(
        h.author.post(url(exam_id, "/lock")), h.reviewer.post(url(exam_id, "/lock"))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()["holder"]
    loser = next(a for a in answers if a.status_code == 409).json()
    assert winner["name"] in loser["detail"] and "locked until" in loser["detail"]
    assert await ExamReport.count().where(ExamReport.examination == exam_id) == 1
    assert (await report_row(exam_id))["lock_user"] == winner["id"]


async def test_editing_while_another_holds_the_lock_is_refused(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    assert (await h.author.post(url(exam_id, "/lock"))).status_code == 200
    saved = await save(h.author, exam_id, 0, impression="初稿", autosave=True)
    body = await refused(
        h.reviewer,
        "PUT",
        url(exam_id),
        409,
        exam_id,
        h.names["author"],
        json={"version": saved["version"], "impression": "覆盖"},
    )
    assert body["lock_holder"] == h.author_id
    await refused(h.reviewer, "POST", url(exam_id, "/lock"), 409, exam_id, "is editing the report")
    # a reader whose UI is in Chinese reads the refusal in Chinese, the holder named the same
    body = await refused(
        h.reviewer,
        "POST",
        url(exam_id, "/lock"),
        409,
        exam_id,
        "正在编辑该报告",
        headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert body["detail"].startswith(h.names["author"]) and body["lock_holder_name"]
    await refused(
        h.reviewer,
        "POST",
        url(exam_id, "/submit"),
        409,
        exam_id,
        "is editing",
        json={"version": saved["version"]},
    )
    seen = await current(h.reviewer, exam_id)
    assert seen["lock"]["holder"]["name"] == h.names["author"] and seen["lock"]["mine"] is False
    # The holder lets go: the other one takes it.
    assert (await h.author.delete(url(exam_id, "/lock"))).status_code == 200
    assert (await h.reviewer.post(url(exam_id, "/lock"))).status_code == 200


async def test_only_the_holder_unlocks_a_report(new_api, uniq) -> None:
    """Issue 12 (10e): a non-holder's DELETE of the lock answered 200; now 409 with who
    holds it, the lock stays; an admin frees it with the release action, not with DELETE."""
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    assert (await h.author.post(url(exam_id, "/lock"))).status_code == 200
    for client in (h.reviewer, h.admin):
        body = await refused(
            client, "DELETE", url(exam_id, "/lock"), 409, exam_id, "holds the lock of this report"
        )
        assert body["detail"].startswith(h.names["author"]), body
        assert body["lock_holder"] == h.author_id and body["lock_holder_name"] == h.names["author"]
    body = await refused(
        h.reviewer,
        "DELETE",
        url(exam_id, "/lock"),
        409,
        exam_id,
        "持有该报告的锁定",
        headers={"Accept-Language": "zh-CN"},
    )
    assert (await report_row(exam_id))["lock_user"] == h.author_id
    assert (await h.reviewer.post(url(exam_id, "/lock"))).status_code == 409
    assert (await h.author.delete(url(exam_id, "/lock"))).status_code == 200
    assert (await h.reviewer.delete(url(exam_id, "/lock"))).status_code == 200  # free: no-op
    assert (await report_row(exam_id))["lock_user"] is None


async def test_a_stale_save_is_refused_and_overwrites_nothing(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    first = await save(h.author, exam_id, 0, impression="第一版")
    await save(h.reviewer, exam_id, first["version"], impression="第二版")
    body = await refused(
        h.author,
        "PUT",
        url(exam_id),
        409,
        exam_id,
        "meanwhile",
        json={"version": first["version"], "impression": "旧的改动"},
    )
    assert body["version"] == first["version"] + 1
    assert (await report_row(exam_id))["impression"] == "第二版"


async def test_admin_releases_a_lock_left_behind(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    assert (await h.author.post(url(exam_id, "/lock"))).status_code == 200
    await refused(h.reviewer, "POST", url(exam_id, "/lock/release"), 403, exam_id, "administrator")
    other = await make_hospital(new_api, uniq)
    await refused(other.admin, "POST", url(exam_id, "/lock/release"), 404, exam_id)
    assert (await current(h.admin, exam_id))["can_release"] is True
    res = await h.admin.post(url(exam_id, "/lock/release"))
    assert res.status_code == 200 and h.names["author"] in res.json()["message"]
    row = await report_row(exam_id)
    assert row["lock_user"] is None
    assert await CaseHistory.exists().where(
        CaseHistory.case_id == row["id"],
        CaseHistory.case_type == "exam_report",
        CaseHistory.event == "lock_released",
    )
    [timer] = await Timer.select().where(
        Timer.case_type == "exam_report", Timer.case_id == row["id"]
    )
    assert timer["cancelled"] is True
    assert (await h.reviewer.post(url(exam_id, "/lock"))).status_code == 200
