"""The attached examinations of a consultation as rows of ``consultation_examination``
(SPEC 3.1, 3.3): the limit of 20 holds when many attach at once, an examination is attached
once, an attach that fails midway leaves nothing, a soft-deleted examination (SPEC 8.11)
leaves the room and its images with it until restored, and a department invited without a
named expert gives its doctors nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

import pytest

from api.consultations.exams import MAX_EXAMS
from store.db import engine
from store.tables import CaseHistory, ConsultationExamination, Examination, Study
from tests.conftest import TEST_DB
from tests.fixtures.children import python_child
from tests.fixtures.consultations import create, version
from tests.fixtures.exams import make_exam
from tests.fixtures.hospitals import as_user, department, hospital_id, user_id

pytestmark = pytest.mark.integration
JSON = {"Accept": "application/dicom+json"}


async def _rows(cid: int) -> list[int]:
    rows = (
        await ConsultationExamination.select(ConsultationExamination.examination)
        .where(ConsultationExamination.consultation == cid)
        .order_by(ConsultationExamination.id)
    )
    return [int(r["examination"]) for r in rows]


async def _steps(cid: int, event: str) -> int:
    return await CaseHistory.count().where(
        CaseHistory.case_type == "consultation",
        CaseHistory.case_id == cid,
        CaseHistory.event == event,
    )


async def _study_uid(exam_id: int) -> str:
    row = await Examination.select(Examination.study.study_uid).where(Examination.id == exam_id)
    return str(row[0]["study.study_uid"])


async def _reads(client: Any, exam_id: int) -> tuple[int, int, int]:
    """What ``client`` gets for the examination, its report and its study's QIDO row."""
    exam = await client.get(f"/api/exams/{exam_id}")
    report = await client.get(f"/api/exams/{exam_id}/report")
    qido = await client.get(
        "/dicomweb/studies", params={"StudyInstanceUID": await _study_uid(exam_id)}
    )
    found = len(qido.json()) if qido.status_code == 200 and qido.content else 0
    return exam.status_code, report.status_code, found


async def _case(new_api: Any, uniq: Any, **extra: Any) -> tuple[Any, int]:
    li = await as_user(new_api, "dr.li")  # CITY, the applicant
    west = await department("WEST", "Radiology")
    made = await create(
        li,
        [{"department_id": west, "expert_id": await user_id("dr.liu")}],
        uniq("limits "),
        **extra,
    )
    return li, int(made["id"])


async def test_the_limit_holds_when_many_attach_at_once(new_api, uniq) -> None:
    """Thirty concurrent requests, one examination each, from three browsers: twenty are
    attached, ten refused with the limit; the table and the timeline agree."""
    li, cid = await _case(new_api, uniq)
    city = await hospital_id("CITY")
    exams = [await make_exam(city) for _ in range(MAX_EXAMS + 10)]
    browsers = [li, await as_user(new_api, "dr.li"), await as_user(new_api, "dr.li")]
    url = f"/api/consultations/{cid}/examinations"
    answers = await asyncio.gather(
        *[
            browsers[n % 3].post(url, json={"examination_ids": [exam]})
            for n, exam in enumerate(exams)
        ]
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * MAX_EXAMS + [400] * 10, [a.text for a in answers if a.is_error]
    refusal = next(a for a in answers if a.status_code == 400).json()["detail"]
    assert refusal == f"At most {MAX_EXAMS} examinations can be attached to one consultation."
    kept = await _rows(cid)
    assert len(kept) == MAX_EXAMS and set(kept) == {
        exam for exam, a in zip(exams, answers, strict=True) if a.status_code == 200
    }
    assert await _steps(cid, "exam_attach") == MAX_EXAMS
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert [e["id"] for e in room["examinations"]] == kept  # in the order attached
    # a refused one alone is refused again, and in Chinese
    refused = next(e for e, a in zip(exams, answers, strict=True) if a.status_code == 400)
    res = await li.post(url, json={"examination_ids": [refused]}, headers={"Accept-Language": "zh"})
    assert res.status_code == 400 and "20" in res.json()["detail"]
    assert res.json()["detail"] != refusal
    assert len(await _rows(cid)) == MAX_EXAMS


async def test_a_double_attach_is_one_row_and_answered(new_api, uniq) -> None:
    city = await hospital_id("CITY")
    first, second = await make_exam(city), await make_exam(city)
    li, cid = await _case(new_api, uniq, examination_ids=[first])
    url = f"/api/consultations/{cid}/examinations"
    answers = await asyncio.gather(
        *[li.post(url, json={"examination_ids": [second]}) for _ in range(6)]
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5
    said = {a.json()["detail"] for a in answers if a.status_code == 409}
    assert said == {f"Examination {second} is attached to this consultation already."}
    assert await _rows(cid) == [first, second]
    assert await _steps(cid, "exam_attach") == 2
    # one already there among new ones: refused whole, nothing added
    third = await make_exam(city)
    res = await li.post(url, json={"examination_ids": [third, first]})
    assert res.status_code == 409 and str(first) in res.json()["detail"]
    assert await _rows(cid) == [first, second]
    # the same one twice in one request is once
    res = await li.post(url, json={"examination_ids": [third, third]})
    assert res.status_code == 200 and [e["id"] for e in res.json()] == [first, second, third]
    # detached, it may be attached again, at the end
    assert (await li.delete(f"{url}/{first}")).status_code == 200
    assert (await li.delete(f"{url}/{first}")).status_code == 404
    res = await li.post(url, json={"examination_ids": [first]})
    assert res.status_code == 200 and [e["id"] for e in res.json()] == [second, third, first]
    assert (await _steps(cid, "exam_attach"), await _steps(cid, "exam_detach")) == (4, 1)


FAIL_ON = {
    "sqlite": [
        """CREATE TRIGGER test_fail_attach BEFORE INSERT ON case_history
        WHEN NEW.event = 'exam_attach' AND json_extract(NEW.summary, '$.examination_id') = {exam}
        BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"""
    ],
    "postgres": [
        """CREATE FUNCTION test_fail_attach() RETURNS trigger AS $$
        BEGIN
          IF NEW.event = 'exam_attach' AND (NEW.summary->>'examination_id')::int = {exam} THEN
            RAISE EXCEPTION 'disk on fire';
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER test_fail_attach BEFORE INSERT ON case_history
        FOR EACH ROW EXECUTE FUNCTION test_fail_attach()""",
    ],
}
UNFAIL = {
    "sqlite": ["DROP TRIGGER IF EXISTS test_fail_attach"],
    "postgres": [
        "DROP TRIGGER IF EXISTS test_fail_attach ON case_history",
        "DROP FUNCTION IF EXISTS test_fail_attach()",
    ],
}


async def test_an_attach_that_fails_midway_leaves_neither_row_nor_step(new_api, uniq) -> None:
    """Two examinations in one request; the database refuses the second one's timeline step
    (a trigger of this test): the first one's row and step, written before, are gone too."""
    city = await hospital_id("CITY")
    fine, doomed = await make_exam(city), await make_exam(city)
    li, cid = await _case(new_api, uniq)
    kind = "postgres" if TEST_DB == "postgres" else "sqlite"
    for sql in FAIL_ON[kind]:
        await engine().run_ddl(sql.replace("{exam}", str(doomed)))
    try:
        res = await li.post(
            f"/api/consultations/{cid}/examinations", json={"examination_ids": [fine, doomed]}
        )
    finally:
        for sql in UNFAIL[kind]:
            await engine().run_ddl(sql)
    assert res.status_code == 500, res.text
    assert await _rows(cid) == []
    assert await _steps(cid, "exam_attach") == 0
    res = await li.post(f"/api/consultations/{cid}/examinations", json={"examination_ids": [fine]})
    assert res.status_code == 200 and await _rows(cid) == [fine]


ATTACH_AND_HANG = """
import asyncio, sys
from api.consultations import exams
from store.db import start_pool
from store.uow import Ctx, actor_for, unit_of_work

async def main():
    await start_pool()
    cid, first, second = map(int, sys.argv[1:4])
    actor = await actor_for("dr.li")
    async with unit_of_work(Ctx(actor=actor)) as uow:
        await exams.add(uow, cid, "reviewing", [first], actor.user_id)
        print("midway", flush=True)
        await asyncio.sleep(120)  # killed here, between the two examinations
        await exams.add(uow, cid, "reviewing", [second], actor.user_id)

asyncio.run(main())
"""


async def test_a_process_killed_midway_through_an_attach_leaves_nothing(new_api, uniq) -> None:
    """SIGKILL a process that has written the first examination's row and step of a
    two-examination attach and not committed: neither is there afterwards, and the next
    attach (through the app) goes through."""
    city = await hospital_id("CITY")
    first, second = await make_exam(city), await make_exam(city)
    li, cid = await _case(new_api, uniq)
    proc = await python_child(ATTACH_AND_HANG, cid, first, second)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"midway", line + await proc.stdout.read()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert await _rows(cid) == []
    assert await _steps(cid, "exam_attach") == 0
    res = await li.post(
        f"/api/consultations/{cid}/examinations", json={"examination_ids": [first, second]}
    )
    assert res.status_code == 200, res.text
    assert await _rows(cid) == [first, second]


async def _delete_or_restore(admin: Any, exam_id: int, action: str) -> None:
    exam = await Examination.select(Examination.study).where(Examination.id == exam_id)
    study = await Study.select(Study.id, Study.version).where(Study.id == exam[0]["study"])
    res = await admin.post(
        f"/api/archive/studies/{study[0]['id']}/{action}",
        json={"version": study[0]["version"], "reason": "sent to the wrong patient's folder"},
    )
    assert res.status_code == 200, res.text


async def test_a_deleted_examination_leaves_the_room_and_comes_back_restored(new_api, uniq) -> None:
    city = await hospital_id("CITY")
    kept, gone = await make_exam(city), await make_exam(city)
    li, cid = await _case(new_api, uniq, examination_ids=[kept, gone])
    liu = await as_user(new_api, "dr.liu")  # WEST, the invited expert
    assert await _reads(liu, gone) == (200, 200, 1)
    admin = await as_user(new_api, "admin.city")
    await _delete_or_restore(admin, gone, "delete")
    for reader in (li, liu):
        room = (await reader.get(f"/api/consultations/{cid}")).json()
        assert [e["id"] for e in room["examinations"]] == [kept]
    assert await _reads(liu, gone) == (404, 404, 0)
    assert await _reads(liu, kept) == (200, 200, 1)
    # nor can it be attached again, nor detached, while deleted
    url = f"/api/consultations/{cid}/examinations"
    assert (await li.post(url, json={"examination_ids": [gone]})).status_code == 404
    assert (await li.delete(f"{url}/{gone}")).status_code == 404
    await _delete_or_restore(admin, gone, "restore")
    room = (await liu.get(f"/api/consultations/{cid}")).json()
    assert [e["id"] for e in room["examinations"]] == [kept, gone]
    assert await _reads(liu, gone) == (200, 200, 1)


async def test_a_department_invited_without_an_expert_gives_its_doctors_nothing(
    new_api, uniq
) -> None:
    """SPEC 3.2: the reviewers of an invited department see the case to decide; the attached
    examinations are read by its named expert or by a reviewer who joins, nobody else."""
    city = await hospital_id("CITY")
    exam = await make_exam(city)
    li = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    made = await create(li, [{"department_id": west}], uniq("no expert "), examination_ids=[exam])
    cid = made["id"]
    liu = await as_user(new_api, "dr.liu")  # WEST, a reviewer of the department
    zhao = await as_user(new_api, "dr.zhao")  # WEST, a clinician
    room = await liu.get(f"/api/consultations/{cid}")
    assert room.status_code == 200  # he sees the case to decide...
    assert [(e["id"], e["readable"]) for e in room.json()["examinations"]] == [(exam, False)]
    assert await _reads(liu, exam) == (404, 404, 0)  # ...not the images
    assert await _reads(zhao, exam) == (404, 404, 0)
    # he names himself the department's expert: now he reads them, the clinician still not
    res = await liu.post(
        f"/api/consultations/{cid}/expert",
        json={
            "department_id": west,
            "user_id": await user_id("dr.liu"),
            "version": await version(cid),
        },
    )
    assert res.status_code == 200, res.text
    assert await _reads(liu, exam) == (200, 200, 1)
    assert await _reads(zhao, exam) == (404, 404, 0)
