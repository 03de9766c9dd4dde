"""Housekeeping of the data folder: what a crash left behind is removed (DESIGN.md: every
write is a temp file renamed into place, so a crash leaves at worst a temp file).

Swept: ``.tmp-*`` files of the atomic writes (image store, archive containers, thumbnails,
attachments, logos), ``.upload-*.tmp`` files an older version left, and the receiving
folders of STOW-RS requests and uploads (``dicom/spool/incoming/*``) — each only once untouched for
``AIMIS_TEMP_MAX_AGE_HOURS``, so nothing still being written is removed; with them the
pre-rendered pictures (``api.dicomweb.rendered.sweep_prerendered``) of files that are no
current online instance any more (replaced, archived, purged) or drawn by an older renderer.
Scheduled hourly in ``prefect.yaml`` (deployment ``sweep-temp-files``).

And of the migration runs: a run a crash left waiting in ``received`` without a follow-up
(no flow pending or running for it) for ``AIMIS_INGEST_STALE_MINUTES`` is retried through the
engine (``api.ingest.steps.requeue_stale``: a history row, its flow queued again), every 10
minutes (deployment ``requeue-stale-migrations``).

And of the database: ended login sessions (staff, patient, share link) and spent one-time
codes are deleted a day after they ended (``store.sessions.purge_ended``), hourly too
(deployment ``purge-ended-sessions``).
"""

from __future__ import annotations

import asyncio

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from api.dicomweb.rendered import sweep_prerendered
from api.ingest.steps import requeue_stale
from api.live import use_shared_channel
from kernel.settings import get_settings
from store import files, sessions


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def sweep(older_than_seconds: float) -> tuple[int, int]:
    return await asyncio.to_thread(files.sweep_temp, None, older_than_seconds)


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def sweep_pictures(older_than_seconds: float) -> tuple[int, int]:
    return await sweep_prerendered(older_than_seconds)


@flow(name="sweep-temp-files", persist_result=False)
async def sweep_temp_files() -> int:
    """Remove leftovers older than the configured age, and the pre-rendered pictures no
    request can be answered with any more; returns how many leftovers."""
    hours = get_settings().server.temp_max_age_hours
    removed, freed = await sweep(hours * 3600)
    logger = get_run_logger()
    logger.info("%d leftover(s) untouched for %g h removed, %d bytes freed", removed, hours, freed)
    pictures, picture_bytes = await sweep_pictures(hours * 3600)
    logger.info(
        "%d pre-rendered picture(s) of replaced, archived or purged files removed, %d bytes freed",
        pictures,
        picture_bytes,
    )
    return removed


@flow(name="purge-ended-sessions", persist_result=False)
async def purge_ended_sessions() -> int:
    """Delete the sessions and codes that ended more than a day ago; returns how many."""
    removed = await sessions.purge_ended()
    get_run_logger().info(
        "ended sessions and spent codes removed: %s",
        ", ".join(f"{table} {n}" for table, n in removed.items()),
    )
    return sum(removed.values())


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def requeue(older_than_seconds: float) -> list[int]:
    return await requeue_stale(older_than_seconds)


@flow(name="requeue-stale-migrations", persist_result=False)
async def requeue_stale_migrations() -> int:
    """Queue the flow of each run stuck in ``received`` without one; returns how many."""
    use_shared_channel(get_settings().redis.url)
    minutes = get_settings().ingest.stale_minutes
    runs = await requeue(minutes * 60)
    get_run_logger().info(
        "%d migration run(s) waiting in received for over %g min without a follow-up queued "
        "again: %s",
        len(runs),
        minutes,
        runs,
    )
    return len(runs)
