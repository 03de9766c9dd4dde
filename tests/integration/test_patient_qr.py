"""The printed report's QR code (issue 15 point 8) on the real app and database: the code
read back from the printed PDF's page image (poppler's ``pdftoppm``, then the zxing-cpp
decoder) holds the signed single-examination URL; the patient who scans it (logged in,
her verified name agreeing) has the examination matched and opens it; a tampered, forged,
too old or deleted examination's code, or a name that does not agree, changes nothing and
is audited; and the hospital admin's operation log lists the patient's events of his
hospital's examinations only (issue 15 point 10)."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from api.patient_archive import qr
from kernel.errors import BadRequest
from kernel.settings import get_settings
from store.db import transaction
from store.tables import AuditLog, Examination, PatientMatch
from store.uow import now
from tests.fixtures.exams import make_exam
from tests.fixtures.patients import login_patient, verify_self
from tests.fixtures.reports import make_hospital
from tests.integration.test_cloud_film import set_default
from tests.integration.test_report_outputs import approved

pytestmark = pytest.mark.integration
SCAN = "/api/patient/archive/qr"


def codes_on_page(pdf: bytes, tmp: Path) -> list[str]:
    """The QR codes on the first page as a scanner sees it (rendered at 150 dpi)."""
    source = tmp / "page.pdf"
    source.write_bytes(pdf)
    done = subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(source), str(tmp / "page")],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    [png] = sorted(tmp.glob("page*.png"))
    found = zxingcpp.read_barcodes(Image.open(png))
    return [b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode]


def token_of(url: str) -> str:
    """The token of a code's URL (the app's base URL: its own port in the tests)."""
    base, _, token = url.partition(qr.PATH)
    assert base.startswith("http://127.0.0.1:") and token, url
    return token


async def audit_rows(action: str, mark: int) -> list[dict[str, Any]]:
    return await AuditLog.select(
        AuditLog.username,
        AuditLog.hospital_id,
        AuditLog.outcome,
        AuditLog.target_type,
        AuditLog.target_id,
        AuditLog.detail,
    ).where(AuditLog.action == action, AuditLog.id > mark)


async def mark() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def live(exam_id: int) -> list[dict[str, Any]]:
    return await PatientMatch.select(PatientMatch.person, PatientMatch.how).where(
        PatientMatch.examination == exam_id, PatientMatch.unmatched_at.is_null()
    )


def altered(token: str) -> list[str]:
    exam, issued, sig = token.split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    return [
        f"{exam}.{issued}.{flipped}",  # the signature changed
        f"{int(exam) + 1}.{issued}.{sig}",  # another examination under its signature
        f"{exam}.{int(issued) + 1}.{sig}",  # another time
        f"{exam}.{issued}",  # cut
        "../../etc/passwd",
        "",
    ]


def test_tokens_are_signed_for_one_examination_and_expire() -> None:
    at = now()
    token = qr.make_token(41, at)
    assert qr.read_token(token) == (41, at.replace(microsecond=0))
    assert token != qr.make_token(42, at) and "41." in token
    for bad in altered(token):
        with pytest.raises(BadRequest, match="not a valid examination code"):
            qr.read_token(bad)
    future = qr.make_token(41, at + timedelta(hours=1))
    with pytest.raises(BadRequest, match="not a valid"):
        qr.read_token(future)
    days = get_settings().patient.qr_max_age_days
    with pytest.raises(BadRequest, match="too old"):
        qr.read_token(qr.make_token(41, at - timedelta(days=days + 1)))


async def test_the_printed_code_adds_the_examination_to_her_archive(
    new_api, uniq, tmp_path: Path
) -> None:
    h = await make_hospital(new_api, uniq)
    await set_default(h.admin, visible_when="at_once")
    exam_id = await make_exam(h.id, name="QIAN^YUE=钱月")
    await approved(h, exam_id)
    res = await h.author.post(f"/api/exams/{exam_id}/report/print")
    assert res.status_code == 200, res.text
    pdf = await h.author.get(res.json()["pdf_url"])
    assert pdf.status_code == 200
    [url] = codes_on_page(pdf.content, tmp_path)
    token = token_of(url)
    scanned_id, issued = qr.read_token(token)
    assert scanned_id == exam_id
    # the matrix holds exactly the signed URL
    assert url.endswith(f"{qr.PATH}{qr.make_token(exam_id, issued)}")

    she = new_api()
    await login_patient(she)
    # not verified yet: the scan says to verify first, nothing is matched
    res = await she.post(SCAN, json={"token": token})
    assert res.status_code == 409 and "Verify your real name" in res.text
    stranger = new_api()
    await login_patient(stranger)
    await verify_self(stranger, name="钱悦")
    before = await mark()
    res = await stranger.post(SCAN, json={"token": token})
    assert res.status_code == 400 and "does not carry the name 钱悦" in res.text
    assert await live(exam_id) == []
    [denied] = await audit_rows("patient_match.qr", before)
    assert (denied["outcome"], denied["hospital_id"]) == ("denied", h.id)
    assert denied["username"].startswith("patient:")
    assert len(await audit_rows("POST /api/patient/archive/qr", before)) == 0  # audited once

    person = await verify_self(she, name="钱月")
    before = await mark()
    for bad in altered(token):
        res = await she.post(SCAN, json={"token": bad})
        assert res.status_code == 400, (bad, res.text)
        assert "not a valid examination code" in res.json()["detail"]
    assert await live(exam_id) == []
    refused = await audit_rows(qr.ACTION, before)
    assert len(refused) == len(altered(token))
    assert {(r["outcome"], r["hospital_id"]) for r in refused} == {("denied", None)}

    before = await mark()
    res = await she.post(SCAN, json={"token": token})
    assert res.status_code == 200, res.text
    assert res.json() == {"examination_id": exam_id, "matched": True, "visible": True}
    assert await live(exam_id) == [{"person": person["id"], "how": "qr"}]
    [made] = await audit_rows("patient_match.qr", before)
    me = (await she.get("/api/patient/me")).json()["id"]
    assert (made["outcome"], made["hospital_id"], made["username"]) == (
        "success",
        h.id,
        f"patient:{me}",
    )
    [scan] = await audit_rows(qr.ACTION, before)
    assert (scan["outcome"], scan["hospital_id"], scan["target_id"]) == (
        "success",
        h.id,
        str(exam_id),
    )
    listed = (await she.get("/api/patient/archive/examinations")).json()
    assert [e["id"] for e in listed] == [exam_id]
    opened = await she.get(f"/api/patient/archive/examinations/{exam_id}")
    assert opened.status_code == 200 and opened.json()["report"] is not None
    # scanned again: nothing new, it just opens
    res = await she.post(SCAN, json={"token": token})
    assert res.json() == {"examination_id": exam_id, "matched": False, "visible": True}
    assert len(await live(exam_id)) == 1

    # the examination deleted since: 404, audited with its hospital
    async with transaction():
        await Examination.update({Examination.deleted_at: now()}).where(Examination.id == exam_id)
    before = await mark()
    res = await she.post(SCAN, json={"token": token})
    assert res.status_code == 404
    [gone] = await audit_rows(qr.ACTION, before)
    assert (gone["outcome"], gone["hospital_id"]) == ("denied", h.id)


async def test_the_page_sends_her_through_the_login_and_a_bad_code_says_so(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    await set_default(h.admin, visible_when="after_review")
    exam_id = await make_exam(h.id, name="SUN^HE=孙禾")
    token = qr.make_token(exam_id)
    page = new_api()
    res = await page.get(f"{qr.PATH}{token}", headers={"Accept": "text/html"})
    assert res.status_code in (302, 303), res.text
    assert res.headers["location"] == f"/patient/login?next=/patient/qr/{token}"
    before = await mark()
    bad = altered(token)[0]
    res = await page.get(f"{qr.PATH}{bad}", headers={"Accept": "text/html"})
    assert res.status_code == 400 and 'id="qr-refused"' in res.text
    [refused] = await audit_rows(qr.ACTION, before)
    assert (refused["outcome"], refused["username"]) == ("denied", "patient:?")

    await login_patient(page)
    await verify_self(page, name="孙禾")
    res = await page.get(f"{qr.PATH}{token}", headers={"Accept": "text/html"})
    # matched, but not visible before the review: the page says it is added
    assert res.status_code == 200 and f'data-exam="{exam_id}"' in res.text
    assert len(await live(exam_id)) == 1


async def test_the_consultation_report_carries_a_code_per_examination(tmp_path: Path) -> None:
    """The layout of ``api.paper`` with two codes: both read back from the page."""
    from api.paper import QR_CAPTION, Paper, render

    urls = [qr.token_url(7), qr.token_url(8)]
    doc = Paper(
        hospital_name="测试医院",
        hospital_line="",
        logo=None,
        title="远程会诊报告 Remote consultation report",
        codes=[(f"{QR_CAPTION}\nA{i}", u) for i, u in enumerate(urls)],
    )
    assert sorted(codes_on_page(render(doc), tmp_path)) == sorted(urls)


async def test_the_hospital_admin_sees_the_patient_events_of_his_examinations_only(
    new_api, uniq, demo
) -> None:
    from tests.fixtures.hospitals import alliance_client

    city, east = await make_hospital(new_api, uniq), await make_hospital(new_api, uniq)
    exams = {}
    for h in (city, east):
        await set_default(h.admin, visible_when="at_once")
        exams[h.id] = await make_exam(h.id, name="ZHOU^LAN=周兰")
    she = new_api()
    await login_patient(she)
    await verify_self(she, name="周兰")
    for h in (city, east):
        res = await she.post(SCAN, json={"token": qr.make_token(exams[h.id])})
        assert res.status_code == 200, res.text
        opened = await she.get(f"/api/patient/archive/examinations/{exams[h.id]}")
        assert opened.status_code == 200
    me = (await she.get("/api/patient/me")).json()["id"]
    for h, theirs in ((city, exams[city.id]), (east, exams[east.id])):
        res = await h.admin.get("/api/manage/audit", params={"user": f"patient:{me}"})
        assert res.status_code == 200, res.text
        items = res.json()["items"]
        assert {i["hospital_id"] for i in items} == {h.id}
        seen = {(i["action"], i["target_id"]) for i in items if i["target_type"] == "examination"}
        assert {
            ("patient_qr.scan", str(theirs)),
            ("patient_archive.view", str(theirs)),
        } <= seen
        other = exams[east.id] if h is city else exams[city.id]
        assert ("patient_archive.view", str(other)) not in seen
        assert not [i for i in items if re.search(rf"examination {other}\b", i["detail"])]
        assert "patient_match.qr" in {i["action"] for i in items}
    alliance = await alliance_client(new_api, demo)
    res = await alliance.get("/api/manage/audit", params={"user": f"patient:{me}"})
    assert res.status_code == 200 and res.json()["items"] == []  # no patient data
