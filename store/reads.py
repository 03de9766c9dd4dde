"""What the audit row of a patient-data read says, gathered while the request runs.

The row itself is written by ``api.phi.PhiMiddleware`` (one row per successful call of a
route declared with ``api.phi.phi``); services only describe what they read with
``note``: the examination's hospital (so its admin sees who read it), a search's summary,
the row read when the path does not name it. Outside a declared request (the demo, flows,
a test calling a service) ``note`` does nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from contextvars import ContextVar, Token
from dataclasses import dataclass

from store.db import transaction
from store.uow import Ctx, write_audit


@dataclass
class Read:
    hospital_id: int | None = None
    detail: str = ""
    target_type: str = ""
    target_id: str = ""
    written: bool = False


_current: ContextVar[Read | None] = ContextVar("aimis_phi_read", default=None)


def begin() -> tuple[Read, Token[Read | None]]:
    read = Read()
    return read, _current.set(read)


def end(token: Token[Read | None]) -> None:
    _current.reset(token)


def note(
    *,
    hospital_id: int | None = None,
    detail: str | None = None,
    target_type: str | None = None,
    target_id: object = None,
) -> None:
    """Tell the audit row of the read under way what was read (each given field replaces
    what an earlier note said)."""
    read = _current.get()
    if read is None:
        return
    if hospital_id is not None:
        read.hospital_id = int(hospital_id)
    if detail is not None:
        read.detail = detail[:2000]
    if target_type is not None:
        read.target_type = target_type
    if target_id is not None:
        read.target_id = str(target_id)


# --- the audit rows of reads, committed in groups ------------------------------------------


@dataclass
class _Pending:
    ctx: Ctx
    action: str
    target_type: str
    target_id: str
    detail: str
    hospital_id: int | None
    done: asyncio.Future[None]


class ReadAudits:
    """Group commit of reads' audit rows (issue 18): the rows of concurrent reads are written
    in one transaction, one commit (one fsync) for all of them, and each ``write`` returns
    only after the transaction holding its row has committed — a read is never answered
    before its row is durable.

    No timer: the first row starts a group at once; rows that come while a group is being
    written (its turn at SQLite's writer, its statements, its commit) wait for it and form
    the next group. A row waits at most for the group ahead of it and its own. If a group
    fails, each of its rows is tried again in a transaction of its own, so one bad row fails
    only its own read."""

    def __init__(self) -> None:
        self._queue: list[_Pending] = []
        self._running = False
        self._task: asyncio.Task[None] | None = None  # kept: a task only weakly held may vanish
        self.groups = 0
        self.rows = 0

    async def write(
        self,
        ctx: Ctx,
        action: str,
        target_type: str,
        target_id: str,
        *,
        detail: str = "",
        hospital_id: int | None = None,
    ) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(ctx, action, target_type, target_id, detail, hospital_id, done))
        if not self._running:
            self._running = True
            # in a context of its own: never inside the transaction (or the read) of the
            # request that happened to start it
            self._task = asyncio.get_running_loop().create_task(
                self._drain(), context=contextvars.Context()
            )
        await asyncio.shield(done)

    async def _drain(self) -> None:
        group: list[_Pending] = []
        try:
            while self._queue:
                group, self._queue = self._queue, []
                try:
                    async with transaction():
                        for p in group:
                            await _write_one(p)
                except Exception:
                    for p in group:
                        await self._alone(p)
                    continue
                self.groups += 1
                self.rows += len(group)
                for p in group:
                    if not p.done.done():
                        p.done.set_result(None)
        except BaseException as exc:  # cancelled with rows waiting: none is answered
            for p in group + self._queue:
                if not p.done.done():
                    p.done.set_exception(exc)
            self._queue = []
            raise
        finally:
            self._running = False

    async def _alone(self, p: _Pending) -> None:
        try:
            async with transaction():
                await _write_one(p)
        except Exception as exc:
            if not p.done.done():
                p.done.set_exception(exc)
            return
        if not p.done.done():
            p.done.set_result(None)


async def _write_one(p: _Pending) -> None:
    await write_audit(
        p.ctx, p.action, p.target_type, p.target_id, detail=p.detail, hospital_id=p.hospital_id
    )


_groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadAudits] = (
    weakref.WeakKeyDictionary()
)


def read_audits() -> ReadAudits:
    """The group writer of this event loop."""
    loop = asyncio.get_running_loop()
    found = _groups.get(loop)
    if found is None:
        found = _groups[loop] = ReadAudits()
    return found
