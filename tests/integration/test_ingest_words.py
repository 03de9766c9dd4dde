"""Issue 14 (B): one vocabulary for migration runs. For every state of the machine
(``states/migration.py``) and every file outcome, the API, the runs list and the run's page use
the same ids and, in each language, the same words: the list no longer says "failed 2" where
the page says "Refused"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from api.ingest.steps import create_run, ingest_file, record_failure, step
from kernel.i18n import gettext
from states.migration import PIPELINE, FileOutcome, MigrationState, progress
from store.uow import Ctx
from tests.fixtures.hospitals import Staff, make_hospital

pytestmark = pytest.mark.integration

OUTCOMES = [o.value for o in FileOutcome if o != FileOutcome.received]


def a_new_ct(tmp_path: Path) -> bytes:
    ds = dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.SOPInstanceUID, ds.StudyInstanceUID = generate_uid(), generate_uid()
    ds.SeriesInstanceUID, ds.PatientID = generate_uid(), "WORDS-1"
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


async def run_in(hospital_id: int, state: MigrationState, data: bytes) -> int:
    """A run with one file of each outcome, walked by the engine to ``state``."""
    run_id = await create_run(Ctx(), hospital_id, "import", f"words {state}")
    assert (await ingest_file(run_id, data)).status == "stored"
    assert (await ingest_file(run_id, data)).status == "duplicate"
    assert (await ingest_file(run_id, b"not a DICOM file", file_name="notes.txt")).code
    await record_failure(
        run_id, "lost", "The received file is missing.", file_name="lost.dcm", status="failed"
    )
    if state == MigrationState.failed:
        await step(run_id, "fail", reason="The test stops this run.")
    for trigger, _ in PIPELINE[: progress(state)]:
        await step(run_id, trigger)
    return run_id


def words(region: str) -> dict[str, tuple[str, int]]:
    """Each outcome shown in a counts block: its word and its number."""
    found = re.findall(r'data-outcome="(\w+)">([^<]*?):? <strong[^>]*>(\d+)</strong>', region)
    return {o: (word.strip(), int(n)) for o, word, n in found}


def between(html: str, start: str, end: str) -> str:
    at = html.index(start)
    return html[at : html.index(end, at)]


async def test_the_runs_list_and_a_runs_page_say_the_same_for_every_state(
    new_api, uniq, tmp_path
) -> None:
    made = await make_hospital(new_api, uniq, staff={"admin": Staff(admin=True)})
    admin = made["admin"].client
    runs = {s: await run_in(made.id, s, a_new_ct(tmp_path)) for s in MigrationState}

    res = await admin.get("/api/ingest/runs")
    assert res.status_code == 200, res.text
    by_id = {r["id"]: r for r in res.json()["items"]}
    for state, run_id in runs.items():
        read = by_id[run_id]
        assert read["state"] == state
        counts = (read["stored"], read["duplicates"], read["refused"], read["failed"])
        assert counts == (1, 1, 1, 1), read

    for lang in ("en", "zh"):
        admin.http.cookies.set("lang", lang)
        listed = (await admin.get("/manage/migrations")).text
        for state, run_id in runs.items():
            word = gettext(f"migration.{state}", lang=lang)
            assert f"migration.{state}" not in word  # the catalogue has it
            row = between(listed, f'<tr data-run="{run_id}"', "</tr>")
            assert re.search(rf'data-testid="state-{run_id}">{re.escape(word)}<', row), row
            page = (await admin.get(f"/manage/migrations/{run_id}")).text
            assert f'data-testid="run-state">{word}<' in page
            on_page = words(between(page, 'data-testid="counts"', "</div>"))
            in_list = words(row)
            assert set(on_page) == set(OUTCOMES) and set(in_list) == set(OUTCOMES) - {"new_version"}
            for outcome, (label, n) in in_list.items():
                assert on_page[outcome] == (label, n) == (gettext(f"item.{outcome}", lang=lang), 1)
                # each file's status in the page's table is the same word
                rows = re.findall(
                    rf'data-status="{outcome}">.*?<span class="badge st-{outcome}">([^<]*)<',
                    page,
                    re.S,
                )
                assert rows == [label], (outcome, rows)
