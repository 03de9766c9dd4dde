"""The QC task's sampling (SPEC 7.1): outbox ``qc.sample`` (written by the task's "sample"
step, ``api/quality/steps.py``), runs named ``qc-sample-<id>-<step>``. It orchestrates
``api.quality.sampling.draw_sample``: the population counted, the seeded draw, the cases
inserted and the step ``sampled`` (or ``nothing_drawn`` with its reason) in one unit of work.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger

from api.live import use_shared_channel
from api.quality.sampling import draw_sample
from flows.outbox import payload_of
from flows.runs import outbox_flow, retrying
from kernel.settings import get_settings


@retrying
async def payload_task(outbox_id: int) -> dict[str, Any]:
    return await payload_of(outbox_id)


@retrying
async def draw_task(task_id: int) -> dict[str, Any]:
    drawn = await draw_sample(task_id)
    return {"population": drawn.population, "sampled": drawn.sampled, "reason": drawn.reason}


@outbox_flow("qc-sample")
async def sample_qc_task(outbox_id: int) -> None:
    use_shared_channel(get_settings().redis.url)
    payload = await payload_task(outbox_id)
    outcome = await draw_task(int(payload["task_id"]))
    get_run_logger().info("QC task %s: %s", payload["task_id"], outcome)
