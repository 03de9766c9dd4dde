"""Canary patients of hospital A (the demo's City hospital), made the way the platform makes
them, whose names, IDs and UIDs must never reach anybody who may not see them.

- **P1** (private): a synthetic CT study ingested into City (a migration run with its items
  and its billed migration-log rows), its examination with a submitted report, an exam share
  from dr.wang to dr.li, and an archive retrieval of the study. Only City's own people may
  see P1.
- **P2** (shared for remote diagnosis): a second CT study of City, sent by dr.wang to West
  with an open diagnosis request. SPEC 2.2: West (the diagnosing hospital) sees exactly this
  examination and its images.
- **P3** (consultation): a consultation of dr.wang with P3 as its patient, West Radiology
  invited with dr.liu as its expert, and an uploaded file naming P3. SPEC 3.1-3.3: the
  invited expert reads it; SPEC 8.10: West's admin lists it in the consultation log of the
  consultations his hospital takes part in.

Every marker is unique to the run (a random suffix), so a hit is never a coincidence.
The synthetic images come from ``imaging.synth`` with the patient attributes overwritten.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydicom import dcmread

from api.ingest.steps import create_run, ingest_file
from flows.migration import bill
from imaging.synth import Sizes, synth
from store import tables as t
from store.examinations import examination_from_study
from store.uow import Ctx, now
from tests.conftest import Api

DEMO_PASSWORD = "Demo@2026"
# The accounts of the other hospitals, the alliance admin, and nobody logged in.
OUTSIDERS = (
    "dr.chen",
    "admin.east",
    "dr.liu",
    "dr.zhao",
    "admin.west",
    "alliance.admin",
    "anonymous",
)
# City's own people: those who may read the canaries (build 8's authorised readers).
INSIDERS = ("dr.wang", "dr.li", "admin.city")


async def login(app_url: str, username: str) -> Api:
    client = Api(app_url)
    if username != "anonymous":
        await client.csrf()
        await client.login(
            username, DEMO_PASSWORD, admin=username.startswith(("admin.", "alliance."))
        )
    else:
        await client.csrf()  # the CSRF cookie, so writes reach the app's own answer
    return client


@dataclass
class Patient:
    key: str  # P1 | P2 | P3
    name: str  # DICOM PN
    patient_id: str
    accession: str
    study_uid: str = ""
    series_uid: str = ""
    sop_uid: str = ""
    study_id: int = 0
    exam_id: int = 0

    def markers(self) -> list[str]:
        """Strings that name this patient in any answer (compared case-insensitively)."""
        found = [self.name.split("^")[0], self.patient_id, self.accession]
        return [m for m in (*found, self.study_uid, self.series_uid, self.sop_uid) if m]

    def uids(self) -> set[str]:
        return {u for u in (self.study_uid, self.series_uid, self.sop_uid) if u}


@dataclass
class Canary:
    city: int
    east: int
    west: int
    p1: Patient
    p2: Patient
    p3: Patient
    run_id: int = 0
    report_id: int = 0
    request_id: int = 0
    share_id: int = 0
    consultation_id: int = 0
    attachment_id: int = 0
    retrieval_id: int = 0
    # City's ward round, course, recording and QC task/case, about P1 (issues 16 and 17)
    ward_round_id: int = 0
    course_id: int = 0
    recording_id: int = 0
    task_id: int = 0
    case_id: int = 0
    users: dict[str, int] = field(default_factory=dict)
    # City's administrative rows, by path parameter
    ids: dict[str, int] = field(default_factory=dict)

    def patients(self) -> list[Patient]:
        return [self.p1, self.p2, self.p3]


def _patient(key: str) -> Patient:
    tag = uuid.uuid4().hex[:8].upper()
    return Patient(key, f"Kanari{key}{tag}^Zorvyn", f"CNY{key}{tag}", f"ACN{key}{tag}")


def _write_study(folder: Path, patient: Patient) -> list[Path]:
    """A small synthetic CT study (fresh UIDs) renamed to ``patient``."""
    paths = [p for p in synth(folder, patients=1, sizes=Sizes.small()) if "_CT" in str(p)]
    for path in paths:
        ds = dcmread(path)
        ds.PatientName = patient.name
        ds.PatientID = patient.patient_id
        ds.AccessionNumber = patient.accession
        ds.save_as(path)
    ds = dcmread(paths[0], stop_before_pixels=True)
    patient.study_uid = str(ds.StudyInstanceUID)
    patient.series_uid = str(ds.SeriesInstanceUID)
    patient.sop_uid = str(ds.SOPInstanceUID)
    return paths


async def _hospital(code: str) -> int:
    row = await t.Hospital.select(t.Hospital.id).where(t.Hospital.code == code).first()
    assert row is not None
    return int(row["id"])


async def _first(table: Any, hospital_id: int) -> int:
    row = await table.select(table.id).where(table.hospital == hospital_id).first()
    assert row is not None, f"no {table.__name__} of hospital {hospital_id}"
    return int(row["id"])


async def build(app_url: str) -> Canary:
    """Make the canaries (once a test session) and return what names them."""
    canary = Canary(
        await _hospital("CITY"),
        await _hospital("EAST"),
        await _hospital("WEST"),
        _patient("P1"),
        _patient("P2"),
        _patient("P3"),
    )
    for row in await t.User.select(t.User.id, t.User.username):
        canary.users[row["username"]] = int(row["id"])
    folder = Path(tempfile.mkdtemp(prefix="aimis-canary-"))
    run_id = await create_run(Ctx(), canary.city, "import", "security canary")
    canary.run_id = run_id
    for patient in (canary.p1, canary.p2):
        for path in _write_study(folder / patient.key, patient):
            result = await ingest_file(run_id, path, file_name=path.name)
            assert result.ok, result
        study = (
            await t.Study.select(t.Study.id).where(t.Study.study_uid == patient.study_uid).first()
        )
        assert study is not None
        patient.study_id = int(study["id"])
        patient.exam_id = await examination_from_study(patient.study_id)
    assert await bill(run_id) == 2  # the migration log names the studies' accessions

    wang = await login(app_url, "dr.wang")
    li = await login(app_url, "dr.li")
    city_admin = await login(app_url, "admin.city")
    try:
        await _report(canary, li)
        await _share(canary, wang)
        await _request(canary, wang)
        await _consultation(canary, wang)
        await _administrative(canary, city_admin)
    finally:
        for client in (wang, li, city_admin):
            await client.aclose()
    at = now()
    made = await t.ArchiveRetrieval.insert(
        t.ArchiveRetrieval(
            hospital=canary.city,
            study=canary.p1.study_id,
            state="failed",
            requested_by=canary.users["admin.city"],
            reason="security canary",
            error="",
            created_at=at,
            updated_at=at,
        )
    ).returning(t.ArchiveRetrieval.id)
    canary.retrieval_id = int(made[0]["id"])
    await _processes(canary)
    return canary


async def _one(table: Any, **values: Any) -> int:
    made = await table.insert(table(**values)).returning(table.id)
    return int(made[0]["id"])


async def _processes(canary: Canary) -> None:
    """City's rows of the newer processes, written as their services leave them: a ward
    round about P1 with dr.li as its expert, a published course of dr.wang's for City's
    radiology with a ready recording, and a QC task whose case is P1's examination."""
    city, p1, at = canary.city, canary.p1, now()
    wang, li = canary.users["dr.wang"], canary.users["dr.li"]
    canary.ward_round_id = await _one(
        t.WardRound,
        hospital=city,
        applicant=wang,
        topic=f"Ward round {p1.patient_id}",
        scheduled_at=at + timedelta(days=2),
        patient_name=p1.name.split("^")[0],
        patient_his_number=p1.patient_id,
        created_at=at,
    )
    await _one(t.WardRoundExpert, ward_round=canary.ward_round_id, expert=li)
    await _one(
        t.WardRoundExamination,
        ward_round=canary.ward_round_id,
        examination=p1.exam_id,
        added_by=wang,
        added_at=at,
    )
    canary.course_id = await _one(
        t.Course,
        hospital=city,
        lecturer=wang,
        topic="Security canary course",
        starts_at=at - timedelta(hours=1),
        ends_at=at + timedelta(hours=1),
        state="published",
        created_at=at,
    )
    radiology = await _first(t.Department, city)
    await _one(t.CourseRange, course=canary.course_id, department=radiology)
    canary.recording_id = await _one(
        t.Recording,
        hospital=city,
        owner_kind="course",
        owner_id=canary.course_id,
        uploader=wang,
        filename="canary.mp4",
        declared_size=0,
        status="uploading",
        created_at=at,
    )
    canary.task_id = await _one(
        t.QcTask,
        hospital=city,
        name="Security canary QC",
        state="evaluating",
        sample_size=1,
        targets='["images"]',
        evaluators=f"[{li}]",
        arbitrator=wang,
        sampled=1,
        created_by=wang,
        created_at=at,
        updated_at=at,
    )
    canary.case_id = await _one(
        t.QcCase,
        hospital=city,
        task=canary.task_id,
        examination=p1.exam_id,
        position=0,
        evaluator=li,
        exam_time=at,
    )


async def _report(canary: Canary, li: Api) -> None:
    """dr.li writes P1's report and submits it (the initial diagnosis waits for review)."""
    exam = canary.p1.exam_id
    assert (await li.post(f"/api/exams/{exam}/report/lock")).status_code == 200
    text = {"title": "Chest CT", "findings": "Nodule.", "impression": f"{canary.p1.patient_id}"}
    res = await li.put(f"/api/exams/{exam}/report", json={"version": 0, **text})
    assert res.status_code == 200, res.text
    res = await li.post(f"/api/exams/{exam}/report/submit", json={"version": res.json()["version"]})
    assert res.status_code == 200, res.text
    row = await t.ExamReport.select(t.ExamReport.id).where(t.ExamReport.examination == exam).first()
    canary.report_id = int(row["id"])


async def _share(canary: Canary, wang: Api) -> None:
    res = await wang.post(
        f"/api/exams/{canary.p1.exam_id}/shares",
        json={"to_user_id": canary.users["dr.li"], "message": "please look"},
    )
    assert res.status_code == 201, res.text
    canary.share_id = int(res.json()["id"])


async def _request(canary: Canary, wang: Api) -> None:
    res = await wang.post(
        "/api/diagnosis-requests",
        json={
            "examination_id": canary.p2.exam_id,
            "target_hospital_id": canary.west,
            "clinical_info": f"Patient {canary.p2.patient_id}: please report.",
        },
    )
    assert res.status_code == 201, res.text
    canary.request_id = int(res.json()["id"])


async def _consultation(canary: Canary, wang: Api) -> None:
    radiology = (
        await t.Department.select(t.Department.id)
        .where(t.Department.hospital == canary.west, t.Department.name.like("Radiology%"))
        .first()
    )
    p3 = canary.p3
    res = await wang.post(
        "/api/consultations",
        json={
            "topic": f"Consultation {p3.patient_id}",
            "scheduled_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            "clinical_summary": f"{p3.name.split('^')[0]}: nodule growing.",
            "patient": {"name": p3.name.split("^")[0], "his_number": p3.patient_id},
            "invites": [
                {
                    "department_id": radiology["id"],
                    "mandatory": True,
                    "expert_id": canary.users["dr.liu"],
                }
            ],
        },
    )
    assert res.status_code == 201, res.text
    canary.consultation_id = int(res.json()["id"])
    pdf = b"%PDF-1.4\n% " + p3.patient_id.encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    res = await wang.post(
        f"/api/consultations/{canary.consultation_id}/attachments",
        files={"file": ("summary.pdf", pdf, "application/pdf")},
    )
    assert res.status_code == 201, res.text
    canary.attachment_id = int(res.json()["id"])


async def _administrative(canary: Canary, city_admin: Api) -> None:
    """City's administrative rows the matrix names in paths (made when the demo has none)."""
    city = canary.city
    res = await city_admin.post(
        "/api/tokens", json={"user_id": canary.users["dr.li"], "name": "canary viewer"}
    )
    assert res.status_code == 201, res.text
    canary.ids["token_id"] = int(res.json()["info"]["id"])
    if not await t.DicomNode.exists().where(t.DicomNode.hospital == city):
        await t.DicomNode.insert(
            t.DicomNode(
                hospital=city, ae_title=f"CNY{uuid.uuid4().hex[:8].upper()}", created_at=now()
            )
        )
    if not await t.NotificationChannel.exists().where(t.NotificationChannel.hospital == city):
        await t.NotificationChannel.insert(
            t.NotificationChannel(hospital=city, kind="email", config="{}", created_at=now())
        )
    for name, table in (
        ("department_id", t.Department),
        ("role_id", t.Role),
        ("template_id", t.ReportTemplate),
        ("phrase_id", t.KnowledgePhrase),
        ("channel_id", t.NotificationChannel),
        ("node_id", t.DicomNode),
        ("device-types", t.DeviceType),
        ("devices", t.Device),
        ("body-parts", t.BodyPart),
        ("check-items", t.CheckItem),
    ):
        canary.ids[name] = await _first(table, city)


# --- what must not change -------------------------------------------------------------------


async def _rows(table: Any, *where: Any) -> list[dict[str, Any]]:
    rows = await table.select().where(*where).order_by(table.id)
    return [{k: str(v) for k, v in r.items()} for r in rows]


async def snapshot(canary: Canary) -> dict[str, Any]:
    """Every row of the canaries and of City's administration, as text."""
    c = canary
    studies = [c.p1.study_id, c.p2.study_id]
    exams = [c.p1.exam_id, c.p2.exam_id]
    city = c.city
    state: dict[str, Any] = {
        "examination": await _rows(t.Examination, t.Examination.id.is_in(exams)),
        "report": await _rows(t.ExamReport, t.ExamReport.examination.is_in(exams)),
        "report_versions": await _rows(
            t.ExamReportVersion, t.ExamReportVersion.report == c.report_id
        ),
        "request": await _rows(t.DiagnosisRequest, t.DiagnosisRequest.examination.is_in(exams)),
        "share": await _rows(t.ExamShare, t.ExamShare.examination.is_in(exams)),
        "study": await _rows(t.Study, t.Study.id.is_in(studies)),
        "series": await _rows(t.Series, t.Series.study.is_in(studies)),
        "instance": await _rows(t.Instance, t.Instance.study.is_in(studies)),
        "run": await _rows(t.MigrationRun, t.MigrationRun.id == c.run_id),
        "migration_log": await _rows(t.MigrationLog, t.MigrationLog.migration == c.run_id),
        "retrieval": await _rows(t.ArchiveRetrieval, t.ArchiveRetrieval.study.is_in(studies)),
        "consultation": await _rows(t.Consultation, t.Consultation.id == c.consultation_id),
        "invites": await _rows(
            t.ConsultationInvite, t.ConsultationInvite.consultation == c.consultation_id
        ),
        "participants": await _rows(
            t.ConsultationParticipant, t.ConsultationParticipant.consultation == c.consultation_id
        ),
        "attachments": await _rows(t.Attachment, t.Attachment.owner_id == c.consultation_id),
        "ward_round": await _rows(t.WardRound, t.WardRound.id == c.ward_round_id),
        "ward_round_experts": await _rows(
            t.WardRoundExpert, t.WardRoundExpert.ward_round == c.ward_round_id
        ),
        "course": await _rows(t.Course, t.Course.id == c.course_id),
        "recording": await _rows(t.Recording, t.Recording.id == c.recording_id),
        "qc_task": await _rows(t.QcTask, t.QcTask.id == c.task_id),
        "qc_case": await _rows(t.QcCase, t.QcCase.id == c.case_id),
    }
    for table in (
        t.Department,
        t.Role,
        t.DeviceType,
        t.Device,
        t.BodyPart,
        t.CheckItem,
        t.ReportTemplate,
        t.KnowledgePhrase,
        t.NotificationChannel,
        t.NotificationRule,
        t.DicomNode,
        t.ApiToken,
        t.StoragePolicy,
    ):
        state[table.__name__] = await _rows(table, table.hospital == city)
    users = await _rows(t.User, t.User.hospital == city)
    state["users"] = [{k: v for k, v in u.items() if k != "last_login_at"} for u in users]
    state["hospital"] = await _rows(t.Hospital, t.Hospital.id == city)
    return state
