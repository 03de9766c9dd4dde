"""The archive tier's flows (SPEC 9.2, 8.9): they orchestrate the rules of
``api.archive.rules`` (the zip format is ``api.archive.container``), one retrying task per
IO step.

Flows: ``apply-archive-policy`` (scheduled daily, and "run now" from the archive page through
the ``archive.policy`` outbox row), ``archive-study`` (outbox ``archive.study``: one study
archived by hand, ``api/archive/by_hand.py``), ``retrieve-study`` (outbox
``archive.retrieve``, runs named ``retrieval-<id>``), ``rearchive-study`` (outbox
``archive.rearchive``, ``rearchive-<id>``), ``sweep-archive`` (scheduled: due re-archive
timers, stuck requests, retrievals whose outbox row failed). Parameters are ids only. A step
whose row does not exist (``rules.Missing``) fails at once (``PermanentFailure``), without
retries.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar, cast

from prefect import State, flow, get_run_logger

from api.archive.rules import (
    Missing,
    active_hospitals,
    archive_study,
    due_studies,
    fail_abandoned,
    fire_rearchive_timers,
    policy_of,
    queue_stuck_requests,
    rearchive,
    record_run,
    remove_leftovers,
    restore,
)
from api.live import use_shared_channel
from flows.outbox import PermanentFailure, payload_of
from flows.runs import outbox_flow, retrying
from kernel.settings import get_settings

T = TypeVar("T")


async def _permanent(step: Awaitable[T]) -> T:
    """A step whose row does not exist fails at once: trying again cannot help."""
    try:
        return await step
    except Missing as exc:
        raise PermanentFailure(str(exc)) from exc


# --- tasks and flows -------------------------------------------------------------------------


@retrying
async def archive_one(study_id: int) -> str:
    return await _permanent(archive_study(study_id))


@retrying
async def studies_due(hospital_id: int, limit: int) -> list[int]:
    return await due_studies(await policy_of(hospital_id), limit)


@retrying
async def leftovers(hospital_id: int) -> int:
    return await _permanent(remove_leftovers(hospital_id))


@retrying
async def hospitals(hospital_id: int | None) -> list[int]:
    return await active_hospitals(hospital_id)


@flow(name="apply-archive-policy", persist_result=False)
async def apply_archive_policy(hospital_id: int | None = None) -> dict[str, int]:
    """Move every online study past its hospital's policy to the archive tier (at most
    ``AIMIS_ARCHIVE_BATCH`` a hospital per run; the next run takes the rest)."""
    use_shared_channel(get_settings().redis.url)  # a worker process: events reach Redis
    log = get_run_logger()
    total = {"archived": 0, "skipped": 0, "refused": 0, "failed": 0, "leftovers_removed": 0}
    for hid in await hospitals(hospital_id):
        counts = {"archived": 0, "skipped": 0, "refused": 0, "failed": 0}
        counts["leftovers_removed"] = await leftovers(hid)
        for study_id in await studies_due(hid, get_settings().archive.batch):
            run = cast(Awaitable[State[str]], archive_one(study_id, return_state=True))
            state = await run
            outcome = await state.aresult() if state.is_completed() else f"failed: {state.message}"
            counts[outcome.split(":")[0]] = counts.get(outcome.split(":")[0], 0) + 1
            if outcome.startswith(("refused", "failed")):  # the study stays online
                log.warning("study %s stays online: %s", study_id, outcome)
        await record_run(hid, counts)
        for key, value in counts.items():
            total[key] += value
    log.info("archive policy: %s", total)
    return total


@retrying
async def payload_task(outbox_id: int) -> dict[str, Any]:
    return await payload_of(outbox_id)


@retrying
async def restore_task(retrieval_id: int) -> str:
    return await _permanent(restore(retrieval_id))


@retrying
async def rearchive_task(retrieval_id: int) -> str:
    return await _permanent(rearchive(retrieval_id))


@outbox_flow("run-archive-policy")
async def run_archive_policy_now(outbox_id: int) -> None:
    """The archive page's "run the policy now" (outbox ``archive.policy``)."""
    payload = await payload_task(outbox_id)
    await apply_archive_policy(hospital_id=int(payload["hospital_id"]))


@outbox_flow("archive-study")
async def archive_study_now(outbox_id: int) -> None:
    """Outbox ``archive.study``: the admin's "archive now" of one study, archived as the
    policy run archives it (runs named ``archive-study-<id>-<time>``)."""
    payload = await payload_task(outbox_id)
    outcome = await archive_one(int(payload["study_id"]))
    get_run_logger().info("study %s: %s", payload["study_id"], outcome)


@outbox_flow("retrieve-study")
async def retrieve_study(outbox_id: int) -> None:
    """Outbox ``archive.retrieve``: the run is named ``retrieval-<id>``."""
    payload = await payload_task(outbox_id)
    outcome = await restore_task(int(payload["retrieval_id"]))
    get_run_logger().info("retrieval %s: %s", payload["retrieval_id"], outcome)


@outbox_flow("rearchive-study")
async def rearchive_study(outbox_id: int) -> None:
    """Outbox ``archive.rearchive`` (written when the availability ends): ``rearchive-<id>``."""
    payload = await payload_task(outbox_id)
    outcome = await rearchive_task(int(payload["retrieval_id"]))
    get_run_logger().info("retrieval %s: %s", payload["retrieval_id"], outcome)


@retrying
async def sweep_step(name: str) -> int:
    steps = {
        "rearchive_timers": fire_rearchive_timers,
        "stuck_requests": queue_stuck_requests,
        "abandoned": fail_abandoned,
    }
    return await _permanent(steps[name]())


@flow(name="sweep-archive", persist_result=False)
async def sweep_archive() -> dict[str, int]:
    """Scheduled every few minutes (``prefect.yaml``)."""
    use_shared_channel(get_settings().redis.url)
    counts = {
        name: await sweep_step(name) for name in ("rearchive_timers", "stuck_requests", "abandoned")
    }
    get_run_logger().info("archive sweep: %s", counts)
    return counts
