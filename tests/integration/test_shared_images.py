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

from store.tables import (
    Consultation,
    ConsultationExamination,
    ConsultationInvite,
    ConsultationParticipant,
    DiagnosisRequest,
    Examination,
    Study,
    User,
    WardRound,
    WardRoundExamination,
    WardRoundExpert,
)
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


async def attached_studies(username: str) -> set[str]:
    """The study UIDs of other hospitals' examinations attached to a consultation the doctor
    takes part in (SPEC 3.3; other tests attach them): as a participant, or as the expert
    named on an invitation not declined, of a consultation still going; or to a ward round
    he applied for or is an expert of (SPEC 4)."""
    user = await User.select(User.id, User.hospital).where(User.username == username).first()
    assert user is not None
    joined = await ConsultationParticipant.select(ConsultationParticipant.consultation).where(
        ConsultationParticipant.user == user["id"]
    )
    named = await ConsultationInvite.select(ConsultationInvite.consultation).where(
        ConsultationInvite.expert == user["id"], ConsultationInvite.decision != "deny"
    )
    taking_part = {r["consultation"] for r in joined + named}
    going = {
        r["id"]
        for r in await Consultation.select(Consultation.id, Consultation.state)
        if r["state"] not in ("withdrawn", "rejected", "cancelled")
    }
    # and to a ward round he applied for or is an expert of, not cancelled (SPEC 4)
    rounds = {
        r["id"]
        for r in await WardRound.select(WardRound.id).where(
            WardRound.state != "cancelled", WardRound.applicant == user["id"]
        )
    } | {
        r["ward_round"]
        for r in await WardRoundExpert.select(WardRoundExpert.ward_round).where(
            WardRoundExpert.expert == user["id"],
            WardRoundExpert.ward_round.state != "cancelled",
        )
    }
    attached = [
        r["examination"]
        for r in await ConsultationExamination.select(
            ConsultationExamination.consultation, ConsultationExamination.examination
        )
        if r["consultation"] in taking_part & going
    ] + [
        r["examination"]
        for r in await WardRoundExamination.select(
            WardRoundExamination.ward_round, WardRoundExamination.examination
        )
        if r["ward_round"] in rounds
    ]
    uids: set[str] = set()
    for examination in attached:
        exam = (
            await Examination.select(Examination.hospital, Examination.study.study_uid)
            .where(
                Examination.id == examination,
                Examination.deleted_at.is_null(),
                Examination.study.is_not_null(),
            )
            .first()
        )
        if exam is not None and exam["hospital"] != user["hospital"]:
            uids.add(exam["study.study_uid"])
    return uids


async def test_city_sees_the_images_of_open_requests_only(new_api) -> None:
    studies = await east_studies()
    assert any(s["shared"] for s in studies) and any(not s["shared"] for s in studies)
    li = await as_user(new_api, "dr.li")  # City
    chen = await as_user(new_api, "dr.chen")  # East District: its own, all of them
    liu = await as_user(new_api, "dr.liu")  # Xishan: those shared with Xishan only
    attached = await attached_studies("dr.li")
    attached_west = await attached_studies("dr.liu")
    for s in studies:
        uid = s["uid"]
        seen = s["shared"] or uid in attached
        found = await li.get("/dicomweb/studies", params={"StudyInstanceUID": uid}, headers=JSON)
        assert found.status_code == 200, found.text
        assert len(found.json()) == (1 if seen else 0), s
        meta = await li.get(f"/dicomweb/studies/{uid}/metadata", headers=JSON)
        assert meta.status_code == (200 if seen else 404), s
        mobile = await li.get(f"/studies/{s['study']}/mobile")
        assert mobile.status_code == (200 if seen else 404), s
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
        assert other.status_code == (
            200 if s["west"] or west_copy or uid in attached_west else 404
        ), s
    # a search without a UID lists City's own studies, the shared ones and those attached to
    # a consultation dr.li takes part in, nothing else
    listed = await li.get("/dicomweb/studies", params={"limit": "1000"}, headers=JSON)
    uids = {i["0020000D"]["Value"][0] for i in listed.json()}
    assert {s["uid"] for s in studies if s["shared"]} <= uids
    assert not {s["uid"] for s in studies if not s["shared"] and s["uid"] not in attached} & uids
    own = {
        r["study_uid"]
        for r in await Study.select(Study.study_uid).where(
            Study.hospital == await hospital("CITY"), Study.deleted_at.is_null()
        )
    }
    # and the studies other hospitals (not only East, other tests add some) share with City
    # by an open remote diagnosis request
    shared_any = {
        r["study.study_uid"]
        for r in await Examination.select(Examination.study.study_uid).where(
            Examination.shared_with == await hospital("CITY"),
            Examination.study.is_not_null(),
            Examination.deleted_at.is_null(),
        )
    }
    assert uids == own | {s["uid"] for s in studies if s["shared"]} | shared_any | attached


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
