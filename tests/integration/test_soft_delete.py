"""A soft-deleted examination is gone for everyone but the admins' restore view (SPEC 8.11).

Over real HTTP against the real app and database: an examination with its images, a report,
a colleague's share and an open remote diagnosis request is deleted by its hospital's admin;
it is then absent from the examination list and its search, the status counts, its page (API
and UI), the report API (and the FHIR DiagnosticReport), the "shared with me" list and the
share's link (404 saying it is no longer available), the diagnosing hospital's list and
request, DICOMweb QIDO and WADO, the image viewer and the alliance admin's figures; the admins'
restore view lists it. Restoring brings every one of them back. (The DICOM network side
receives only C-ECHO and C-STORE, no C-FIND/C-MOVE/C-GET; consultations name no examination,
so none of their attachments hangs off one.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store.scoping import hospital_figures
from store.tables import ExaminationCount, Study
from store.uow import actor_for
from tests.fixtures.exams import Place, request_diagnosis, study_with_images
from tests.fixtures.hospitals import ALL_MODULES, Made, Staff, make_hospital

pytestmark = pytest.mark.integration
JSON = {"Accept": "application/dicom+json"}


async def kept_count(hospital_id: int) -> int:
    rows = await ExaminationCount.select(ExaminationCount.n).where(
        ExaminationCount.hospital == hospital_id
    )
    return sum(int(r["n"]) for r in rows)


class Case:
    """The examination and everything hanging off it, and the people who see them."""

    def __init__(self, owner: Made, target: Made, study: dict[str, Any]) -> None:
        self.owner, self.target, self.study = owner, target, study
        self.exam_id: int = study["exam_id"]
        self.author = owner["author"].client
        self.colleague = owner["colleague"].client
        self.admin = owner["admin"].client
        self.diagnoser = target["doctor"].client
        self.report_id = 0
        self.share_id = 0
        self.request_id = 0

    async def frame_url(self) -> str:
        uid = self.study["study_uid"]
        series = await self.author.get(f"/dicomweb/studies/{uid}/series", headers=JSON)
        assert series.status_code == 200, series.text
        series_uid = series.json()[0]["0020000E"]["Value"][0]
        found = await self.author.get(
            f"/dicomweb/studies/{uid}/series/{series_uid}/instances", headers=JSON
        )
        sop = found.json()[0]["00080018"]["Value"][0]
        return f"/dicomweb/studies/{uid}/series/{series_uid}/instances/{sop}/rendered"


async def make_case(new_api: Any, uniq: Any, tmp: Path) -> Case:
    owner = await make_hospital(
        new_api,
        uniq,
        prefix="SD-",
        name="Soft delete {code} 删除医院",
        level="leading",
        modules=ALL_MODULES,
        staff={
            "author": Staff(role="Senior radiologist", prefix="sd."),
            "colleague": Staff(role="Radiologist", prefix="sd."),
            "admin": Staff(admin=True, prefix="sd."),
        },
    )
    target = await make_hospital(
        new_api,
        uniq,
        prefix="SDT-",
        name="Diagnosing {code} 诊断医院",
        modules=ALL_MODULES,
        staff={"doctor": Staff(role="Radiologist", prefix="sdt.")},
    )
    case = Case(owner, target, await study_with_images(owner.id, tmp))
    exam = case.exam_id
    requester = Place(owner.id, owner.code, case.author, case.admin, owner.department_id or 0)
    diagnosing = Place(target.id, target.code, case.diagnoser, None, target.department_id or 0)
    case.request_id = await request_diagnosis(exam, requester, diagnosing)
    accepted = await case.diagnoser.post(
        f"/api/diagnosis-requests/{case.request_id}/accept", json={}
    )
    assert accepted.status_code == 200, accepted.text
    assert (await case.diagnoser.post(f"/api/exams/{exam}/report/lock")).status_code == 200
    report = {"title": "胸部CT", "findings": "双肺纹理清晰。", "impression": "未见异常"}
    saved = await case.diagnoser.put(f"/api/exams/{exam}/report", json={"version": 0, **report})
    assert saved.status_code == 200, saved.text
    case.report_id = saved.json()["report_id"]
    shared = await case.author.post(
        f"/api/exams/{exam}/shares", json={"to_user_id": owner["colleague"].id, "message": "请看"}
    )
    assert shared.status_code == 201, shared.text
    case.share_id = shared.json()["id"]
    return case


async def seen(case: Case) -> dict[str, Any]:
    """What each surface shows of the case, read over HTTP by the people who may see it."""
    exam, uid, study_id = case.exam_id, case.study["study_uid"], case.study["id"]
    listed = await case.author.get("/api/exams", params={"limit": 100})
    searched = await case.author.get("/api/exams", params={"q": case.study["patient_id"]})
    counts = (await case.author.get("/api/exams/counts")).json()
    received = (await case.colleague.get("/api/shares/received")).json()
    incoming = (await case.diagnoser.get("/api/diagnosis-requests")).json()
    shared_list = await case.diagnoser.get("/api/exams", params={"limit": 100})
    study = {"StudyInstanceUID": uid}
    qido = await case.author.get("/dicomweb/studies", params=study, headers=JSON)
    qido_shared = await case.diagnoser.get("/dicomweb/studies", params=study, headers=JSON)
    viewer = await case.author.get("/studies", params={"patient_id": case.study["patient_id"]})
    deleted = (await case.admin.get("/api/archive/deleted")).json()
    online = (await case.admin.get("/api/archive/studies", params={"q": uid})).json()
    figures = await hospital_figures(await actor_for(case.owner["admin"].id))
    return {
        "list": exam in [i["id"] for i in listed.json()["items"]],
        "search": exam in [i["id"] for i in searched.json()["items"]],
        "count": counts["total"],
        "kept": await kept_count(case.owner.id),
        "page": (await case.author.get(f"/api/exams/{exam}")).status_code,
        "ui page": (await case.author.get(f"/exams/{exam}")).status_code,
        "report": (await case.author.get(f"/api/exams/{exam}/report")).status_code,
        "report written": (await case.diagnoser.get(f"/api/exams/{exam}/report")).status_code,
        "fhir": (await case.diagnoser.get(f"/fhir/DiagnosticReport/{case.report_id}")).status_code,
        "received": case.share_id in [s["id"] for s in received["items"]],
        "unread": received["unread"],
        "share link": (await case.colleague.post(f"/api/shares/{case.share_id}/read")).status_code,
        "incoming": case.request_id in [r["id"] for r in incoming["items"]],
        "request": (
            await case.diagnoser.get(f"/api/diagnosis-requests/{case.request_id}")
        ).status_code,
        "diagnosing list": exam in [i["id"] for i in shared_list.json()["items"]],
        "qido": len(qido.json()) if qido.status_code == 200 else 0,
        "qido shared": len(qido_shared.json()) if qido_shared.status_code == 200 else 0,
        "viewer list": f'data-study-id="{study_id}"' in viewer.text,
        "viewer page": (await case.author.get(f"/studies/{study_id}/mobile")).status_code,
        "restore view": study_id in [s["id"] for s in deleted["items"]],
        "data list": study_id in [s["id"] for s in online["items"]],
        "figures": figures[case.owner.id]["examinations"],
    }


async def delete_or_restore(case: Case, action: str) -> None:
    row = await Study.select(Study.version).where(Study.id == case.study["id"]).first()
    assert row is not None
    res = await case.admin.post(
        f"/api/archive/studies/{case.study['id']}/{action}",
        json={"version": row["version"], "reason": "sent to the wrong patient's folder"},
    )
    assert res.status_code == 200, res.text


async def test_a_deleted_examination_is_gone_everywhere_and_restored_is_back(
    new_api, uniq, tmp_path: Path
) -> None:
    case = await make_case(new_api, uniq, tmp_path)
    wado = await case.frame_url()
    metadata = f"/dicomweb/studies/{case.study['study_uid']}/metadata"
    before = await seen(case)
    assert before == {
        **before,
        "list": True,
        "search": True,
        "page": 200,
        "ui page": 200,
        "report": 200,
        "report written": 200,
        "fhir": 200,
        "received": True,
        "share link": 200,
        "incoming": True,
        "request": 200,
        "diagnosing list": True,
        "qido": 1,
        "qido shared": 1,
        "viewer list": True,
        "viewer page": 200,
        "restore view": False,
        "data list": True,
    }
    assert before["count"] == before["kept"] == before["figures"] == 1
    assert (await case.author.get(wado)).status_code == 200
    assert (await case.diagnoser.get(metadata, headers=JSON)).status_code == 200

    await delete_or_restore(case, "delete")
    gone = await seen(case)
    assert gone == {
        **gone,
        "list": False,
        "search": False,
        "count": 0,
        "kept": 0,
        "page": 404,
        "ui page": 404,
        "report": 404,
        "report written": 404,
        "fhir": 404,
        "received": False,
        "unread": 0,
        "share link": 404,
        "incoming": False,
        "request": 404,
        "diagnosing list": False,
        "qido": 0,
        "qido shared": 0,
        "viewer list": False,
        "viewer page": 404,
        "restore view": True,
        "data list": False,
        "figures": 0,
    }
    link = await case.colleague.post(f"/api/shares/{case.share_id}/read")
    assert "no longer available" in link.json()["detail"], link.text
    assert (await case.colleague.get(f"/exams/shared/{case.share_id}")).status_code == 404
    assert (await case.author.get(wado)).status_code == 404
    for client in (case.author, case.diagnoser):
        assert (await client.get(metadata, headers=JSON)).status_code == 404
    edit = await case.admin.patch(f"/api/exams/{case.exam_id}", json={"patient_his_number": "H1"})
    assert edit.status_code == 404, edit.text

    await delete_or_restore(case, "restore")
    assert await seen(case) == {**before, "unread": 0}  # the share was opened before
    assert (await case.author.get(wado)).status_code == 200
    assert (await case.diagnoser.get(metadata, headers=JSON)).status_code == 200
