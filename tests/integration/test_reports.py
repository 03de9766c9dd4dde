"""The examination report over real HTTP against the real app and database (SPEC 2.4, 2.5):
lock, autosave and versions, initial diagnosis, review, the remote case, and each refusal —
a clear 4xx with a sentence, nothing changed, an audit row."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from store.examinations import examination_from_study
from store.tables import (
    AuditLog,
    CaseHistory,
    DiagnosisRequest,
    Examination,
    ExamReport,
    ExamReportVersion,
    Outbox,
    Timer,
)
from store.uow import Ctx, now
from tests.fixtures.hospitals import ALL_MODULES, Staff
from tests.fixtures.hospitals import make_hospital as make_shared_hospital
from tests.integration.test_exams import make_study

pytestmark = pytest.mark.integration

CTX = Ctx(ip="127.0.0.1", user_agent="test")


@dataclass
class Hospital:
    id: int
    author: Any  # Radiologist: report.write, report.print
    author_id: int
    reviewer: Any  # Senior radiologist: write, review, print
    reviewer_id: int
    clinician: Any  # Clinician: no report permission
    admin: Any  # hospital admin (administrator login)
    names: dict[str, str]


async def make_hospital(new_api: Any, uniq: Any) -> Hospital:
    made = await make_shared_hospital(
        new_api,
        uniq,
        prefix="R-",
        name="Report test {code} 报告医院",
        level="leading",
        modules=ALL_MODULES,
        staff={
            "author": Staff(role="Radiologist", prefix="rp."),
            "reviewer": Staff(role="Senior radiologist", prefix="rp."),
            "clinician": Staff(role="Clinician", prefix="rp."),
            "admin": Staff(admin=True, prefix="rp."),
        },
    )
    return Hospital(
        made.id,
        made["author"].client,
        made["author"].id,
        made["reviewer"].client,
        made["reviewer"].id,
        made["clinician"].client,
        made["admin"].client,
        {key: m.display_name for key, m in made.members.items()},
    )


async def make_exam(hospital_id: int) -> int:
    return await examination_from_study(await make_study(hospital_id))


def url(exam_id: int, tail: str = "") -> str:
    return f"/api/exams/{exam_id}/report{tail}"


async def report_row(exam_id: int) -> dict[str, Any]:
    row = await ExamReport.select().where(ExamReport.examination == exam_id).first()
    assert row is not None
    return row


async def exam_status(exam_id: int) -> str:
    row = await Examination.select(Examination.status).where(Examination.id == exam_id).first()
    return str(row["status"])


async def snapshot(exam_id: int) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    row = await ExamReport.select().where(ExamReport.examination == exam_id).first()
    rid = row["id"] if row else 0
    return {
        "report": row,
        "versions": await ExamReportVersion.count().where(ExamReportVersion.report == rid),
        "history": await CaseHistory.count().where(
            CaseHistory.case_type == "exam_report", CaseHistory.case_id == rid
        ),
        "status": await exam_status(exam_id),
        "outbox": await Outbox.count().where(Outbox.idempotency_key.like(f"%-report-{rid}-%")),
    }


async def audit_head() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def refused(
    client: Any, method: str, path: str, status: int, exam_id: int, says: str = "", **kw: Any
) -> dict[str, Any]:
    """``status`` with a sentence, nothing changed, the refusal audited."""
    before = await snapshot(exam_id)
    head = await audit_head()
    res = await client.request(method, path, **kw)
    assert res.status_code == status, res.text
    body = res.json()
    assert body["detail"] and body["detail"][-1] in ".)。）", body
    assert says in body["detail"], body["detail"]
    assert await snapshot(exam_id) == before
    for _ in range(40):
        rows = await AuditLog.select().where(AuditLog.id > head)
        hits = [r for r in rows if r["detail"].startswith(f"{status}:")]
        if hits:
            assert hits[0]["outcome"] in ("denied", "failure")
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"no audit row for the refused {method} {path}")


async def save(client: Any, exam_id: int, version: int, **fields: Any) -> dict[str, Any]:
    res = await client.put(url(exam_id), json={"version": version, **fields})
    assert res.status_code == 200, res.text
    return dict(res.json())


async def current(client: Any, exam_id: int) -> dict[str, Any]:
    res = await client.get(url(exam_id))
    assert res.status_code == 200, res.text
    return dict(res.json())


async def notices(report_id: int) -> list[dict[str, Any]]:
    rows = await Outbox.select(Outbox.payload, Outbox.idempotency_key).where(
        Outbox.idempotency_key.like(f"notify-exam-report-{report_id}-%")
    )
    return [
        msgspec.json.decode(r["payload"]) for r in sorted(rows, key=lambda r: r["idempotency_key"])
    ]


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
    third = await save(
        h.author,
        exam_id,
        second["version"],
        title="胸部CT平扫",
        findings="双肺纹理清晰。\n心影不大。",
        impression="胸部CT平扫未见明显异常。",
    )
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

    fixed = await save(
        h.author,
        exam_id,
        back["version"],
        title="胸部CT平扫",
        findings="双肺纹理清晰。\n心影不大。\n纵隔未见肿大淋巴结。",
        impression="胸部CT平扫未见明显异常。",
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


# --- review rules ---------------------------------------------------------------------------


async def submitted(h: Hospital, exam_id: int, writer: Any | None = None) -> dict[str, Any]:
    writer = writer or h.author
    saved = await save(writer, exam_id, 0, title="t", findings="f", impression="未见异常。")
    res = await writer.post(url(exam_id, "/submit"), json={"version": saved["version"]})
    assert res.status_code == 200, res.text
    return await current(writer, exam_id)


async def test_review_needs_the_permission(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    seen = await submitted(h, exam_id)
    assert not seen["can_review"]
    await refused(
        h.author,
        "POST",
        url(exam_id, "/approve"),
        403,
        exam_id,
        "report.review",
        json={"version": seen["version"]},
    )
    await refused(
        h.clinician,
        "POST",
        url(exam_id, "/return"),
        403,
        exam_id,
        "report.review",
        json={"version": seen["version"], "reason": "x"},
    )
    await refused(
        h.clinician, "PUT", url(exam_id), 403, exam_id, "report.write", json={"version": 0}
    )
    await refused(
        h.reviewer,
        "POST",
        url(exam_id, "/return"),
        409,
        exam_id,
        "needs a reason",
        json={"version": seen["version"], "reason": "  "},
    )
    await refused(
        h.reviewer,
        "POST",
        url(exam_id, "/approve"),
        409,
        exam_id,
        "changed by someone else",
        json={"version": seen["version"] - 1},
    )


async def test_an_empty_impression_is_not_submitted(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    saved = await save(h.author, exam_id, 0, findings="所见", impression="")
    await refused(
        h.author,
        "POST",
        url(exam_id, "/submit"),
        409,
        exam_id,
        "impression is empty",
        json={"version": saved["version"]},
    )
    await refused(
        h.author,
        "PUT",
        url(exam_id),
        400,
        exam_id,
        "at most 200",
        json={"version": saved["version"], "title": "x" * 201},
    )
    await refused(
        h.author,
        "PUT",
        url(exam_id),
        400,
        exam_id,
        "template",
        json={"version": saved["version"], "template_id": 10**9},
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
    b = await save(
        h.author,
        exam_id,
        a["version"],
        findings="肝脏大小正常。\n胆囊结石。",
        impression="未见异常。",
        autosave=True,
    )
    c = await save(
        h.author,
        exam_id,
        b["version"],
        findings="肝脏大小正常。\n胆囊结石。",
        impression="胆囊结石。",
        autosave=True,
    )
    assert (a["revision"], b["revision"], c["revision"]) == (1, 2, 2)
    assert (await h.author.delete(url(exam_id, "/lock"))).status_code == 200
    d = await save(
        h.reviewer,
        exam_id,
        c["version"],
        findings="肝脏大小正常。\n胆囊结石。",
        impression="胆囊结石，建议随访。",
        autosave=True,
    )
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
