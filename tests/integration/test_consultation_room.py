"""Remote consultation: the room's attachments, the report (one editor at a time), the meeting
link, the lists and the admin log (SPEC 3)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import msgspec
import pytest

from flows.consultation import MEETING_TEMPLATE_ENV, create_meeting
from kernel.settings import get_settings
from store.tables import (
    Attachment,
    Consultation,
    ConsultationReportVersion,
    Event,
    Outbox,
    Timer,
)
from store.uow import now
from tests.fixtures.consultations import (
    DICOM_BYTES,
    JPEG_BYTES,
    PDF_BYTES,
    PNG_BYTES,
    ZIP_BYTES,
    create,
    decide,
    refused,
    simple_case,
    started_case,
)
from tests.fixtures.hospitals import as_user, department, user_id

pytestmark = pytest.mark.integration


# --- attachments ----------------------------------------------------------------------------


async def test_attachments_allowed_kinds_safe_storage_and_download(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    folder = get_settings().server.data_dir / "attachments"
    uploads = [
        ("报告 report.pdf", PDF_BYTES, "application/pdf"),
        ("scan.PNG", PNG_BYTES, "image/png"),
        ("photo.jpeg", JPEG_BYTES, "image/jpeg"),
        ("IM000001", DICOM_BYTES, "application/dicom"),
        ("../../etc/series.zip", ZIP_BYTES, "application/zip"),
    ]
    for name, content, kind in uploads:
        res = await li.post(
            f"/api/consultations/{cid}/attachments",
            files={"file": (name, content, "application/octet-stream")},
        )
        assert res.status_code == 201, res.text
        body = res.json()
        assert body["content_type"] == kind and body["size"] == len(content)
        assert body["sha256"] == hashlib.sha256(content).hexdigest()
        row = await Attachment.select().where(Attachment.id == body["id"]).first()
        stored = folder / row["storage_name"]
        assert stored.read_bytes() == content and stored.parent == folder
        assert name.split("/")[-1] not in row["storage_name"]
        assert len(row["storage_name"]) == 32
    assert [
        a["name"] for a in (await li.get(f"/api/consultations/{cid}")).json()["attachments"]
    ] == [
        "报告 report.pdf",
        "scan.PNG",
        "photo.jpeg",
        "IM000001",
        "series.zip",
    ]
    first = (await li.get(f"/api/consultations/{cid}")).json()["attachments"][0]
    liu = await as_user(new_api, "dr.liu")  # a reviewer of an invited department may read it
    res = await liu.get(first["url"])
    assert res.status_code == 200 and res.content == PDF_BYTES
    disposition = res.headers["content-disposition"]
    assert disposition.startswith("attachment") and "filename*=utf-8''" in disposition.lower()
    assert "%E6%8A%A5%E5%91%8A" in disposition  # 报告, percent-encoded
    assert res.headers["x-content-type-options"] == "nosniff"
    chen = await as_user(new_api, "dr.chen")
    assert (await chen.get(first["url"])).status_code == 404
    timeline = (await li.get(f"/api/consultations/{cid}/timeline")).json()
    assert [t["event"] for t in timeline].count("attach") == 5


async def test_forbidden_and_oversized_attachments_are_refused(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    folder = get_settings().server.data_dir / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    files_before = sorted(p.name for p in folder.iterdir())
    url = f"/api/consultations/{cid}/attachments"
    cases = [
        ("tool.exe", b"MZ\x90\x00" + b"\x00" * 100, 415, "Only PDF, JPEG, PNG, DICOM and ZIP"),
        (
            "page.html",
            b"<html><script>alert(1)</script>",
            415,
            "Only PDF, JPEG, PNG, DICOM and ZIP",
        ),
        ("fake.pdf", PNG_BYTES, 415, "contains a PNG image but its name does not end in .png"),
        ("scan.png.exe", PNG_BYTES, 415, "does not end in .png"),
        ("empty.pdf", b"", 400, "the upload was empty"),
        ("big.pdf", b"%PDF-" + b"0" * (20 * 1024 * 1024), 413, "larger than 20 MB"),
    ]
    for name, content, status, says in cases:
        await refused(
            li,
            "POST",
            url,
            status,
            cid,
            "dr.li",
            says,
            files={"file": (name, content, "application/pdf")},
        )
    await refused(
        li, "POST", url, 400, cid, "dr.li", "the upload was empty", files={"other": ("a", b"x")}
    )
    assert sorted(p.name for p in folder.iterdir()) == files_before


# --- the report -----------------------------------------------------------------------------


async def test_report_lock_is_one_editor_at_a_time(new_api, uniq) -> None:
    li, liu, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report"
    assert (await liu.post(f"{url}/lock")).status_code == 200
    await refused(
        li, "POST", f"{url}/lock", 409, cid, "dr.li", "Liu Yang 刘洋 is editing the report"
    )
    await refused(
        li,
        "PUT",
        url,
        409,
        cid,
        "dr.li",
        "Liu Yang 刘洋 is editing the report",
        json={"text": "mine", "report_version": 0},
    )
    await refused(
        li, "POST", f"{url}/submit", 409, cid, "dr.li", "is editing the report", json={"version": 3}
    )
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert (
        room["report"]["lock_holder"]["name"] == "Liu Yang 刘洋" and not room["report"]["holding"]
    )
    # The lock holder keeps it alive; the due time is a timer row for the sweep.
    assert (await liu.post(f"{url}/lock")).status_code == 200
    timers = await Timer.select().where(
        Timer.case_type == "consultation",
        Timer.case_id == cid,
        Timer.cancelled == False,  # noqa: E712
    )
    assert len(timers) == 1 and timers[0]["kind"] == "report_lock_expiry"
    # 30 minutes without a save or keep-alive: the lock is free for the next editor.
    await Consultation.update({Consultation.report_lock_until: now() - timedelta(seconds=1)}).where(
        Consultation.id == cid
    )
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert room["report"]["lock_holder"] is None
    assert (await li.post(f"{url}/lock")).status_code == 200
    res = await li.put(url, json={"text": "第一稿 first draft", "report_version": 0})
    assert res.status_code == 200 and res.json()["report_version"] == 1
    # dr.liu still works on version 0 of the report: a stale save is refused, never silent.
    await refused(
        liu,
        "PUT",
        url,
        409,
        cid,
        "dr.liu",
        "The report was saved by Li Na 李娜 meanwhile (version 1, you edited version 0).",
        json={"text": "overwrite", "report_version": 0},
    )
    res = await liu.put(url, json={"text": "第二稿 second draft", "report_version": 1})
    assert res.status_code == 200 and res.json()["report_version"] == 2
    versions = (
        await ConsultationReportVersion.select(
            ConsultationReportVersion.version, ConsultationReportVersion.text
        )
        .where(ConsultationReportVersion.consultation == cid)
        .order_by(ConsultationReportVersion.id)
    )
    assert versions == [
        {"version": 1, "text": "第一稿 first draft"},
        {"version": 2, "text": "第二稿 second draft"},
    ]
    assert (
        await Timer.count().where(
            Timer.case_type == "consultation",
            Timer.case_id == cid,
            Timer.cancelled == False,  # noqa: E712
        )
        == 0
    )


async def test_of_two_editors_clicking_at_once_exactly_one_gets_the_lock(new_api, uniq) -> None:
    li, liu, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report/lock"
    answers = await asyncio.gather(*(client.post(url) for client in (li, liu, li, liu)))
    codes = sorted(a.status_code for a in answers)
    holder = (
        await Consultation.select(Consultation.report_lock_user)
        .where(Consultation.id == cid)
        .first()
    )["report_lock_user"]
    # The holder's second click is a keep-alive, the other editor's are refused.
    assert codes == [200, 200, 409, 409], [a.text for a in answers]
    assert holder in (await user_id("dr.li"), await user_id("dr.liu"))


async def test_only_the_holder_unlocks_the_report(new_api, uniq) -> None:
    """Issue 12 (10e): another participant's "unlock" was a 200 that freed nothing; now a
    409 that names the holder, and the lock stays."""
    li, liu, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report/lock"
    assert (await li.post(url)).status_code == 200
    body = await refused(liu, "DELETE", url, 409, cid, "dr.liu", "holds the lock of the report")
    assert body["lock_holder"] == await user_id("dr.li") and body["lock_holder_name"]
    row = await Consultation.select().where(Consultation.id == cid).first()
    assert row["report_lock_user"] == await user_id("dr.li")
    assert (await li.delete(url)).status_code == 200
    assert (await liu.delete(url)).status_code == 200  # nobody holds it: nothing to refuse
    assert (await liu.post(url)).status_code == 200


async def test_report_needs_a_participant_progress_and_text(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report"
    await refused(
        li, "POST", f"{url}/lock", 409, cid, "dr.li", "while the consultation is in progress"
    )
    li, _, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report"
    wang = await as_user(new_api, "dr.wang")  # sees nothing: CITY Radiology is not invited
    await refused(wang, "POST", f"{url}/lock", 404, cid, "dr.wang")
    await refused(
        li,
        "POST",
        f"{url}/submit",
        409,
        cid,
        "dr.li",
        "The consultation report is empty.",
        json={"version": 3},
    )
    await refused(li, "GET", f"/api/consultations/{cid}/report.pdf", 409, cid, "dr.li", "no report")


async def test_only_participants_edit_the_report(new_api, uniq) -> None:
    li = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    cid = (await create(li, [{"department_id": west, "mandatory": True}], uniq("plain agree ")))[
        "id"
    ]
    liu = await as_user(new_api, "dr.liu")
    await decide(liu, cid, west, "agree", 1)
    assert (
        await li.post(f"/api/consultations/{cid}/start", json={"version": 2})
    ).status_code == 200
    # dr.liu agreed without joining: a reviewer who sees the room but does not edit it.
    await refused(
        liu,
        "POST",
        f"/api/consultations/{cid}/report/lock",
        403,
        cid,
        "dr.liu",
        "Only the participants of the consultation edit its report.",
    )


# --- the meeting link -----------------------------------------------------------------------


async def test_meeting_link_is_created_by_the_side_effect(new_api, uniq, monkeypatch) -> None:
    li, liu, cid = await started_case(new_api, uniq)
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert room["state"] == "in_progress" and room["meeting_url"] == ""
    assert await Outbox.count().where(Outbox.idempotency_key == f"meeting-{cid}") == 1

    # No provider by default (SPEC 3.4): no link, nothing sent to a public service.
    monkeypatch.delenv(MEETING_TEMPLATE_ENV, raising=False)
    assert await create_meeting(cid) == ""
    assert (await li.get(f"/api/consultations/{cid}")).json()["meeting_url"] == ""

    monkeypatch.setenv(
        MEETING_TEMPLATE_ENV, "https://meet.hospital.test/aimis-{consultation_id}-{token}"
    )
    url = await create_meeting(cid)
    assert url.startswith(f"https://meet.hospital.test/aimis-{cid}-") and len(url) > 40
    assert (await liu.get(f"/api/consultations/{cid}")).json()["meeting_url"] == url
    events = await Event.select(Event.type, Event.payload).where(
        Event.topic == f"case:consultation:{cid}", Event.type == "consultation.meeting_ready"
    )
    assert len(events) == 1
    assert msgspec.json.decode(events[0]["payload"])["meeting_url"] == url
    # At least once: a second run changes nothing and says nothing new.
    assert await create_meeting(cid) == url
    assert (
        await Event.count().where(
            Event.topic == f"case:consultation:{cid}", Event.type == "consultation.meeting_ready"
        )
        == 1
    )

    _, _, other = await started_case(new_api, uniq)
    monkeypatch.setenv(
        MEETING_TEMPLATE_ENV, "https://meeting.example.org/r/{token}?case={consultation_id}"
    )
    custom = await create_meeting(other)
    assert custom.startswith("https://meeting.example.org/r/") and custom.endswith(f"?case={other}")


async def test_lists_mine_and_reviews(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    mine = (await li.get("/api/consultations")).json()
    assert cid in [c["id"] for c in mine]
    liu = await as_user(new_api, "dr.liu")
    reviews = (await liu.get("/api/consultations/reviews")).json()
    assert cid in [c["id"] for c in reviews]
    assert cid not in [c["id"] for c in (await liu.get("/api/consultations")).json()]
    west = await department("WEST", "Radiology")
    await decide(liu, cid, west, "agree_join", 1)
    assert cid not in [c["id"] for c in (await liu.get("/api/consultations/reviews")).json()]
    joined = [c for c in (await liu.get("/api/consultations")).json() if c["id"] == cid]
    assert joined and "participant" in joined[0]["my_roles"]
    zhao = await as_user(new_api, "dr.zhao")  # WEST, but no review permission
    assert cid not in [c["id"] for c in (await zhao.get("/api/consultations/reviews")).json()]


async def test_admin_log_needs_an_admin(new_api, uniq) -> None:
    li, _ = await simple_case(new_api, uniq)
    res = await li.get("/api/consultations/log")
    assert res.status_code == 403
    # SPEC "Users": the alliance admin sees no patient data; a consultation's topic may
    # name the patient, so the log is the hospital admins' (issue 12, finding 2)
    alliance = await as_user(new_api, "alliance.admin")
    res = await alliance.get("/api/consultations/log")
    assert res.status_code == 403 and "never a patient's data" in res.json()["detail"]
    city = await as_user(new_api, "admin.city")
    assert (await city.get("/api/consultations/log")).json()["total"] >= 1
