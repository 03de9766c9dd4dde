"""How an outbox row's flow and its tasks are declared.

``retrying``: the task policy of every IO step of the automated work (3 retries after 2, 5
and 15 s; a ``PermanentFailure`` is not retried; no result cache); ``retrying_after(2, 10)``
the same with other delays.

The dispatcher tags each run with the row's kind so the dashboard can filter by it. Prefect
copies the tags of the context to every task run, and a tagged task run acquires Prefect
concurrency slots first (an API round trip queued through one client-side service, which
an API hiccup stalls for every flow of the process). So the body of an outbox flow runs
with no tags: the run is tagged, its tasks are not.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from prefect import Flow, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TagsContext

from flows.outbox import worth_retrying

Body = Callable[[int], Awaitable[None]]


def retrying_after(*delays: int) -> Any:
    """A task decorator: one retry after each of ``delays`` seconds, unless it failed for
    good (``flows.outbox.PermanentFailure``)."""
    return task(
        retries=len(delays),
        retry_delay_seconds=list(delays),
        retry_condition_fn=worth_retrying,
        cache_policy=NO_CACHE,
    )


retrying = retrying_after(2, 5, 15)


def outbox_flow(name: str) -> Callable[[Body], Flow[Any, Any]]:
    """``@outbox_flow("notify-reset-code")`` on ``async def f(outbox_id: int) -> None``."""

    def declare(body: Body) -> Flow[Any, Any]:
        @functools.wraps(body)
        async def untagged(outbox_id: int) -> None:
            with TagsContext(current_tags=set()):
                await body(outbox_id)

        return flow(name=name, persist_result=False)(untagged)

    return declare
