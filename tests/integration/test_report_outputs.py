"""What a report turns into (SPEC 2.4 print; issue 5 items 6, 7, 9), over real HTTP against
the real app and database: the PDF (text read back with poppler's ``pdftotext``, the logo
found by ``pdfimages``), printing, the FHIR DiagnosticReport, and the reviewed report stored
into its study as an Encapsulated PDF by the real dispatcher running the real flow, then
read back through QIDO-RS and WADO-RS."""

from __future__ import annotations

import asyncio
import io
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydicom import dcmread

from api.ingest.steps import create_run, ingest_file
from flows.migration import migrate_inline
from imaging.synth import Sizes, synth
from store.tables import (
    AuditLog,
    DiagnosisRequest,
    Examination,
    ExamReport,
    Instance,
    Outbox,
    ReportTemplate,
    Study,
)
from store.uow import Ctx, now
from tests.conftest import free_port
from tests.fixtures.exams import make_exam
from tests.fixtures.prefect import FAST_DISPATCH, DispatcherProcess, prefect_env, start_idle
from tests.fixtures.reports import (
    Hospital,
    current,
    make_hospital,
    save,
    submitted,
    url,
)
from tests.fixtures.waiting import outbox_settled
from tests.integration.test_dicomweb_wado import parts

pytestmark = pytest.mark.integration

JSON = {"Accept": "application/dicom+json"}
DICOM = {"Accept": 'multipart/related; type="application/dicom"'}


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF"), content[:20]
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(content)
        f.flush()
        done = subprocess.run(
            ["pdftotext", "-layout", f.name, "-"], capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()


def pdf_images(content: bytes) -> list[str]:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(content)
        f.flush()
        done = subprocess.run(["pdfimages", "-list", f.name], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode().splitlines()[2:]  # past the two header lines


def squeeze(text: str) -> str:
    return "".join(text.split())


async def upload_logo(h: Hospital) -> None:
    img = Image.new("RGB", (120, 60), (11, 107, 203))
    out = io.BytesIO()
    img.save(out, format="PNG")
    res = await h.admin.post(
        f"/api/manage/hospitals/{h.id}/logo", files={"logo": ("logo.png", out.getvalue())}
    )
    assert res.status_code == 200, res.text


async def add_template(h: Hospital) -> int:
    row = await ReportTemplate.insert(
        ReportTemplate(
            hospital=h.id,
            name="胸部CT模板",
            scope="hospital",
            shown_fields='["patient_name", "patient_sex", "exam_time"]',
            title_format="胸部CT检查报告单",
            header_format="姓名：{patient_name}  性别：{patient_sex}  检查时间：{exam_time}",
            footer_format="本报告仅供临床参考 This report is for clinical reference",
            created_at=now(),
        )
    ).returning(ReportTemplate.id)
    return int(row[0]["id"])


async def drafted(
    h: Hospital, exam_id: int, findings: str, impression: str, template_id: int | None = None
) -> dict[str, Any]:
    """The author saves the report of ``exam_id`` (no title) at its current version."""
    return await save(
        h.author,
        exam_id,
        (await current(h.author, exam_id))["version"],
        title="",
        findings=findings,
        impression=impression,
        **({"template_id": template_id} if template_id else {}),
    )


async def approved(h: Hospital, exam_id: int, template_id: int | None = None) -> dict[str, Any]:
    saved = await drafted(
        h, exam_id, "双肺纹理清晰，未见实质性病变。", "胸部CT平扫未见明显异常。", template_id
    )
    res = await h.author.post(url(exam_id, "/submit"), json={"version": saved["version"]})
    assert res.status_code == 200, res.text
    report = await current(h.reviewer, exam_id)
    res = await h.reviewer.post(url(exam_id, "/approve"), json={"version": report["version"]})
    assert res.status_code == 200, res.text
    return await current(h.reviewer, exam_id)


async def refused_and_audited(res: Any, status: int, says: str, mark: int) -> None:
    assert res.status_code == status, res.text
    assert says in res.json()["detail"], res.text
    for _ in range(40):
        if await AuditLog.exists().where(
            AuditLog.id > mark, AuditLog.detail.like(f"{status}:%"), AuditLog.outcome != "success"
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the refusal was not audited")


async def audit_mark() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


# --- PDF and print --------------------------------------------------------------------------


async def test_pdf_with_logo_template_and_watermark_then_print(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    other = await make_hospital(new_api, uniq)
    await upload_logo(h)
    template_id = await add_template(h)
    exam_id = await make_exam(h.id)

    mark = await audit_mark()
    res = await h.author.get(f"/api/exams/{exam_id}/report.pdf")
    await refused_and_audited(res, 404, "has no report yet", mark)

    saved = await drafted(h, exam_id, "草稿所见", "草稿印象", template_id)
    res = await h.author.get(f"/api/exams/{exam_id}/report.pdf")
    assert res.status_code == 200 and res.headers["content-type"] == "application/pdf"
    draft = squeeze(pdf_text(res.content))
    assert "初稿" in draft and "草稿所见" in draft
    mark = await audit_mark()
    res = await h.reviewer.post(f"/api/exams/{exam_id}/report/print")
    await refused_and_audited(res, 409, "Only a reviewed report is printed", mark)
    assert saved["version"] >= 1

    report = await approved(h, exam_id, template_id)
    assert report["state"] == "reviewed"
    res = await h.clinician.get(f"/api/exams/{exam_id}/report.pdf")
    assert res.status_code == 200
    text = squeeze(pdf_text(res.content))
    hospital = await h.admin.get(f"/api/manage/hospitals/{h.id}")
    for expected in (
        squeeze(hospital.json()["name"]),
        "胸部CT检查报告单",  # the template's title
        "姓名：张三ZHANGSAN",  # its header, filled
        "双肺纹理清晰，未见实质性病变。",
        "胸部CT平扫未见明显异常。",
        "本报告仅供临床参考",  # its footer
        h.names["author"].replace(" ", ""),
        h.names["reviewer"].replace(" ", ""),
        "打印时间",
    ):
        assert expected in text, (expected, text)
    assert "初稿" not in text
    images = pdf_images(res.content)
    assert len(images) >= 1 and " image " in images[0], images  # the logo

    mark = await audit_mark()
    res = await h.clinician.post(f"/api/exams/{exam_id}/report/print")
    await refused_and_audited(res, 403, "report.print", mark)
    res = await other.reviewer.post(f"/api/exams/{exam_id}/report/print")
    await refused_and_audited(res, 404, "another hospital", mark)
    assert (await other.reviewer.get(f"/api/exams/{exam_id}/report.pdf")).status_code == 404
    row = await ExamReport.select().where(ExamReport.examination == exam_id).first()
    assert (row["print_count"], row["printed_at"]) == (0, None)

    res = await h.author.post(f"/api/exams/{exam_id}/report/print")
    assert res.status_code == 200, res.text
    assert res.json() == {"pdf_url": f"/api/exams/{exam_id}/report.pdf", "print_count": 1}
    exam = await Examination.select().where(Examination.id == exam_id).first()
    first = exam["print_time"]
    assert exam["status"] == "printed" and first is not None
    res = await h.reviewer.post(f"/api/exams/{exam_id}/report/print")
    assert res.json()["print_count"] == 2
    exam = await Examination.select().where(Examination.id == exam_id).first()
    assert exam["print_time"] == first  # the first print's time stays
    row = await ExamReport.select().where(ExamReport.examination == exam_id).first()
    assert row["print_count"] == 2 and row["printed_at"] >= first
    assert (
        await AuditLog.count().where(
            AuditLog.action == "exam_report.print", AuditLog.target_id == str(row["id"])
        )
        == 2
    )


async def test_default_layout_without_template(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    await approved(h, exam_id)
    res = await h.author.get(f"/api/exams/{exam_id}/report.pdf")
    text = squeeze(pdf_text(res.content))
    for expected in ("检查报告", "姓名Name", "张三ZHANGSAN", "检查时间Examtime", "影像所见"):
        assert expected in text, (expected, text)
    # no logo uploaded: the one image is the examination's QR code (square, 1 bit gray)
    [image] = pdf_images(res.content)
    width, height, color = image.split()[3:6]
    assert width == height and color == "gray", image


# --- FHIR -----------------------------------------------------------------------------------


async def test_fhir_diagnostic_report(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    other = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    draft = await submitted(h, exam_id)
    report_id = draft["report_id"]
    res = await h.author.get(f"/fhir/DiagnosticReport/{report_id}")
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/fhir+json")
    doc = res.json()
    assert doc["resourceType"] == "DiagnosticReport" and doc["id"] == str(report_id)
    assert doc["status"] == "preliminary"

    report = await current(h.reviewer, exam_id)
    res = await h.reviewer.post(url(exam_id, "/approve"), json={"version": report["version"]})
    assert res.status_code == 200, res.text
    doc = (await h.clinician.get(f"/fhir/DiagnosticReport/{report_id}")).json()
    assert doc["status"] == "final"
    for required in ("status", "code", "subject", "effectiveDateTime", "issued", "conclusion"):
        assert doc[required], required
    assert doc["category"][0]["coding"][0]["code"] == "RAD"
    exam = await Examination.select().where(Examination.id == exam_id).first()
    study = await Study.select().where(Study.id == exam["study"]).first()
    assert doc["subject"] == {"type": "Patient", "display": exam["patient_name"]}
    assert exam["patient_id"] not in res.text and "identifier" not in doc["subject"]
    assert doc["effectiveDateTime"].startswith(exam["exam_time"].isoformat()[:16])
    assert doc["conclusion"] == "未见异常。"
    assert doc["performer"][0]["display"].startswith("Report test")
    assert doc["resultsInterpreter"][0]["display"] == h.names["reviewer"]
    form = doc["presentedForm"][0]
    assert form["contentType"] == "application/pdf"
    assert form["url"].endswith(f"/api/exams/{exam_id}/report.pdf")
    uid = f"urn:oid:{study['study_uid']}"
    assert doc["imagingStudy"] == [
        {
            "reference": "#study",
            "type": "ImagingStudy",
            "identifier": {"system": "urn:dicom:uid", "value": uid},
        }
    ]
    contained = {c["id"]: c for c in doc["contained"]}
    assert contained["study"]["resourceType"] == "ImagingStudy"
    assert contained["study"]["identifier"] == [{"system": "urn:dicom:uid", "value": uid}]
    assert contained["study"]["endpoint"] == [{"reference": "#dicomweb"}]
    endpoint = contained["dicomweb"]
    assert endpoint["resourceType"] == "Endpoint" and endpoint["address"].endswith("/dicomweb")
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
    assert await AuditLog.exists().where(
        AuditLog.action == "exam_report.fhir", AuditLog.target_id == str(report_id)
    )

    mark = await audit_mark()
    res = await other.reviewer.get(f"/fhir/DiagnosticReport/{report_id}")
    await refused_and_audited(res, 404, "another hospital", mark)
    assert (await h.author.get("/fhir/DiagnosticReport/999999999")).status_code == 404


async def test_a_remote_draft_is_hidden_from_the_requesting_hospital(new_api, uniq) -> None:
    owner = await make_hospital(new_api, uniq)
    target = await make_hospital(new_api, uniq)
    exam_id = await make_exam(owner.id)
    at = now()
    await DiagnosisRequest.insert(
        DiagnosisRequest(
            examination=exam_id,
            hospital=owner.id,
            target_hospital=target.id,
            state="accepted",
            requested_by=owner.author_id,
            created_at=at,
            updated_at=at,
        )
    )
    saved = await save(target.author, exam_id, 0, title="", findings="f", impression="远程诊断")
    assert (await owner.author.get(f"/api/exams/{exam_id}/report.pdf")).status_code == 404
    fhir = await owner.author.get(f"/fhir/DiagnosticReport/{saved['report_id']}")
    assert fhir.status_code == 404
    res = await target.author.post(url(exam_id, "/submit"), json={"version": saved["version"]})
    assert res.status_code == 200, res.text
    res = await owner.author.get(f"/api/exams/{exam_id}/report.pdf")
    assert res.status_code == 200 and "远程诊断" in pdf_text(res.content)
    # the requesting hospital reads it but prints nothing: the reporting hospital prints
    report = await current(target.reviewer, exam_id)
    res = await target.reviewer.post(url(exam_id, "/approve"), json={"version": report["version"]})
    assert res.status_code == 200, res.text
    assert (await owner.author.post(f"/api/exams/{exam_id}/report/print")).status_code == 403
    res = await target.author.post(f"/api/exams/{exam_id}/report/print")
    assert res.status_code == 200, res.text
    request = await DiagnosisRequest.select().where(DiagnosisRequest.examination == exam_id).first()
    assert request["state"] == "printed"


# --- DICOM ----------------------------------------------------------------------------------


async def synthetic_exam(hospital_id: int) -> tuple[int, str]:
    """An examination made from a real synthetic study (files stored and indexed)."""
    folder = Path(tempfile.mkdtemp(prefix="aimis-report-dicom-"))
    paths = await asyncio.to_thread(synth, folder, patients=1, seed=7, sizes=Sizes.small())
    run_id = await create_run(Ctx(), hospital_id, "import", "report dicom test")
    for path in paths:
        assert (await ingest_file(run_id, path, file_name=path.name)).ok
    await migrate_inline(run_id)
    exam = (
        await Examination.select(Examination.id, Examination.study)
        .where(Examination.hospital == hospital_id)
        .order_by(Examination.id)
        .first()
    )
    study = await Study.select(Study.study_uid).where(Study.id == exam["study"]).first()
    return int(exam["id"]), str(study["study_uid"])


@pytest.fixture(scope="module")
def report_dispatcher(database: str, prefect_home: Path, prefect_proxy: Any) -> Iterator[Any]:
    """The real dispatcher; a PDF with its font subset takes seconds on a loaded machine, so
    a run gets more than the fast tests' 10 s."""
    api = f"http://127.0.0.1:{prefect_proxy.port}/api"
    env = {
        **prefect_env(api, prefect_home),
        **FAST_DISPATCH,
        "AIMIS_DISPATCH_RUN_TIMEOUT_SECONDS": "120",
    }
    process = DispatcherProcess(env, prefect_home / f"dispatcher-{free_port()}.log")
    start_idle(process)
    yield process
    process.stop()


async def test_the_reviewed_report_is_stored_into_its_study_as_encapsulated_pdf(
    report_dispatcher, new_api, uniq
) -> None:
    dispatcher = report_dispatcher
    h = await make_hospital(new_api, uniq)
    exam_id, study_uid = await synthetic_exam(h.id)
    report = await approved(h, exam_id)
    key = f"report-dicom-{report['report_id']}-{report['revision']}"
    assert await Outbox.exists().where(Outbox.idempotency_key == key, Outbox.kind == "report.dicom")
    settled = await outbox_settled(key, within=120, log=dispatcher.output)
    assert settled["status"] == "done", settled["error"]

    row = await ExamReport.select().where(ExamReport.id == report["report_id"]).first()
    sop = row["dicom_sop_uid"]
    assert sop
    res = await h.reviewer.get(f"/dicomweb/studies/{study_uid}/series", headers=JSON)
    assert res.status_code == 200, res.text
    docs = [s for s in res.json() if s["00080060"]["Value"] == ["DOC"]]
    assert len(docs) == 1, res.json()
    series = docs[0]["0020000E"]["Value"][0]
    assert docs[0]["0008103E"]["Value"] == ["Report"]
    wado = await h.reviewer.get(
        f"/dicomweb/studies/{study_uid}/series/{series}/instances/{sop}", headers=DICOM
    )
    ((_, body),) = parts(wado)
    ds = dcmread(io.BytesIO(body))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1" and ds.Modality == "DOC"
    assert ds.StudyInstanceUID == study_uid and ds.SOPInstanceUID == sop
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert bytes(ds.EncapsulatedDocument).startswith(b"%PDF")
    assert "胸部CT平扫未见明显异常。" in pdf_text(bytes(ds.EncapsulatedDocument).rstrip(b"\0"))
    image = (
        await Instance.select(Instance.storage_path, Instance.sop_uid)
        .where(Instance.study.study_uid == study_uid, Instance.sop_uid != sop)
        .first()
    )
    from store.files import online_path

    original = dcmread(online_path(image["storage_path"]), stop_before_pixels=True)
    for keyword in (
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "AccessionNumber",
    ):
        assert ds.get(keyword) == original.get(keyword), keyword
    # the examination keeps its image modality; the study lists DOC too
    exam = await Examination.select().where(Examination.id == exam_id).first()
    assert exam["device_type"] != "DOC"
    # the touch viewer lists the images, not the report's PDF: it has no frame to draw
    mobile = await h.reviewer.get(f"/studies/{exam['study']}/mobile")
    assert mobile.status_code == 200, mobile.text
    assert image["sop_uid"] in mobile.text and sop not in mobile.text

    # a repeated delivery stores nothing twice
    from flows.report_dicom import store_report

    assert await store_report(row["id"]) == "already stored"
    assert await Instance.count().where(Instance.sop_uid == sop) == 1
