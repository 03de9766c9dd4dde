"""What ``aimis import`` does, and the demo's studies: every file enters through
``ingest_files`` and every run walks the migration machine's steps."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from pydicom import dcmread

from api.ingest.steps import Received, create_run, ingest_files
from api.ingest.upload import import_path
from imaging.synth import Sizes, synth
from kernel.errors import BadRequest
from kernel.i18n import Msg
from store.tables import Hospital, MigrationRun
from store.uow import Ctx

CLI_CTX = Ctx(ip="cli", user_agent="aimis import")
DEMO_CTX = Ctx(ip="127.0.0.1", user_agent="aimis demo")
DEMO_DETAIL = "demo studies"
DEMO_ARCHIVED = "demo archived study"
ARCHIVED_HOSPITAL = "EAST"
ARCHIVED_DATE = "20190315"


async def hospital_by_code(code: str) -> int:
    row = await Hospital.select(Hospital.id).where(Hospital.code == code.upper()).first()
    if row is None:
        codes = ", ".join(r["code"] for r in await Hospital.select(Hospital.code))
        raise BadRequest(
            "No hospital has the code {code!r}; known codes: {codes}.",
            code=code,
            codes=codes or Msg("none"),
        )
    return int(row["id"])


async def import_files(path: Path, hospital_code: str, now: bool) -> tuple[int, str]:
    """Spool ``path`` for the hospital; ``now``: migrate here instead of by the dispatcher.
    Returns (run id, state)."""
    hospital_id = await hospital_by_code(hospital_code)
    run_id = await import_path(CLI_CTX, hospital_id, path, queue=not now)
    if not now:
        return run_id, "received"
    from flows.migration import migrate_inline

    return run_id, await migrate_inline(run_id)


async def load_demo_studies(hospital_ids: dict[str, int], patients: int = 1) -> list[int]:
    """A few small synthetic studies per demo hospital (once), through the ingest path."""
    from flows.migration import migrate_inline

    runs = []
    for n, (code, hospital_id) in enumerate(sorted(hospital_ids.items())):
        if await MigrationRun.exists().where(
            MigrationRun.hospital == hospital_id, MigrationRun.source_detail == DEMO_DETAIL
        ):
            continue
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=f"aimis-demo-{code}-"))
        try:
            written = await asyncio.to_thread(
                synth, folder, patients=patients, seed=2026 + n, sizes=Sizes.small()
            )
            run_id = await create_run(DEMO_CTX, hospital_id, "import", DEMO_DETAIL)
            # no spool: the files are ours and already on this disk
            received = [Received(path, path.name) for path in written]
            await ingest_files(run_id, received, ctx=DEMO_CTX)
            await migrate_inline(run_id)
            runs.append(run_id)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
    return runs


def _date_back(paths: list[Path], day: str) -> None:
    """An archived study is an old one: its dates set to ``day`` (so it sorts last in the
    lists, behind the demo's online studies)."""
    for path in paths:
        ds = dcmread(path)
        for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            if keyword in ds:
                setattr(ds, keyword, day)
        ds.save_as(path)


async def load_demo_archived_study(hospital_ids: dict[str, int]) -> int | None:
    """One study of its own patient in the archive tier of EAST (once), so retrieval
    (SPEC 8.9, 9.2) can be tried at once: ingested like the others, then archived by the
    archive process's own rule (``api.archive.rules.archive_study``). Its study id."""
    from api.archive.rules import archive_study
    from flows.migration import migrate_inline

    hospital_id = hospital_ids.get(ARCHIVED_HOSPITAL)
    if hospital_id is None or await MigrationRun.exists().where(
        MigrationRun.hospital == hospital_id, MigrationRun.source_detail == DEMO_ARCHIVED
    ):
        return None
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="aimis-demo-archive-"))
    try:
        written = await asyncio.to_thread(synth, folder, patients=1, seed=2099, sizes=Sizes.small())
        ct = [path for path in written if "CT" in path.name] or written
        await asyncio.to_thread(_date_back, ct, ARCHIVED_DATE)
        run_id = await create_run(DEMO_CTX, hospital_id, "import", DEMO_ARCHIVED)
        results = await ingest_files(run_id, [Received(p, p.name) for p in ct], ctx=DEMO_CTX)
        await migrate_inline(run_id)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    study_id = next((r.study_id for r in results if r.study_id is not None), None)
    if study_id is None or await archive_study(study_id) != "archived":
        return None
    return study_id
