"""Priority (issue 14 item 9) over real HTTP against the real app and database: routine /
urgent / emergency from the DICOM at ingest, set by a doctor on the examination (audited,
version-checked), chosen for a diagnosis request (the examination's by default); the
examination list's filter and its "urgent first" section, the request lists most urgent
first, the notices that say so in both languages, and the list's compact row height.
Bad values are a 400 that changes nothing; another hospital cannot set it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from api.ingest.steps import create_run, ingest_file
from flows.notify import plan_case_notice
from imaging.synth import Sizes, synth
from notifiers.base import Channel
from notifiers.texts import case_message
from store.examinations import examination_from_study
from store.index_rows import priority_of
from store.tables import AuditLog, DiagnosisRequest, Examination, Notification, Outbox, Study
from store.uow import Ctx
from tests.fixtures.diagnosis import login, make_site, notices, sent
from tests.fixtures.exams import make_exam, make_place, request_diagnosis

pytestmark = pytest.mark.integration


async def exam(exam_id: int) -> dict[str, Any]:
    row = await Examination.select().where(Examination.id == exam_id).first()
    assert row is not None
    return row


async def set_priority(client: Any, exam_id: int, **body: Any) -> Any:
    return await client.put(f"/api/exams/{exam_id}/priority", json=body)


# --- from the DICOM ---------------------------------------------------------------------------


def test_the_dicom_priority_stat_is_an_emergency_high_urgent_else_routine() -> None:
    ds = Dataset()
    assert priority_of(ds) == 0
    ds.RequestedProcedurePriority = "HIGH"
    assert priority_of(ds) == 1
    ds.RequestedProcedurePriority = "ROUTINE"
    assert priority_of(ds) == 0
    item = Dataset()
    item.ScheduledProcedureStepPriority = "STAT"
    ds.RequestAttributesSequence = Sequence([item])
    assert priority_of(ds) == 2
    other = Dataset()
    other.ScheduledProcedureStepPriority = "LOW"
    assert priority_of(other) == 0


async def test_ingest_takes_the_highest_priority_a_file_states(tmp_path: Path, uniq) -> None:
    from tests.fixtures.hospitals import make_hospital

    made = await make_hospital(None, uniq, prefix="PRI-", name="Priority {code}", staff={})
    paths = synth(tmp_path, patients=1, sizes=Sizes.small())
    assert len(paths) >= 2
    # the second file of the study says HIGH, the others nothing: the study is urgent
    ds = pydicom.dcmread(paths[1])
    ds.RequestedProcedurePriority = "HIGH"
    ds.save_as(paths[1])
    run_id = await create_run(Ctx(), made.id, "import", "priority test")
    results = [await ingest_file(run_id, p) for p in paths]
    assert all(r.ok for r in results), [r.reason for r in results]
    study_id = results[0].study_id
    assert study_id is not None
    study = await Study.select(Study.priority).where(Study.id == study_id).first()
    assert study == {"priority": 1}
    assert (await exam(await examination_from_study(study_id)))["priority"] == 1


# --- set on the examination -------------------------------------------------------------------


async def test_a_doctor_sets_the_priority_audited_and_version_checked(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    exam_id = await make_exam(place.hospital_id)
    before = await exam(exam_id)
    assert before["priority"] == 0

    res = await set_priority(place.doctor, exam_id, priority="urgent", version=before["version"])
    assert res.status_code == 200, res.text
    assert res.json()["priority"] == "urgent"
    after = await exam(exam_id)
    assert after["priority"] == 1 and after["version"] == before["version"] + 1
    audit = await AuditLog.select().where(
        AuditLog.action == "exam.update", AuditLog.target_id == str(exam_id)
    )
    assert [a["detail"] for a in audit] == ["changed: priority"]

    # a stale version: 409, nothing changed
    stale = await set_priority(place.doctor, exam_id, priority="emergency", version=1)
    assert stale.status_code == 409, stale.text
    assert (await exam(exam_id))["priority"] == 1
    # bad values: a 400 naming the three, nothing changed
    for body in ({"priority": "stat"}, {"priority": ""}, {"priority": 2}, {}):
        bad = await set_priority(place.doctor, exam_id, **body)
        assert bad.status_code == 400, (body, bad.text)
        assert (await exam(exam_id))["version"] == after["version"]
    words = (await set_priority(place.doctor, exam_id, priority="STAT!")).json()
    assert "routine" in str(words) and "emergency" in str(words)
    # the hospital's admin may too; without a version it is applied
    res = await set_priority(place.admin, exam_id, priority="emergency")
    assert res.status_code == 200 and (await exam(exam_id))["priority"] == 2


async def test_another_hospital_cannot_set_it_even_the_diagnosing_one(new_api, uniq) -> None:
    owner, other = await make_place(new_api, uniq), await make_place(new_api, uniq)
    exam_id = await make_exam(owner.hospital_id)
    await request_diagnosis(exam_id, owner, other)  # the other hospital now sees it
    assert (await other.doctor.get(f"/api/exams/{exam_id}")).status_code == 200
    stranger = await make_place(new_api, uniq)
    for client in (other.doctor, other.admin, stranger.doctor, stranger.admin):
        res = await set_priority(client, exam_id, priority="emergency")
        assert res.status_code == 404, res.text
    row = await exam(exam_id)
    assert row["priority"] == 0 and row["version"] == 1


# --- the examination list ---------------------------------------------------------------------


async def test_the_list_filters_by_priority_and_puts_the_waiting_urgent_first(
    new_api, uniq
) -> None:
    place = await make_place(new_api, uniq)
    other = await make_place(new_api, uniq)
    newest = await make_exam(place.hospital_id, date="20260301")  # routine
    urgent = await make_exam(place.hospital_id, date="20260201")
    emergency = await make_exam(place.hospital_id, date="20260101")
    done = await make_exam(place.hospital_id, date="20260215")  # urgent, but reviewed
    oldest = await make_exam(place.hospital_id, date="20251201")  # routine
    for exam_id, level in ((urgent, "urgent"), (emergency, "emergency"), (done, "urgent")):
        assert (await set_priority(place.doctor, exam_id, priority=level)).status_code == 200
    await Examination.update({Examination.status: "reviewed"}).where(Examination.id == done)
    # another hospital's emergency is not in this list
    foreign = await make_exam(other.hospital_id, date="20260305")
    assert (await set_priority(other.doctor, foreign, priority="emergency")).status_code == 200

    page = (await place.doctor.get("/api/exams")).json()
    assert [(e["id"], e["priority"]) for e in page["urgent"]] == [
        (emergency, "emergency"),
        (urgent, "urgent"),
    ]
    assert page["urgent_more"] is False
    # the page leaves out what the section holds; the reviewed urgent one keeps its place
    assert [e["id"] for e in page["items"]] == [newest, done, oldest]

    # keyset pages: the section on the first page only, each examination exactly once
    seen, cursor, sections = [], "", []
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        res = (await place.doctor.get("/api/exams", params=params)).json()
        sections.append([e["id"] for e in res["urgent"]])
        seen += [e["id"] for e in res["items"]]
        cursor = res["next_cursor"]
        if not cursor:
            break
    assert sections[0] == [emergency, urgent] and not any(sections[1:])
    assert seen == [newest, done, oldest]

    # the filter: one priority, by time, no section
    for level, expected in (
        ("urgent", [done, urgent]),
        ("emergency", [emergency]),
        ("routine", [newest, oldest]),
    ):
        res = (await place.doctor.get("/api/exams", params={"priority": level})).json()
        assert [e["id"] for e in res["items"]] == expected, level
        assert res["urgent"] == []
        counts = (await place.doctor.get("/api/exams/counts", params={"priority": level})).json()
        assert counts["total"] == len(expected), (level, counts)
    # a status of a report done: no section, the urgent ones in their place
    reviewed = (await place.doctor.get("/api/exams", params={"status": "reviewed"})).json()
    assert reviewed["urgent"] == [] and [e["id"] for e in reviewed["items"]] == [done]
    # a status still waiting: the section of that status
    waiting = (await place.doctor.get("/api/exams", params={"status": "images_arrived"})).json()
    assert [e["id"] for e in waiting["urgent"]] == [emergency, urgent]
    for bad in ("stat", "URGENT!", "1"):
        res = await place.doctor.get("/api/exams", params={"priority": bad})
        assert res.status_code == 400 and "priority" in res.text.lower(), res.text


async def test_the_diagnosing_hospital_sees_a_shared_urgent_examination_first(
    new_api, uniq
) -> None:
    owner, target = await make_place(new_api, uniq), await make_place(new_api, uniq)
    own = await make_exam(target.hospital_id, date="20260310")
    shared = await make_exam(owner.hospital_id, date="20260101")
    assert (await set_priority(owner.doctor, shared, priority="urgent")).status_code == 200
    await request_diagnosis(shared, owner, target)
    page = (await target.doctor.get("/api/exams")).json()
    assert [(e["id"], e["shared"]) for e in page["urgent"]] == [(shared, True)]
    assert [e["id"] for e in page["items"]] == [own]


# --- remote diagnosis requests ----------------------------------------------------------------


async def test_a_request_takes_its_priority_or_the_examinations(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    client = await login(new_api, lower)
    plain, flagged, chosen = [await make_exam(lower.hospital_id) for _ in range(3)]
    await Examination.update({Examination.priority: 1}).where(Examination.id == flagged)

    assert (await sent(client, plain, leading))["priority"] == "routine"
    made = await sent(client, flagged, leading)
    assert (made["priority"], made["urgent"]) == ("urgent", True)
    picked = await sent(client, chosen, leading, priority="emergency")
    assert (picked["priority"], picked["urgent"]) == ("emergency", True)
    row = await DiagnosisRequest.select().where(DiagnosisRequest.id == picked["id"]).first()
    assert row is not None and row["priority"] == 2

    # bad values: 400, no request made
    fresh = await make_exam(lower.hospital_id)
    for body in ({"priority": "stat"}, {"priority": 1}, {"priority": "routine", "urgent": True}):
        res = await client.post(
            "/api/diagnosis-requests",
            json={"examination_id": fresh, "target_hospital_id": leading.hospital_id, **body},
        )
        assert res.status_code == 400, (body, res.text)
    assert not await DiagnosisRequest.exists().where(DiagnosisRequest.examination == fresh)
    # the older form: urgent true, no priority
    assert (await sent(client, fresh, leading, urgent=True))["priority"] == "urgent"


async def test_request_lists_most_urgent_first_with_keyset_pages(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    client = await login(new_api, lower)
    made = []
    for level in ("routine", "emergency", "urgent", "routine", "urgent", "emergency"):
        made.append(await sent(client, await make_exam(lower.hospital_id), leading, priority=level))
    ids = [m["id"] for m in made]
    expected = [ids[5], ids[1], ids[4], ids[2], ids[3], ids[0]]
    for box, who in (("incoming", await login(new_api, leading)), ("outgoing", client)):
        got, cursor = [], ""
        while True:
            params: dict[str, Any] = {
                "box": box,
                "limit": 2,
                **({"cursor": cursor} if cursor else {}),
            }
            res = (await who.get("/api/diagnosis-requests", params=params)).json()
            got += [(r["id"], r["priority"]) for r in res["items"]]
            cursor = res["next_cursor"]
            if not cursor:
                break
        assert [i for i, _ in got] == expected, box
        assert [p for _, p in got][:2] == ["emergency", "emergency"]
    bad = await client.get("/api/diagnosis-requests", params={"box": "outgoing", "cursor": "eA=="})
    assert bad.status_code == 400


async def test_an_urgent_requests_notice_says_so_in_both_languages(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    client = await login(new_api, lower)
    urgent = await sent(client, await make_exam(lower.hospital_id), leading, priority="urgent")
    emergency = await sent(
        client, await make_exam(lower.hospital_id), leading, priority="emergency"
    )
    routine = await sent(client, await make_exam(lower.hospital_id), leading)

    said = {}
    for request in (urgent, emergency, routine):
        [notice] = await notices(request["id"])
        assert notice["priority"] == request["priority"]
        assert notice["user_ids"] == sorted([leading.ids["doctor"], leading.ids["senior"]])
        said[request["priority"]] = notice
    # the texts, in each language
    for level, en, zh in (
        ("urgent", "[URGENT] Remote diagnosis #", "【加急】远程诊断"),
        ("emergency", "[EMERGENCY] Remote diagnosis #", "【紧急】远程诊断"),
    ):
        for language, words in (("en", en), ("zh", zh)):
            message = case_message(
                said[level],
                channel=Channel.wecom_app,
                address="u",
                language=language,
                base_url="https://a",
            )
            assert message.title.startswith(words), message.title
    plain = case_message(
        said["routine"], channel=Channel.wecom_app, address="u", language="en", base_url=""
    )
    assert plain.title.startswith("Remote diagnosis #") and "URGENT" not in plain.title

    # what the dispatcher records and sends: the delivery log's rows and their text
    outbox = (
        await Outbox.select(Outbox.id)
        .where(Outbox.idempotency_key.like(f"notify-diagnosis_request-{emergency['id']}-%"))
        .first()
    )
    assert outbox is not None
    planned = await plan_case_notice.fn(outbox["id"])
    logged = await Notification.select().where(Notification.outbox_id == outbox["id"])
    assert sorted(n["user_id"] for n in logged) == sorted(
        [leading.ids["doctor"], leading.ids["senior"]]
    )
    assert planned and all(
        "紧急" in p.message.title or "[EMERGENCY]" in p.message.title for p in planned
    ), [p.message.title for p in planned]
    for p in planned:
        if p.message.channel in (Channel.log, Channel.email):  # both languages below
            assert "[EMERGENCY]" in p.message.body and "【紧急】" in p.message.body


# --- compact rows -----------------------------------------------------------------------------


async def test_the_row_height_is_the_users_and_kept(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    assert (await place.doctor.get("/api/exams/columns")).json()["density"] == "normal"
    res = await place.doctor.put("/api/exams/density", json={"density": "compact"})
    assert res.status_code == 200 and res.json()["density"] == "compact", res.text
    assert (await place.doctor.get("/api/exams/columns")).json()["density"] == "compact"
    # columns saved later keep it, and it keeps the columns
    cols = await place.doctor.put("/api/exams/columns", json={"columns": ["patient_name"]})
    assert cols.json()["density"] == "compact"
    again = await place.doctor.put("/api/exams/density", json={"density": "normal"})
    assert again.json()["columns"] == ["patient_name"] and again.json()["density"] == "normal"
    # bad values: 400, unchanged
    for body in ({"density": "tiny"}, {"density": ""}, {}, {"density": "compact", "x": 1}):
        bad = await place.doctor.put("/api/exams/density", json=body)
        assert bad.status_code == 400, (body, bad.text)
    assert (await place.doctor.get("/api/exams/columns")).json()["density"] == "normal"
    # another user's is his own
    assert (await place.admin.get("/api/exams/columns")).json()["density"] == "normal"
