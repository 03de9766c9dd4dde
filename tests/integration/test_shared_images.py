"""The diagnosing hospital views exactly the images shared with it (SPEC 2.2).

A study of another hospital is visible through DICOMweb (QIDO, metadata, rendered) and the
mobile viewer while a remote diagnosis request for its examination targets the viewer's
hospital and is not rejected or cancelled; otherwise it reads as not there. The demo's
requests East District → City are used as they stand (other tests may move them on):
each is checked against its state at the time of the check.
"""

from __future__ import annotations

from typing import Any

import pytest

from store.tables import DiagnosisRequest, Examination, Study
from tests.fixtures.hospitals import as_user
from tests.fixtures.hospitals import hospital_id as hospital

pytestmark = pytest.mark.integration
JSON = {"Accept": "application/dicom+json"}
CLOSED = ("rejected", "cancelled")


async def east_studies() -> list[dict[str, Any]]:
    """East District's examinations with a study: id, study uid, whether an open request
    shares it with City, and with Xishan (other tests may send East's examinations there)."""
    east, city, west = await hospital("EAST"), await hospital("CITY"), await hospital("WEST")
    exams = await Examination.select(
        Examination.id, Examination.study, Examination.study.study_uid
    ).where(Examination.hospital == east, Examination.study.is_not_null())
    out = []
    for exam in exams:
        rows = await DiagnosisRequest.select(
            DiagnosisRequest.state, DiagnosisRequest.target_hospital
        ).where(DiagnosisRequest.examination == exam["id"])
        open_to = {r["target_hospital"] for r in rows if r["state"] not in CLOSED}
        out.append(
            {
                "study": exam["study"],
                "uid": exam["study.study_uid"],
                "shared": city in open_to,
                "west": west in open_to,
            }
        )
    return out


async def test_city_sees_the_images_of_open_requests_only(new_api) -> None:
    studies = await east_studies()
    assert any(s["shared"] for s in studies) and any(not s["shared"] for s in studies)
    li = await as_user(new_api, "dr.li")  # City
    chen = await as_user(new_api, "dr.chen")  # East District: its own, all of them
    liu = await as_user(new_api, "dr.liu")  # Xishan: those shared with Xishan only
    for s in studies:
        uid = s["uid"]
        found = await li.get("/dicomweb/studies", params={"StudyInstanceUID": uid}, headers=JSON)
        assert found.status_code == 200, found.text
        assert len(found.json()) == (1 if s["shared"] else 0), s
        meta = await li.get(f"/dicomweb/studies/{uid}/metadata", headers=JSON)
        assert meta.status_code == (200 if s["shared"] else 404), s
        mobile = await li.get(f"/studies/{s['study']}/mobile")
        assert mobile.status_code == (200 if s["shared"] else 404), s
        own = await chen.get("/dicomweb/studies", params={"StudyInstanceUID": uid}, headers=JSON)
        assert len(own.json()) == 1
        other = await liu.get(f"/dicomweb/studies/{uid}/metadata", headers=JSON)
        # Xishan may hold its own copy of the same study (a study UID is not unique across
        # hospitals: other tests ingest synthetic studies of the same seed there)
        west_copy = await Study.exists().where(
            Study.study_uid == uid,
            Study.hospital == await hospital("WEST"),
            Study.deleted_at.is_null(),
        )
        assert other.status_code == (200 if s["west"] or west_copy else 404), s
    # a search without a UID lists City's own studies and the shared ones, nothing else
    listed = await li.get("/dicomweb/studies", params={"limit": "1000"}, headers=JSON)
    uids = {i["0020000D"]["Value"][0] for i in listed.json()}
    assert {s["uid"] for s in studies if s["shared"]} <= uids
    assert not {s["uid"] for s in studies if not s["shared"]} & uids
    city_own = await Study.count().where(
        Study.hospital == await hospital("CITY"), Study.deleted_at.is_null()
    )
    assert len(uids) == city_own + sum(1 for s in studies if s["shared"])


async def test_a_rendered_frame_of_a_shared_study(new_api) -> None:
    shared = [s for s in await east_studies() if s["shared"]]
    li = await as_user(new_api, "dr.li")
    uid = shared[0]["uid"]
    series = await li.get(f"/dicomweb/studies/{uid}/series", headers=JSON)
    series_uid = series.json()[0]["0020000E"]["Value"][0]
    instances = await li.get(f"/dicomweb/studies/{uid}/series/{series_uid}/instances", headers=JSON)
    sop = instances.json()[0]["00080018"]["Value"][0]
    res = await li.get(
        f"/dicomweb/studies/{uid}/series/{series_uid}/instances/{sop}/rendered",
        headers={"Accept": "image/jpeg"},
    )
    assert res.status_code == 200 and res.content[:2] == b"\xff\xd8"
