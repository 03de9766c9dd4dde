"""Cloud examinations of a consultation (SPEC 3.1, 3.3): found by the patient's ID number or
HIS number among what the applicant may see, attached in the apply form and later, and read
by the invited expert of another hospital — exactly the attached ones, nothing else of the
patient."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

import pytest
from pydicom import dcmread

from api.ingest.steps import create_run, ingest_file
from flows.migration import migrate_inline
from imaging.synth import Sizes, synth
from store.tables import Examination, Study
from store.uow import Ctx
from tests.fixtures.consultations import create, decide, future
from tests.fixtures.exams import make_exam
from tests.fixtures.hospitals import as_user, department, hospital_id, user_id

pytestmark = pytest.mark.integration
JSON = {"Accept": "application/dicom+json"}


async def _patient_exams(id_number: str, his: str) -> list[int]:
    """Three examinations of one patient at CITY (ID number, HIS number on the last two)."""
    city = await hospital_id("CITY")
    exams = [await make_exam(city, name="WANG^FANG=王芳") for _ in range(3)]
    await Examination.update({Examination.patient_id_number: id_number}).where(
        Examination.id.is_in(exams)
    )
    await Examination.update({Examination.patient_his_number: his}).where(
        Examination.id.is_in(exams[1:])
    )
    return exams


async def _study_uid(exam_id: int) -> str:
    row = await Examination.select(Examination.study).where(Examination.id == exam_id).first()
    study = await Study.select(Study.study_uid).where(Study.id == row["study"]).first()
    return str(study["study_uid"])


async def _sees(client, exam_id: int) -> tuple[int, int, int]:
    """What ``client`` gets for the examination, its report and its study's QIDO row."""
    exam = await client.get(f"/api/exams/{exam_id}")
    report = await client.get(f"/api/exams/{exam_id}/report")
    qido = await client.get(
        "/dicomweb/studies", params={"StudyInstanceUID": await _study_uid(exam_id)}
    )
    assert qido.status_code in (200, 204), qido.text
    found = len(qido.json()) if qido.status_code == 200 and qido.content else 0
    return exam.status_code, report.status_code, found


async def test_search_attach_and_the_expert_reads_exactly_the_attached(new_api, uniq) -> None:
    id_number = ("11010519" + uuid.uuid4().hex[:10]).upper()[:18]
    his = uniq("HIS-")
    first, second, third = await _patient_exams(id_number, his)
    li = await as_user(new_api, "dr.li")  # CITY, the applicant
    found = await li.get("/api/consultations/examinations", params={"id_number": id_number.lower()})
    assert found.status_code == 200, found.text
    assert sorted(e["id"] for e in found.json()) == sorted([first, second, third])
    by_his = await li.get("/api/consultations/examinations", params={"his_number": his})
    assert sorted(e["id"] for e in by_his.json()) == sorted([second, third])
    row = next(e for e in by_his.json() if e["id"] == second)
    assert row["readable"] and row["viewer_url"].startswith("/viewer/viewer?StudyInstanceUIDs=")
    assert row["report_url"] == f"/exams/{second}/report" and not row["attached"]
    empty = await li.get("/api/consultations/examinations")
    assert empty.status_code == 400 and "ID number or HIS number" in empty.json()["detail"]

    west = await department("WEST", "Radiology")
    liu_id = await user_id("dr.liu")  # WEST: the invited expert (and its reviewer)
    made = await create(
        li,
        [{"department_id": west, "mandatory": True, "expert_id": liu_id}],
        uniq("exams "),
        examination_ids=[first, second],
    )
    cid = made["id"]
    assert [e["id"] for e in made["examinations"]] == [first, second]
    assert all(e["readable"] for e in made["examinations"])

    liu = await as_user(new_api, "dr.liu")
    room = (await liu.get(f"/api/consultations/{cid}")).json()
    assert [(e["id"], e["readable"]) for e in room["examinations"]] == [
        (first, True),
        (second, True),
    ]
    assert await _sees(liu, first) == (200, 200, 1)
    assert await _sees(liu, second) == (200, 200, 1)
    # the same patient's examination that is not attached stays closed to him
    assert await _sees(liu, third) == (404, 404, 0)
    searched = await liu.get("/api/consultations/examinations", params={"id_number": id_number})
    assert sorted(e["id"] for e in searched.json()) == sorted([first, second])

    # somebody of the same hospital who takes no part sees none of them
    zhao = await as_user(new_api, "dr.zhao")
    assert await _sees(zhao, first) == (404, 404, 0)

    # attached later and detached: the grant follows
    res = await li.post(f"/api/consultations/{cid}/examinations", json={"examination_ids": [third]})
    assert res.status_code == 200, res.text
    assert [e["id"] for e in res.json()] == [first, second, third]
    assert (await _sees(liu, third))[0] == 200
    res = await li.delete(f"/api/consultations/{cid}/examinations/{first}")
    assert res.status_code == 200 and [e["id"] for e in res.json()] == [second, third]
    assert await _sees(liu, first) == (404, 404, 0)
    timeline = (await li.get(f"/api/consultations/{cid}/timeline")).json()
    assert [t["event"] for t in timeline].count("exam_attach") == 3
    assert [t["event"] for t in timeline].count("exam_detach") == 1

    # the expert may not attach what he does not see, nor anybody who only reviews
    chen = await as_user(new_api, "dr.chen")
    res = await chen.post(
        f"/api/consultations/{cid}/examinations", json={"examination_ids": [first]}
    )
    assert res.status_code == 404

    # a department that declines takes its expert's reading with it
    await decide(liu, cid, west, "deny", reason="no")
    assert await _sees(liu, second) == (404, 404, 0)


async def test_attaching_an_examination_of_another_hospital_is_refused(new_api, uniq) -> None:
    east_exam = await make_exam(await hospital_id("EAST"))
    li = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    res = await li.post(
        "/api/consultations",
        json={
            "topic": uniq("foreign "),
            "scheduled_at": future(),
            "invites": [{"department_id": west}],
            "examination_ids": [east_exam],
        },
    )
    assert res.status_code == 404, res.text


async def test_the_expert_reads_the_attached_images_through_dicomweb(new_api, uniq) -> None:
    """Real files (imaging/synth.py: a CT and two more studies of one patient) at City: the
    invited expert of Xishan reads the attached CT's metadata and a rendered frame, not the
    patient's other studies."""
    city = await hospital_id("CITY")
    folder = Path(tempfile.mkdtemp(prefix="aimis-consult-exams-"))
    paths = await asyncio.to_thread(synth, folder, patients=1, sizes=Sizes.small())
    run_id = await create_run(Ctx(), city, "import", "consultation exams test")
    for path in paths:
        assert (await ingest_file(run_id, path, file_name=path.name)).ok
    await migrate_inline(run_id)
    uids = {str(dcmread(p, stop_before_pixels=True).StudyInstanceUID) for p in paths}
    exams = list(
        await Examination.select(
            Examination.id, Examination.device_type, Examination.study.study_uid
        ).where(Examination.hospital == city, Examination.study.study_uid.is_in(sorted(uids)))
    )
    assert len(exams) == 3
    id_number = ("5101" + uuid.uuid4().hex[:14]).upper()
    await Examination.update({Examination.patient_id_number: id_number}).where(
        Examination.id.is_in([e["id"] for e in exams])
    )
    ct = next(e for e in exams if e["device_type"] == "CT")
    others = [e for e in exams if e is not ct]

    li = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    await create(
        li,
        [{"department_id": west, "expert_id": await user_id("dr.liu")}],
        uniq("images "),
        examination_ids=[ct["id"]],
    )
    liu = await as_user(new_api, "dr.liu")
    uid = ct["study.study_uid"]
    meta = await liu.get(f"/dicomweb/studies/{uid}/metadata", headers=JSON)
    assert meta.status_code == 200, meta.text
    first = meta.json()[0]
    series, sop = first["0020000E"]["Value"][0], first["00080018"]["Value"][0]
    frame = await liu.get(
        f"/dicomweb/studies/{uid}/series/{series}/instances/{sop}/frames/1/rendered",
        headers={"Accept": "image/jpeg"},
    )
    assert frame.status_code == 200 and frame.content.startswith(b"\xff\xd8")
    for other in others:
        res = await liu.get(f"/dicomweb/studies/{other['study.study_uid']}/metadata", headers=JSON)
        assert res.status_code == 404, other
    zhao = await as_user(new_api, "dr.zhao")
    assert (await zhao.get(f"/dicomweb/studies/{uid}/metadata", headers=JSON)).status_code == 404
