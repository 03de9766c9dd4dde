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

from store.tables import Examination, StatDay
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
