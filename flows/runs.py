"""How an outbox row's flow is declared.

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

from prefect import Flow, flow
from prefect.context import TagsContext

Body = Callable[[int], Awaitable[None]]


def outbox_flow(name: str) -> Callable[[Body], Flow[Any, Any]]:
    """``@outbox_flow("notify-reset-code")`` on ``async def f(outbox_id: int) -> None``."""

    def declare(body: Body) -> Flow[Any, Any]:
        @functools.wraps(body)
        async def untagged(outbox_id: int) -> None:
            with TagsContext(current_tags=set()):
                await body(outbox_id)

        return flow(name=name, persist_result=False)(untagged)

    return declare
