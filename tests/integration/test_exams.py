"""The examination list over real HTTP against the real app and database (SPEC 2.1, issue 5
items 1-2): examinations made from studies, visibility, filters, keyword search, sorts,
keyset paging, counts, columns, the admin's edit, live events.

Every test makes its own hospital (unique code) with a doctor and an admin, and its own
studies (``tests/fixtures/exams.py``), so tests share one database without depending on each
other.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime

import pytest
import websockets

from kernel.domain import Module
from kernel.errors import NotFound
from store.examinations import examination_from_study
from store.tables import (
    AuditLog,
    BodyPart,
    CheckItem,
    DeviceType,
    DiagnosisRequest,
    Examination,
    ExamReport,
    ExamReportVersion,
    Hospital,
    Instance,
    MigrationRun,
)
from store.uow import now
from tests.fixtures.exams import (
    make_exam,
    make_place,
    make_study,
    page_ids,
    request_diagnosis,
)
from tests.fixtures.hospitals import as_user

pytestmark = pytest.mark.integration


# --- made from the study ----------------------------------------------------------------------


async def test_examination_from_study_reads_dicom_and_is_idempotent(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    at = now()
    ct = await DeviceType.insert(
        DeviceType(hospital=place.hospital_id, code="CT", name="CT", created_at=at)
    ).returning(DeviceType.id)
    chest = await BodyPart.insert(
        BodyPart(hospital=place.hospital_id, code="CHEST", name="胸部", created_at=at)
    ).returning(BodyPart.id)
    item = await CheckItem.insert(
        CheckItem(
            hospital=place.hospital_id,
            code="CT-CHEST",
            name="胸部CT平扫",
            device_type=ct[0]["id"],
            body_part=chest[0]["id"],
            exam_category="outpatient",
            scanning_method="plain",
            created_at=at,
        )
    ).returning(CheckItem.id)
    study_id = await make_study(place.hospital_id, accession="ACC-" + place.code)
    exam_id = await examination_from_study(study_id)
    assert await examination_from_study(study_id) == exam_id  # the second call finds it
    assert await Examination.count().where(Examination.study == study_id) == 1
    row = await Examination.select().where(Examination.id == exam_id).first()
    assert row["patient_name"] == "张三 ZHANG SAN"
    assert row["patient_name_search"] == "ZHANG SAN"
    assert row["device_type"] == "CT"  # SR is not an image modality
    assert row["body_part"] == "CHEST"
    assert row["check_item"] == item[0]["id"] and row["check_item_name"] == "胸部CT平扫"
    assert (row["exam_category"], row["scanning_method"]) == ("outpatient", "plain")
    assert row["status"] == "images_arrived" and row["department"] is None
    # 08:30 in Asia/Shanghai is 00:30 UTC
    assert row["exam_time"].astimezone(UTC) == datetime(2026, 1, 15, 0, 30, tzinfo=UTC)
    # no matching check item: none set
    other = await make_exam(place.hospital_id, modalities="MR", body="HEAD")
    assert (await Examination.select().where(Examination.id == other).first())["check_item"] is None
    with pytest.raises(NotFound):
        await examination_from_study(10**9)


async def test_concurrent_creation_makes_one_examination(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    study_id = await make_study(place.hospital_id)
    ids = await asyncio.gather(*(examination_from_study(study_id) for _ in range(4)))
    assert len(set(ids)) == 1
    assert await Examination.count().where(Examination.study == study_id) == 1


# --- the list ---------------------------------------------------------------------------------


async def test_list_filters_search_and_visibility(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    other = await make_place(new_api, uniq)
    a = await make_exam(place.hospital_id, name="WANG^FANG=王芳", date="20260110", modalities="CT")
    b = await make_exam(place.hospital_id, name="LI^LEI=李雷", date="20260112", modalities="MR")
    c = await make_exam(
        place.hospital_id, name="Wang^Gang", date="20260114", modalities="DX", accession="ACC9"
    )
    hidden = await make_exam(other.hospital_id, name="WANG^FANG=王芳", date="20260111")
    doctor = place.doctor
    assert await page_ids(doctor) == [c, b, a]  # newest first; the other hospital's not
    assert await page_ids(doctor, order="asc") == [a, b, c]
    assert await page_ids(doctor, device_type="mr") == [b]
    assert await page_ids(doctor, date_from="2026-01-11", date_to="2026-01-12") == [b]
    assert await page_ids(doctor, q="王") == [a]  # Chinese prefix
    assert await page_ids(doctor, q="wang") == [c, a]  # pinyin, any case
    assert await page_ids(doctor, q="ang") == []  # a prefix, not a substring
    assert await page_ids(doctor, q="ACC9") == [c]
    assert await page_ids(doctor, hospital_id=str(other.hospital_id)) == []
    await Examination.update({Examination.status: "reviewed"}).where(Examination.id == b)
    assert await page_ids(doctor, status="reviewed") == [b]
    counts = (await doctor.get("/api/exams/counts", params={"status": "reviewed"})).json()
    assert counts["counts"]["reviewed"] == 1 and counts["counts"]["images_arrived"] == 2
    assert counts["total"] == 3
    # the other hospital's examination reads as not found, and the refusal is audited
    res = await doctor.get(f"/api/exams/{hidden}")
    assert res.status_code == 404
    assert await AuditLog.exists().where(
        AuditLog.outcome != "success", AuditLog.detail.like(f"%examination with id {hidden}%")
    )
    assert (await doctor.get(f"/api/exams/{a}")).json()["patient_name"] == "王芳 WANG FANG"


@pytest.mark.parametrize(
    "params,message",
    [
        ({"status": "lost"}, "Unknown status"),
        ({"sort": "name"}, "Sort by"),
        ({"order": "up"}, "'asc' or 'desc'"),
        ({"limit": "0"}, "limit"),
        ({"date_from": "2026-13-01"}, "date like"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "before the start"),
        ({"hospital_id": "x"}, "must be an id"),
        ({"cursor": "garbage"}, "cursor"),
        ({"q": "x" * 65}, "at most 64"),
    ],
)
async def test_bad_list_parameters_are_400(new_api, uniq, params, message) -> None:
    place = await make_place(new_api, uniq)
    res = await place.doctor.get("/api/exams", params=params)
    assert res.status_code == 400, res.text
    assert message in res.json()["detail"]


async def test_keyset_paging_walks_every_row_once(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    made = [await make_exam(place.hospital_id, date="20260120", time="0900") for _ in range(5)]
    made += [await make_exam(place.hospital_id, date=f"202601{d:02d}") for d in range(1, 6)]
    printed = made[1::2]
    for i, exam_id in enumerate(printed):  # printed at distinct times, two at the same
        at = datetime(2026, 2, 1 + min(i, 3), 12, tzinfo=UTC)
        await Examination.update({Examination.print_time: at}).where(Examination.id == exam_id)
    walks = [
        (s, o, q)
        for s in ("exam_time", "print_time")
        for o in ("desc", "asc")
        for q in ("", "zhang")
    ]
    for sort, order, q in walks:  # q: a keyword search is ordered in Python (probe)
        seen: list[int] = []
        cursor = ""
        for _ in range(20):
            res = await place.doctor.get(
                "/api/exams",
                params={"sort": sort, "order": order, "limit": "3", "cursor": cursor, "q": q},
            )
            assert res.status_code == 200, res.text
            body = res.json()
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(made), (sort, order, q)  # each once
        rows = {r["id"]: r for r in await Examination.select().where(Examination.id.is_in(made))}
        key = "exam_time" if sort == "exam_time" else "print_time"
        done = [rows[i][key] for i in seen if rows[i][key] is not None]
        assert done == sorted(done, reverse=order == "desc")
        if sort == "print_time":  # the unprinted come last
            assert set(seen[-5:]) == set(made) - set(printed)
    # a cursor of one sort is refused for another
    res = await place.doctor.get("/api/exams", params={"limit": "2"})
    cursor = res.json()["next_cursor"]
    res = await place.doctor.get("/api/exams", params={"sort": "print_time", "cursor": cursor})
    assert res.status_code == 400


async def test_diagnosis_request_shares_an_examination_until_rejected(new_api, uniq) -> None:
    requester = await make_place(new_api, uniq)
    target = await make_place(new_api, uniq)
    exam_id = await make_exam(requester.hospital_id)
    assert (await target.doctor.get(f"/api/exams/{exam_id}")).status_code == 404
    request_id = await request_diagnosis(exam_id, requester, target)
    res = await target.doctor.get(f"/api/exams/{exam_id}")
    assert res.status_code == 200 and res.json()["shared"] is True
    assert await page_ids(target.doctor) == [exam_id]
    await DiagnosisRequest.update({DiagnosisRequest.state: "rejected"}).where(
        DiagnosisRequest.id == request_id
    )
    assert (await target.doctor.get(f"/api/exams/{exam_id}")).status_code == 404
    assert await page_ids(target.doctor) == []


async def test_own_and_shared_examinations_page_together_in_time_order(new_api, uniq) -> None:
    requester = await make_place(new_api, uniq)
    target = await make_place(new_api, uniq)
    made = []
    for day in range(10, 20):
        owner = requester if day % 2 else target
        exam_id = await make_exam(owner.hospital_id, date=f"202601{day}")
        made.append(exam_id)
        if owner is requester:
            await request_diagnosis(exam_id, requester, target)
    for q in ("", "zhang"):
        seen: list[int] = []
        cursor = ""
        while True:
            res = await target.doctor.get(
                "/api/exams", params={"limit": "3", "cursor": cursor, "q": q}
            )
            seen += [item["id"] for item in res.json()["items"]]
            cursor = res.json()["next_cursor"]
            if not cursor:
                break
        assert seen == made[::-1], q  # newest first, own and shared interleaved
    counts = (await target.doctor.get("/api/exams/counts")).json()
    assert counts["total"] == 10


async def test_module_switched_off_is_403(new_api, uniq) -> None:
    place = await make_place(new_api, uniq, modules=[Module.consultation.value])
    res = await place.doctor.get("/api/exams")
    assert res.status_code == 403


# --- columns ----------------------------------------------------------------------------------


async def test_columns_persist_per_user(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    res = await place.doctor.get("/api/exams/columns")
    assert res.json()["columns"] == res.json()["default"]
    chosen = ["status", "patient_name", "accession_number"]
    res = await place.doctor.put("/api/exams/columns", json={"columns": chosen})
    assert res.status_code == 200 and res.json()["columns"] == chosen
    for bad, message in (
        (["status", "password_hash"], "Unknown columns"),
        ([], "at least one"),
        (["status", "status"], "once"),
    ):
        res = await place.doctor.put("/api/exams/columns", json={"columns": bad})
        assert res.status_code == 400 and message in res.json()["detail"]
    assert (await place.doctor.get("/api/exams/columns")).json()["columns"] == chosen
    assert (await place.admin.get("/api/exams/columns")).json()["columns"] != chosen  # per user


# --- the admin's edit -------------------------------------------------------------------------


async def test_admin_edits_with_version_check(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    other = await make_place(new_api, uniq)
    exam_id = await make_exam(place.hospital_id)
    path = f"/api/exams/{exam_id}"
    version = (await place.admin.get(path)).json()["version"]
    change = {
        "patient_name": "张三丰",
        "patient_id_number": "11010519491231002x",
        "patient_his_number": "HIS-" + place.code,
        "patient_phone": "13900000000",
        "department_id": place.department_id,
        "exam_category": "inpatient",
        "scanning_method": "enhanced",
        "version": version,
    }
    res = await place.admin.patch(path, json=change)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["patient_id_number"] == "11010519491231002X"
    assert body["department_name"] == "Radiology 放射科" and body["version"] == version + 1
    assert await page_ids(place.doctor, q="HIS-" + place.code) == [exam_id]
    assert await page_ids(place.doctor, q="张三丰") == [exam_id]
    assert await page_ids(place.doctor, department_id=str(place.department_id)) == [exam_id]
    assert await page_ids(place.doctor, exam_category="inpatient") == [exam_id]
    # the category and the sex read as words, the birth date as a date, not as codes
    for lang, label, sex in (
        ("en", "<dd>Inpatient</dd>", "<dd>M "),
        ("zh-CN", "<dd>住院</dd>", "<dd>男 "),
    ):
        shown = await place.doctor.get(f"/exams/{exam_id}", headers={"Accept-Language": lang})
        assert shown.status_code == 200 and label in shown.text, lang
        assert sex in shown.text and "<dd>1980-01-01</dd>" in shown.text, lang
        listed = await place.doctor.get(
            "/exams", params={"q": "HIS-" + place.code}, headers={"Accept-Language": lang}
        )
        assert 'data-col="patient_sex" data-label="' in listed.text
        assert re.search(r'data-col="patient_sex"[^>]*>' + sex[4:].strip() + "<", listed.text)
    assert await page_ids(place.doctor, scanning_method="enhanced") == [exam_id]
    before = await Examination.select().where(Examination.id == exam_id).first()
    refusals = [
        (place.admin, {"patient_name": "x", "version": version}, 409),
        (place.admin, {"patient_id_number": "110105194912310021"}, 400),
        (place.admin, {"patient_birth_date": "2026-02-30"}, 400),
        (place.admin, {"patient_sex": "Q"}, 400),
        (place.admin, {"department_id": other.department_id}, 400),
        (place.admin, {"check_item_id": 10**8}, 400),
        (place.admin, {"nonsense": 1}, 400),
        (place.admin, {}, 400),
        (place.doctor, {"patient_name": "x"}, 403),
        (other.admin, {"patient_name": "x"}, 404),
    ]
    for client, body, status in refusals:
        res = await client.patch(path, json=body)
        assert res.status_code == status, (body, res.text)
    assert await Examination.select().where(Examination.id == exam_id).first() == before
    assert await AuditLog.exists().where(
        AuditLog.action == "exam.update", AuditLog.target_id == str(exam_id)
    )


# --- live -------------------------------------------------------------------------------------


async def test_new_examination_is_announced_on_the_hospital_topic(app_url, new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    cookies = "; ".join(f"{k}={v}" for k, v in place.doctor.http.cookies.items())
    url = app_url.replace("http://", "ws://") + "/ws"
    topic = f"hospital:{place.hospital_id}"
    async with websockets.connect(url, additional_headers={"Cookie": cookies}) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": [topic], "last_id": -1}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["topics"] == [topic]
        exam_id = await make_exam(place.hospital_id)  # written here, tailed by the app
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if msg.get("type") == "exam.changed":
                break
    assert msg["payload"] == {
        "id": exam_id,
        "hospital_id": place.hospital_id,
        "status": "images_arrived",
    }


async def test_the_demo_examinations_have_their_check_items() -> None:
    """The demo loads its dictionaries before its studies, so each demo examination found
    its check item when the migration recorded it."""
    from aimis.imports import DEMO_DETAIL

    runs = await MigrationRun.select(MigrationRun.id).where(
        MigrationRun.source_detail == DEMO_DETAIL
    )
    studies = await Instance.select(Instance.study).where(
        Instance.migration.is_in([r["id"] for r in runs] or [-1])
    )
    exams = await Examination.select(Examination.device_type, Examination.check_item).where(
        Examination.study.is_in(list({s["study"] for s in studies}) or [-1])
    )
    with_dictionary = [e for e in exams if e["device_type"] in ("CT", "MR", "DX")]
    assert with_dictionary, "the demo holds CT, MR and DX examinations"
    assert all(e["check_item"] is not None for e in with_dictionary), exams


async def test_the_demo_shows_every_report_step(new_api, demo) -> None:
    """A new user finds City's reports at each later step: a CT report waiting for
    dr.wang's review (his review list) and a DX report reviewed and printed, with its
    versions, its print time and its PDF — written through the report service."""
    city = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    rows = await ExamReport.select(
        ExamReport.examination,
        ExamReport.state,
        ExamReport.print_count,
        ExamReport.examination.device_type.as_alias("device"),
        ExamReport.examination.status.as_alias("status"),
        ExamReport.examination.print_time.as_alias("print_time"),
    ).where(ExamReport.hospital == city["id"], ExamReport.examination.hospital == city["id"])
    by_device = {r["device"]: r for r in rows}
    assert by_device["CT"]["state"] == "initial" and by_device["CT"]["status"] == "initial_report"
    dx = by_device["DX"]
    assert (dx["state"], dx["status"], dx["print_count"]) == ("reviewed", "printed", 1)
    assert dx["print_time"] is not None
    assert (
        await ExamReportVersion.count().where(
            ExamReportVersion.report.examination == dx["examination"]
        )
        >= 1
    )
    wang = await as_user(new_api, "dr.wang")
    waiting = await wang.get("/exams", params={"status": "initial_report"})
    assert f'data-href="/exams/{by_device["CT"]["examination"]}"' in waiting.text
    page = await wang.get(f"/exams/{dx['examination']}/report", headers={"accept-language": "en"})
    assert re.search(r'data-testid="printed">[^<]*\d{4}-\d\d-\d\d \d\d:\d\d · once<', page.text)
    pdf = await wang.get(f"/api/exams/{dx['examination']}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_shared_examinations_in_every_sort_with_filters_and_counts(new_api, uniq) -> None:
    """The shared branch (read by the open requests' ids) pages with the own branch in
    both sorts and directions, takes the filters, and counts per status exactly; closed
    requests and soft-deleted examinations drop out of list and counts alike."""
    requester = await make_place(new_api, uniq)
    target = await make_place(new_api, uniq)
    own: list[int] = []
    shared: list[int] = []
    for day in range(10, 22):
        owner = requester if day % 2 else target
        modality = "MR" if day % 3 == 0 else "CT"
        exam_id = await make_exam(owner.hospital_id, date=f"202602{day}", modalities=modality)
        (shared if owner is requester else own).append(exam_id)
        if owner is requester:
            await request_diagnosis(exam_id, requester, target)
    made = own + shared
    for i, exam_id in enumerate(made[::2]):  # half printed, on both sides, one tie
        at = datetime(2026, 3, 1 + min(i, 4), 8, tzinfo=UTC)
        await Examination.update({Examination.print_time: at, Examination.status: "printed"}).where(
            Examination.id == exam_id
        )
    rows = {r["id"]: r for r in await Examination.select().where(Examination.id.is_in(made))}
    for sort in ("exam_time", "print_time"):
        for order in ("desc", "asc"):
            seen: list[int] = []
            cursor = ""
            for _ in range(20):
                res = await target.doctor.get(
                    "/api/exams",
                    params={"sort": sort, "order": order, "limit": "4", "cursor": cursor},
                )
                assert res.status_code == 200, res.text
                seen += [item["id"] for item in res.json()["items"]]
                cursor = res.json()["next_cursor"]
                if not cursor:
                    break
            assert sorted(seen) == sorted(made), (sort, order)
            valued = [i for i in seen if rows[i][sort] is not None]
            keys = [(rows[i][sort], i) for i in valued]
            assert keys == sorted(keys, reverse=order == "desc"), (sort, order)
            if sort == "print_time":  # the unprinted follow, by id
                rest = seen[len(valued) :]
                assert all(rows[i]["print_time"] is None for i in rest)
                assert rest == sorted(rest, reverse=order == "desc")
    mr = {i for i in made if rows[i]["device_type"] == "MR"}
    assert set(await page_ids(target.doctor, device_type="MR")) == mr
    assert mr & set(shared) and mr & set(own)
    counts = (await target.doctor.get("/api/exams/counts", params={"device_type": "CT"})).json()
    ct = [i for i in made if rows[i]["device_type"] == "CT"]
    assert counts["total"] == len(ct)
    assert counts["counts"]["printed"] == sum(rows[i]["status"] == "printed" for i in ct)
    # a rejected request and a soft-deleted examination: gone from list and counts
    await DiagnosisRequest.update({DiagnosisRequest.state: "rejected"}).where(
        DiagnosisRequest.examination == shared[0]
    )
    await Examination.update({Examination.deleted_at: now()}).where(Examination.id == shared[1])
    left = set(made) - {shared[0], shared[1]}
    assert set(await page_ids(target.doctor, limit="50")) == left
    counts = (await target.doctor.get("/api/exams/counts")).json()
    assert counts["total"] == len(left)
    # the requester sees his own examinations (the soft-deleted aside), each once
    assert sorted(await page_ids(requester.doctor, limit="50")) == sorted(shared[:1] + shared[2:])


async def test_status_counts_are_exact_beyond_the_cap_without_other_filters(new_api, uniq) -> None:
    """Without filters (or by hospital only) the chips read the counts the database keeps
    (``examination_count``): exact past 10,000; any other filter counts at most 10,000 a
    status and says so (``capped``)."""
    from kernel.settings import get_settings

    place = await make_place(new_api, uniq)
    many = 10_050
    if get_settings().is_postgres:
        at, source = "TIMESTAMPTZ '2025-01-01 00:00:00+00' + n * INTERVAL '1 minute'", ""
    else:
        at = "datetime(1735689600 + n * 60, 'unixepoch') || '+00:00'"
        source = (
            f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {many}) "
        )
    rows = "seq" if source else f"generate_series(1, {many}) AS seq(n)"
    await Examination.raw(
        "INSERT INTO examination (hospital, patient_name, patient_name_search, device_type, "
        f"exam_time, status, created_at, updated_at) {source}SELECT {place.hospital_id}, "
        f"'BULK', 'BULK', 'CT', {at}, 'images_arrived', {at}, {at} FROM {rows}"
    )
    reviewed = await make_exam(place.hospital_id, modalities="MR")
    await Examination.update({Examination.status: "reviewed"}).where(Examination.id == reviewed)
    for params in ({}, {"hospital_id": str(place.hospital_id)}):
        body = (await place.doctor.get("/api/exams/counts", params=params)).json()
        assert body["counts"]["images_arrived"] == many and body["counts"]["reviewed"] == 1
        assert body["total"] == many + 1 and body["capped"] == []
    body = (await place.doctor.get("/api/exams/counts", params={"device_type": "CT"})).json()
    assert body["counts"]["images_arrived"] == 10_000 and body["capped"] == ["images_arrived"]
    assert body["counts"]["reviewed"] == 0
    # a soft delete leaves the kept counts at once (same transaction, by trigger)
    await Examination.update({Examination.deleted_at: now()}).where(Examination.id == reviewed)
    body = (await place.doctor.get("/api/exams/counts")).json()
    assert body["counts"]["reviewed"] == 0 and body["total"] == many
