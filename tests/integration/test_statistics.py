"""Statistics over HTTP (SPEC 6): a hospital's director sees his figures, bars and rows,
downloads them as CSV and XLSX (the XLSX opened with openpyxl holds the rows shown); the
alliance admin sees figures per hospital and never a row; bad ranges, another hospital's
rows and downloads without the permission are refused, changing nothing, the denials audited."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest

from store.tables import Consultation, DiagnosisRequest, Examination, StatDay
from store.uow import now
from tests.fixtures.hospitals import ALL_MODULES, Staff, make_hospital
from tests.fixtures.refusals import audited, refuse

pytestmark = pytest.mark.integration

DAY = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)  # 2025-05-06 11:00 in Shanghai


async def fresh(new_api: Any, uniq: Any, demo_alliance: bool = True) -> Any:
    return await make_hospital(
        new_api,
        uniq,
        prefix="ST-",
        name="Statistics {code}",
        level="leading",
        modules=ALL_MODULES,
        demo_alliance=demo_alliance,
        staff={
            "director": Staff(role="Senior radiologist"),
            "clinician": Staff(role="Clinician"),
        },
    )


async def exams(hospital: int, n: int, at: datetime, device: str = "CT") -> None:
    t = now()
    await Examination.insert(
        *[
            Examination(
                hospital=hospital,
                patient_name=f"Stat Patient {i}",
                accession_number=f"SA{i}",
                device_type=device,
                exam_time=at + timedelta(minutes=i),
                created_at=t,
                updated_at=t,
            )
            for i in range(n)
        ]
    )


async def stat_rows() -> Any:
    return await StatDay.count()


async def test_director_sees_figures_bars_rows_and_downloads(new_api, uniq) -> None:
    made = await fresh(new_api, uniq)
    await exams(made.id, 3, DAY)
    await exams(made.id, 2, DAY + timedelta(days=1), "MR")
    client = made["director"].client
    base = "start=2025-05-01&end=2025-05-31"
    overview = (await client.get(f"/api/statistics/overview?{base}")).json()
    assert [(h["hospital_id"], h["examinations"]) for h in overview["hospitals"]] == [(made.id, 5)]
    series = (await client.get(f"/api/statistics/series?{base}&step=day")).json()
    assert series["exam"][5:7] == [3, 2] and sum(series["exam"]) == 5
    month = (await client.get(f"/api/statistics/series?{base}&step=month")).json()
    assert month["labels"] == ["2025-05"] and month["exam"] == [5]
    page = await client.get("/api/statistics/examinations?start=2025-05-06&end=2025-05-06")
    assert page.status_code == 200
    assert sorted(r["accession_number"] for r in page.json()["items"]) == ["SA0", "SA1", "SA2"]
    shown = (await client.get(f"/api/statistics/examinations?{base}&device_type=MR")).json()
    assert len(shown["items"]) == 2

    body = await client.get(f"/api/statistics/download?format=csv&{base}&device_type=MR")
    assert body.status_code == 200 and "text/csv" in body.headers["content-type"]
    lines = list(csv.reader(io.StringIO(body.content.decode("utf-8-sig"))))
    assert len(lines) == 3 and lines[0][0] == "Examination time"
    assert sorted(r[3] for r in lines[1:]) == sorted(r["accession_number"] for r in shown["items"])
    assert lines[1][0].startswith("2025-05-07 11:") and len(lines[1][0]) == 16  # local time
    statuses = {r["status"] for r in shown["items"]}
    assert {r[8] for r in lines[1:]} == {s.replace("_", " ").capitalize() for s in statuses}

    xlsx = await client.get(f"/api/statistics/download?format=xlsx&{base}")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 6
    assert sorted(r[3] for r in rows[1:]) == ["SA0", "SA0", "SA1", "SA1", "SA2"]


async def test_alliance_admin_sees_aggregates_only(new_api, uniq, alliance) -> None:
    made = await fresh(new_api, uniq)
    await exams(made.id, 4, DAY)
    overview = (
        await alliance.get("/api/statistics/overview?start=2025-05-01&end=2025-05-31")
    ).json()
    mine = [h for h in overview["hospitals"] if h["hospital_id"] == made.id]
    assert mine and mine[0]["examinations"] == 4 and len(overview["hospitals"]) > 1
    series = await alliance.get(
        f"/api/statistics/series?start=2025-05-01&end=2025-05-31&hospital_id={made.id}"
    )
    assert sum(series.json()["exam"]) == 4
    rows = await alliance.get(f"/api/statistics/examinations?hospital_id={made.id}")
    assert rows.status_code == 403
    cases = await alliance.get(f"/api/statistics/cases?kind=remote&hospital_id={made.id}")
    assert cases.status_code == 403 and "figures only" in cases.json()["detail"]
    download = await alliance.get(f"/api/statistics/download?hospital_id={made.id}")
    assert download.status_code == 403


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/api/statistics/series?start=2025-05-02&end=2025-05-01", 400, "before the start"),
        ("/api/statistics/series?step=hour", 400, "Unknown step"),
        ("/api/statistics/series?start=2015-01-01&end=2024-12-31&step=day", 400, "at most 400"),
        ("/api/statistics/series?start=yesterday", 400, "not a date"),
        ("/api/statistics/examinations?hospital_id={other}", 403, "not yours"),
        ("/api/statistics/download?format=csv&hospital_id={other}", 403, "not yours"),
        ("/api/statistics/download?format=pdf", 400, "Download as one of"),
        ("/api/statistics/download?format=csv", 403, "clinician:lacks the permission"),
        ("/api/statistics/overview", 403, "clinician:statistics.view"),
        ("/api/statistics/cases?kind=reports", 400, "one of remote, consult"),
        ("/api/statistics/cases?kind=remote&cursor=%25%25", 400, "cursor"),
        ("/api/statistics/cases?kind=remote&hospital_id={other}", 403, "not yours"),
    ],
)
async def test_bad_questions_are_refused_and_audited(new_api, uniq, url, status, says) -> None:
    made = await fresh(new_api, uniq)
    other = await fresh(new_api, uniq)
    await exams(other.id, 2, DAY)
    who, _, says = says.rpartition(":")  # "clinician:…": asked by a doctor without the rights
    who = who or "director"
    member = made[who]
    _, head = await refuse(
        member.client, "GET", url.format(other=other.id), status, says, stat_rows
    )
    if status == 403:  # a refused read is audited when it is a denial (aimis.app)
        await audited(head, status, member.id)


async def test_remote_and_consultation_bars_lead_to_their_cases(new_api, uniq) -> None:
    """The rows behind the remote-diagnosis and consultation bars: as many as the bar says,
    newest first, paged, without a patient's name, each linked where the reader may go."""
    made = await fresh(new_api, uniq)
    sender = await fresh(new_api, uniq)
    await exams(sender.id, 1, DAY)
    exam = await Examination.select(Examination.id).where(Examination.hospital == sender.id).first()
    director = made["director"]
    t = now()
    # 55 requests on 2025-05-06 (a page is 50), one the day after; 2 consultations
    await DiagnosisRequest.insert(
        *[
            DiagnosisRequest(
                examination=exam["id"],
                hospital=sender.id,
                target_hospital=made.id,
                requested_by=sender["director"].id,
                created_at=DAY + timedelta(days=i // 55, seconds=i),
                updated_at=t,
            )
            for i in range(56)
        ]
    )
    await Consultation.insert(
        *[
            Consultation(
                hospital=made.id,
                applicant=director.id,
                topic=f"Stat consult {i}",
                scheduled_at=DAY,
                patient_name="Hidden Name",
                created_at=DAY + timedelta(minutes=i),
            )
            for i in range(2)
        ]
    )
    client = director.client
    day = "start=2025-05-06&end=2025-05-06"
    series = (await client.get(f"/api/statistics/series?{day}")).json()
    assert (series["remote"], series["consult"]) == ([55], [2])
    first = (await client.get(f"/api/statistics/cases?kind=remote&{day}")).json()
    assert len(first["items"]) == 50 and first["next_cursor"]
    after = first["next_cursor"]
    second = (await client.get(f"/api/statistics/cases?kind=remote&{day}&cursor={after}")).json()
    items = first["items"] + second["items"]
    assert len(items) == 55 and second["next_cursor"] is None
    times = [r["created_at"] for r in items]
    assert times == sorted(times, reverse=True) and len({r["id"] for r in items}) == 55
    assert {r["hospital_name"] for r in items} == {sender.name}
    assert {r["link"] for r in items} == {f"/exams/{exam['id']}"}
    consults = (await client.get(f"/api/statistics/cases?kind=consult&{day}")).json()["items"]
    assert len(consults) == 2 and all(r["link"] == f"/consultations/{r['id']}" for r in consults)
    # a filtered bar is 0 (those figures are per hospital), and so are its cases
    filtered = await client.get(f"/api/statistics/cases?kind=remote&{day}&device_type=CT")
    assert filtered.json()["items"] == []
    # the page: the cases in the reader's language, no patient name
    page = await client.get(f"/statistics/cases?kind=consult&{day}")
    assert page.status_code == 200 and page.text.count("data-case=") == 2
    assert "Hidden Name" not in page.text and "Stat consult" not in page.text
    bars = await client.get(f"/statistics/?{day}")
    assert "/statistics/cases?kind=remote&amp;start=2025-05-06&amp;end=2025-05-06" in bars.text
