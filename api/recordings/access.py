"""Who may see and who may upload a recording: the owner's module answers.

A recording belongs to an owner (``owner_kind``, ``owner_id``). The module of that kind
registers two questions once, at import (``register``); every recording route asks them
through ``may_view`` / ``may_upload``. An owner kind nobody registered refuses everything,
so a recording is closed until its owner opens it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from store.uow import Actor

Question = Callable[[Actor, int], Awaitable[bool]]


@dataclass(frozen=True)
class Owner:
    may_view: Question
    may_upload: Question


_OWNERS: dict[str, Owner] = {}


def register(owner_kind: str, may_view: Question, may_upload: Question) -> None:
    """``may_view(actor, owner_id)``: the details, the video, the poster; ``may_upload``:
    create an upload and send its chunks. Registering a kind again replaces its answers."""
    _OWNERS[owner_kind] = Owner(may_view, may_upload)


def kinds() -> list[str]:
    return sorted(_OWNERS)


async def may_view(actor: Actor, owner_kind: str, owner_id: int) -> bool:
    owner = _OWNERS.get(owner_kind)
    return owner is not None and await owner.may_view(actor, owner_id)


async def may_upload(actor: Actor, owner_kind: str, owner_id: int) -> bool:
    owner = _OWNERS.get(owner_kind)
    return owner is not None and await owner.may_upload(actor, owner_id)
