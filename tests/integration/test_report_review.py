"""The examination report (SPEC 2.4, 2.5): review rules, versions and their difference, the
remote case, and an idle lock expiring through the real timer sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from store.tables import (
    AuditLog,
    CaseHistory,
    DiagnosisRequest,
    ExamReport,
    Timer,
)
from store.uow import now
from tests.fixtures.exams import make_exam
from tests.fixtures.reports import (
    current,
    exam_status,
    make_hospital,
    refused,
    report_row,
    save,
    submitted,
    url,
)

pytestmark = pytest.mark.integration


# --- review rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "method", "tail", "status", "says", "body"),
    [
        ("author", "POST", "/approve", 403, "report.review", lambda v: {"version": v}),
        (
            "clinician",
            "POST",
            "/return",
            403,
            "report.review",
            lambda v: {"version": v, "reason": "x"},
        ),
        ("clinician", "PUT", "", 403, "report.write", lambda v: {"version": 0}),
        (
            "reviewer",
            "POST",
            "/return",
            409,
            "needs a reason",
            lambda v: {"version": v, "reason": "  "},
        ),
        (
            "reviewer",
            "POST",
            "/approve",
            409,
            "changed by someone else",
            lambda v: {"version": v - 1},
        ),
    ],
    ids=["author-approves", "clinician-returns", "clinician-writes", "no-reason", "stale"],
)
async def test_review_needs_the_permission(
    new_api, uniq, who, method, tail, status, says, body
) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    seen = await submitted(h, exam_id)
    assert not seen["can_review"]
    client = getattr(h, who)
    await refused(
        client, method, url(exam_id, tail), status, exam_id, says, json=body(seen["version"])
    )


@pytest.mark.parametrize(
    ("tail", "method", "status", "says", "fields"),
    [
        ("/submit", "POST", 409, "impression is empty", {}),
        ("", "PUT", 400, "at most 200", {"title": "x" * 201}),
        ("", "PUT", 400, "template", {"template_id": 10**9}),
    ],
    ids=["empty-impression", "long-title", "unknown-template"],
)
async def test_an_empty_impression_is_not_submitted(
    new_api, uniq, tail, method, status, says, fields
) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    saved = await save(h.author, exam_id, 0, findings="所见", impression="")
    await refused(
        h.author,
        method,
        url(exam_id, tail),
        status,
        exam_id,
        says,
        json={"version": saved["version"], **fields},
    )


async def test_self_review_is_forbidden_unless_the_hospital_allows_it(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    seen = await submitted(h, exam_id, writer=h.reviewer)
    assert seen["can_review"] is False
    await refused(
        h.reviewer,
        "POST",
        url(exam_id, "/approve"),
        403,
        exam_id,
        "own report",
        json={"version": seen["version"]},
    )
    res = await h.admin.put(
        f"/api/manage/hospitals/{h.id}/self-review", json={"self_review_allowed": True}
    )
    assert res.status_code == 200 and res.json()["self_review_allowed"] is True, res.text
    seen = await current(h.reviewer, exam_id)
    assert seen["can_review"] is True
    assert (
        await h.reviewer.post(url(exam_id, "/approve"), json={"version": seen["version"]})
    ).status_code == 200
    assert (await report_row(exam_id))["reviewer"] == h.reviewer_id


# --- versions -------------------------------------------------------------------------------


async def test_versions_and_their_difference(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    a = await save(
        h.author, exam_id, 0, findings="肝脏大小正常。\n胆囊未见异常。", impression="未见异常。"
    )

    async def stones(by: Any, after: dict[str, Any], impression: str) -> dict[str, Any]:
        """An autosave, after ``after``, of the findings with the gallstones."""
        findings = "肝脏大小正常。\n胆囊结石。"
        return await save(
            by, exam_id, after["version"], findings=findings, impression=impression, autosave=True
        )

    b = await stones(h.author, a, "未见异常。")
    c = await stones(h.author, b, "胆囊结石。")
    assert (a["revision"], b["revision"], c["revision"]) == (1, 2, 2)
    assert (await h.author.delete(url(exam_id, "/lock"))).status_code == 200
    d = await stones(h.reviewer, c, "胆囊结石，建议随访。")
    assert d["revision"] == 3  # another author's autosave is a version of its own
    listed = (await h.author.get(url(exam_id, "/versions"))).json()
    assert [(v["revision"], v["note"], v["author"]["id"]) for v in listed] == [
        (3, "autosave", h.reviewer_id),
        (2, "autosave", h.author_id),
        (1, "", h.author_id),
    ]
    one = (await h.author.get(url(exam_id, "/versions/2"))).json()
    assert one["impression"] == "胆囊结石。"
    diff = (await h.author.get(url(exam_id, "/diff"), params={"older": 1, "newer": 2})).json()
    findings = next(f for f in diff["fields"] if f["field"] == "findings")
    assert findings["changed"] and {"op": "-", "text": "胆囊未见异常。"} in findings["lines"]
    assert {"op": "+", "text": "胆囊结石。"} in findings["lines"] and {
        "op": " ",
        "text": "肝脏大小正常。",
    } in findings["lines"]
    assert next(f for f in diff["fields"] if f["field"] == "title")["changed"] is False
    await refused(h.author, "GET", url(exam_id, "/versions/9"), 404, exam_id, "no version 9")
    res = await h.author.get(url(exam_id, "/diff"), params={"older": 1, "newer": 1})
    assert res.status_code == 400 and "two different" in res.json()["detail"]  # a read: no audit


# --- remote diagnosis -----------------------------------------------------------------------


async def test_a_remote_report_is_written_by_the_target_and_read_by_the_requester(
    new_api, uniq
) -> None:
    requester = await make_hospital(new_api, uniq)
    target = await make_hospital(new_api, uniq)
    stranger = await make_hospital(new_api, uniq)
    exam_id = await make_exam(requester.id)
    res = await requester.author.post(
        "/api/diagnosis-requests",
        json={
            "examination_id": exam_id,
            "target_hospital_id": target.id,
            "clinical_info": "咳嗽两周",
        },
    )
    assert res.status_code == 201, res.text
    rid = res.json()["id"]
    await refused(
        target.author,
        "POST",
        url(exam_id, "/lock"),
        409,
        exam_id,
        "to accept the remote diagnosis request",
    )
    waiting = await current(requester.author, exam_id)
    assert not waiting["can_write"] and "accept" in waiting["notice"]
    res = await target.reviewer.post(f"/api/diagnosis-requests/{rid}/accept", json={})
    assert res.status_code == 200, res.text

    await refused(
        requester.author,
        "PUT",
        url(exam_id),
        403,
        exam_id,
        "written by",
        json={"version": 0, "impression": "x"},
    )
    saved = await save(
        target.author, exam_id, 0, title="远程", findings="所见", impression="远程诊断意见。"
    )
    assert (await report_row(exam_id))["hospital"] == target.id
    req = await DiagnosisRequest.select().where(DiagnosisRequest.id == rid).first()
    assert req["state"] == "reporting"
    draft = await current(requester.author, exam_id)
    assert draft["available"] is False and draft["impression"] == "" and draft["state"] == "draft"
    await refused(requester.author, "GET", url(exam_id, "/versions"), 404, exam_id, "not shown")
    await refused(stranger.author, "GET", url(exam_id), 404, exam_id)

    assert (
        await target.author.post(url(exam_id, "/submit"), json={"version": saved["version"]})
    ).status_code == 200
    shown = await current(requester.author, exam_id)
    assert shown["available"] and shown["impression"] == "远程诊断意见。" and not shown["can_write"]
    assert not shown["can_review"] and not shown["can_print"]
    assert (await DiagnosisRequest.select().where(DiagnosisRequest.id == rid).first())[
        "state"
    ] == "initial_report"
    assert await exam_status(exam_id) == "initial_report"
    await refused(
        requester.reviewer,
        "POST",
        url(exam_id, "/approve"),
        403,
        exam_id,
        "written by",
        json={"version": shown["version"]},
    )
    assert (
        await target.reviewer.post(url(exam_id, "/approve"), json={"version": shown["version"]})
    ).status_code == 200
    assert (await DiagnosisRequest.select().where(DiagnosisRequest.id == rid).first())[
        "state"
    ] == "reviewed"
    assert (await current(requester.author, exam_id))["state"] == "reviewed"


# --- lock expiry through the real timer sweep ------------------------------------------------

SWEEP = (
    "import asyncio, json\n"
    "from flows.timers import sweep_timers\n"
    "print('COUNTS', json.dumps(asyncio.run(sweep_timers())))\n"
)


async def test_an_idle_lock_expires_through_the_timer_sweep(
    new_api, uniq, run_flow, flow_runs
) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    assert (await h.author.post(url(exam_id, "/lock"))).status_code == 200
    row = await report_row(exam_id)
    [timer] = await Timer.select().where(
        Timer.case_type == "exam_report", Timer.case_id == row["id"], Timer.cancelled.eq(False)
    )
    assert timedelta(minutes=29) < timer["due_at"] - now() <= timedelta(minutes=30)
    # Still fresh: a sweep that finds the timer due leaves the lock alone.
    await Timer.update({Timer.due_at: now() - timedelta(seconds=1)}).where(Timer.id == timer["id"])
    run_flow(SWEEP)
    assert (await report_row(exam_id))["lock_user"] == h.author_id
    # 30 minutes without a change.
    assert (
        await h.author.post(url(exam_id, "/lock"))
    ).status_code == 200  # keep-alive: a new due time
    [timer] = await Timer.select().where(
        Timer.case_type == "exam_report",
        Timer.case_id == row["id"],
        Timer.fired_at.is_null(),
        Timer.cancelled.eq(False),
    )
    await ExamReport.update({ExamReport.lock_until: now() - timedelta(seconds=1)}).where(
        ExamReport.id == row["id"]
    )
    await Timer.update({Timer.due_at: now() - timedelta(seconds=1)}).where(Timer.id == timer["id"])
    run_flow(SWEEP)
    row = await report_row(exam_id)
    assert row["lock_user"] is None and row["lock_until"] is None
    [step] = await CaseHistory.select().where(
        CaseHistory.case_type == "exam_report",
        CaseHistory.case_id == row["id"],
        CaseHistory.event == "lock_expired",
    )
    assert step["actor_name"] == "system"
    [audit] = await AuditLog.select().where(
        AuditLog.action == "exam_report.lock_expired", AuditLog.target_id == str(row["id"])
    )
    assert (audit["ip"], audit["user_agent"], audit["hospital_id"]) == (
        "prefect",
        "sweep_timers",
        h.id,
    )
    assert flow_runs(f"report-lock-expiry-exam_report-{row['id']}")[-1]["state_type"] == "COMPLETED"
    assert (await h.reviewer.post(url(exam_id, "/lock"))).status_code == 200
