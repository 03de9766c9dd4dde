"""The report page lists the patient's prior examinations to compare with — only those
the reader may see: all of them at the patient's hospital, the shared ones elsewhere."""

from __future__ import annotations

import re

import pytest

from store.tables import DiagnosisRequest, Examination, Hospital
from tests.fixtures.hospitals import as_user

pytestmark = pytest.mark.integration


def listed(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'<li data-exam="(\d+)"', html)}


async def test_priors_of_the_patient_as_far_as_the_reader_sees(new_api) -> None:
    east = await Hospital.select(Hospital.id).where(Hospital.code == "EAST").first()
    exams = await Examination.select(
        Examination.id, Examination.patient_id, Examination.study.study_uid, Examination.exam_time
    ).where(Examination.hospital == east["id"], Examination.deleted_at.is_null())
    by_patient: dict[str, list[int]] = {}
    for e in exams:
        by_patient.setdefault(e["patient_id"], []).append(e["id"])
    ids = max(by_patient.values(), key=len)
    assert len(ids) >= 3, by_patient  # the demo patient has several studies
    chen = await as_user(new_api, "dr.chen")
    page = await chen.get(f"/exams/{ids[0]}/report")
    assert page.status_code == 200, page.text
    assert listed(page.text) == set(ids) - {ids[0]}
    uid = next(e["study.study_uid"] for e in exams if e["id"] == ids[0])
    assert f"StudyInstanceUIDs={uid}," in page.text  # compare: this study and a prior
    # the ones taken after an examination are marked "later": not priors of it
    time = {e["id"]: e["exam_time"] for e in exams}
    middle = sorted(ids, key=lambda i: time[i])[len(ids) // 2]
    page = await chen.get(f"/exams/{middle}/report")
    marked = {
        int(i) for i in re.findall(r'<li data-exam="(\d+)">[^\n]*data-testid="later"', page.text)
    }
    assert marked == {i for i in ids if time[i] > time[middle]}
    assert marked and marked != listed(page.text)  # some later, some earlier

    # City sees the priors its open requests share, not the rest of the patient's record
    open_requests = await DiagnosisRequest.select(DiagnosisRequest.examination).where(
        DiagnosisRequest.hospital == east["id"],
        DiagnosisRequest.state.not_in(["rejected", "cancelled"]),
    )
    shared = {r["examination"] for r in open_requests} & set(ids)
    if not shared:
        pytest.skip("another test closed the demo requests of this patient")
    li = await as_user(new_api, "dr.li")
    first = sorted(shared)[0]
    page = await li.get(f"/exams/{first}/report")
    assert page.status_code == 200, page.text
    assert listed(page.text) == shared - {first}
    hidden = next(i for i in ids if i not in shared)
    assert (await li.get(f"/exams/{hidden}/report")).status_code == 404
