"""The outbox dispatcher: runs due outbox rows as async Prefect flows.

Loop: when a row is due and the Prefect API answers, claim rows (``flows.outbox``) and run
the flow of each row's kind, named after the case (its idempotency key, e.g.
``reset-code-17``) and tagged with the kind; the only parameter is the outbox id. A kind
with a batch flow (case notices) is claimed up to ``AIMIS_DISPATCH_BATCH_SIZE`` rows at a
time into one flow run of one slot (parameter: the ids; each row a task run of its own),
whose outcomes are recorded row by row. Success marks the row done and scrubs its secrets;
a failed run backs off (``next_at`` doubles) until ``max_attempts``, then the row is failed;
a run Prefect could not even start (API down), or that has not begun running within
``AIMIS_DISPATCH_START_SECONDS`` (an overloaded Prefect API), gives its rows back without
counting them and frees its slot. A killed dispatcher loses nothing: its rows are due again
when their lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

import httpx
from prefect import Flow, State, tags
from prefect.client.schemas.objects import FlowRun

from api.live import use_shared_channel
from flows import outbox
from flows.archive import (
    archive_study_now,
    rearchive_study,
    retrieve_study,
    run_archive_policy_now,
)
from flows.meetings import create_consultation_meeting
from flows.migration import migration_flow
from flows.notify import (
    deliver_case_notice,
    deliver_case_notices,
    deliver_reset_code,
    use_channels,
)
from flows.outbox import Job, Outcome, failure_of
from flows.patient_archive import deliver_patient_notice, deliver_patient_notices
from flows.patient_codes import deliver_patient_code
from flows.quality import sample_qc_task
from flows.recordings import process_recording
from flows.report_dicom import store_report_dicom
from kernel.settings import DispatchSettings, get_settings
from notifiers.channels import build_channels
from store.db import close_pool, start_pool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handler:
    flow: Flow[Any, Any]
    secrets: tuple[str, ...] = ()  # payload keys removed once the row is finished
    urgent: bool = False  # someone is waiting for it: claimed first, with slots of its own
    # rows of this kind are claimed together and run by this flow (``outbox_ids``, returns
    # an ``Outcome`` per row): one flow run per batch instead of one per row
    batch: Flow[Any, Any] | None = None


HANDLERS: dict[str, Handler] = {
    "notify.reset_code": Handler(deliver_reset_code, secrets=("code",), urgent=True),
    "notify.patient_code": Handler(deliver_patient_code, secrets=("code",), urgent=True),
    "notify": Handler(deliver_case_notice, batch=deliver_case_notices),
    "meeting.create": Handler(create_consultation_meeting),
    "migration": Handler(migration_flow),
    "archive.retrieve": Handler(retrieve_study),
    "archive.rearchive": Handler(rearchive_study),
    "archive.policy": Handler(run_archive_policy_now),
    "archive.study": Handler(archive_study_now),
    "report.dicom": Handler(store_report_dicom),
    "notify-patient": Handler(deliver_patient_notice, batch=deliver_patient_notices),
    "qc.sample": Handler(sample_qc_task, urgent=True),
    "recording.process": Handler(process_recording),
}


KINDS = sorted(HANDLERS)
URGENT = sorted(kind for kind, handler in HANDLERS.items() if handler.urgent)
ROUTINE = sorted(kind for kind, handler in HANDLERS.items() if not handler.urgent)
URGENT_SLOTS = 2  # never taken by routine work: a backlog cannot hold up a reset code


async def report_unhandled() -> None:
    """Say which waiting rows this dispatcher leaves alone (a newer version handles them)."""
    with contextlib.suppress(Exception):
        for kind, count in (await outbox.unhandled(KINDS)).items():
            log.warning("%d outbox row(s) of kind %r wait: no flow handles that kind", count, kind)


class PrefectProbe:
    """Is the Prefect API answering? Asked only when work is due, remembered briefly."""

    def __init__(self, api_url: str, remember_seconds: float = 2.0) -> None:
        self.url = f"{api_url.rstrip('/')}/health"
        self.remember = remember_seconds
        self._ok_until = 0.0
        self._was_down = False
        self._http = httpx.AsyncClient(timeout=2.0)

    async def ok(self) -> bool:
        if time.monotonic() < self._ok_until:
            return True
        try:
            answered = (await self._http.get(self.url)).status_code == 200
        except httpx.HTTPError:
            answered = False
        if answered:
            self._ok_until = time.monotonic() + self.remember
            if self._was_down:
                log.info("Prefect API answers again; dispatching")
        elif not self._was_down:
            log.warning("Prefect API %s does not answer; due work waits", self.url)
        self._was_down = not answered
        return answered

    def forget(self) -> None:
        self._ok_until = 0.0

    async def aclose(self) -> None:
        await self._http.aclose()


MISSING = Outcome(0, False, "no outcome from the batch run")


class NotBegun(Exception):
    """The flow run was not running within ``start_seconds``."""


class Dispatcher:
    """Runs claimed rows in slots: a slot is one flow run, of one row or of a batch."""

    def __init__(self, settings: DispatchSettings, probe: PrefectProbe) -> None:
        self.settings = settings
        self.probe = probe
        self.running: dict[int, tuple[Job, ...]] = {}  # slot (its first row's id) -> rows
        self.tasks: set[asyncio.Task[None]] = set()

    def backoff(self, attempts: int) -> float:
        s = self.settings
        return min(s.backoff_seconds * 2 ** max(attempts - 1, 0), s.backoff_max_seconds)

    async def poll(self) -> None:
        free = self.settings.concurrency - len(self.running)
        if free <= 0 or not await outbox.has_due(KINDS) or not await self.probe.ok():
            return
        lease = self.settings.lease_seconds
        jobs = await outbox.claim(URGENT, free, lease)
        routine_running = sum(1 for slot in self.running.values() if slot[0].kind in ROUTINE)
        routine_free = min(
            free - len(jobs), self.settings.concurrency - URGENT_SLOTS - routine_running
        )
        slots: list[tuple[Job, ...]] = [(job,) for job in jobs]
        if routine_free > 0:  # the oldest due rows first; a batched kind's row fills a batch
            for job in await outbox.claim(ROUTINE, routine_free, lease):
                more = []
                if HANDLERS[job.kind].batch is not None and self.settings.batch_size > 1:
                    more = await outbox.claim([job.kind], self.settings.batch_size - 1, lease)
                slots.append((job, *more))
        for slot in slots:
            self.running[slot[0].id] = slot
            name = f"outbox-{slot[0].id}" + (f"+{len(slot) - 1}" if len(slot) > 1 else "")
            task = asyncio.create_task(self.run(slot), name=name)
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self._forget, slot[0].id))

    def _forget(self, slot_id: int, task: asyncio.Task[None]) -> None:
        self.running.pop(slot_id, None)
        self.tasks.discard(task)

    async def run(self, slot: tuple[Job, ...]) -> None:
        try:
            await self._run(slot)
        except Exception:  # e.g. the database was away while recording the outcome
            keys = ", ".join(job.key for job in slot[:3]) + (" …" if len(slot) > 3 else "")
            log.exception("outbox %s (%s): will run again when its lease ends", slot[0].id, keys)

    async def _run(self, slot: tuple[Job, ...]) -> None:
        first = slot[0]
        handler = HANDLERS[first.kind]
        batch = handler.batch is not None and self.settings.batch_size > 1
        keeper = asyncio.create_task(self._keep_lease(slot))
        limit = self.settings.run_timeout_seconds
        try:
            with tags(first.kind):
                if batch:
                    assert handler.batch is not None
                    flow = handler.batch
                    name = (
                        first.key
                        if len(slot) == 1
                        else f"{first.kind}-batch-{first.id}-{len(slot)}"
                    )
                    call: dict[str, Any] = {"outbox_ids": [job.id for job in slot]}
                else:
                    flow, name, call = handler.flow, first.key, {"outbox_id": first.id}
                state = await self._started(flow, name, call, limit)
        except NotBegun as exc:  # an overloaded Prefect API: not the delivery's fault
            self.probe.forget()
            for job in slot:
                await outbox.release(job, str(exc), self.backoff(1))
            log.warning("outbox %s (%s, %d row(s)) waits: %s", first.id, first.key, len(slot), exc)
            return
        except TimeoutError:  # a run that hangs must not hold its rows (and a slot) forever
            for job in slot:
                await self._failed(job, handler, f"the flow run did not finish in {limit:.0f} s")
            return
        except Exception as exc:  # Prefect could not run the flow: not the delivery's fault
            self.probe.forget()
            for job in slot:
                await outbox.release(job, f"Prefect: {exc}", self.settings.prefect_wait_seconds)
            log.warning("outbox %s (%s) waits: Prefect: %s", first.id, first.key, exc)
            return
        finally:
            keeper.cancel()
        if batch:
            await self._finish_batch(slot, handler, state)
        else:
            await self._finish(first, handler, state)

    async def _started(
        self, flow: Flow[Any, Any], name: str, call: dict[str, Any], limit: float
    ) -> State[Any]:
        """Run the flow; ``NotBegun`` if it is not running within ``start_seconds`` (it is
        cancelled then: nothing of it has run), ``TimeoutError`` after ``limit``."""
        began = asyncio.Event()

        def begin(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
            began.set()

        run_flow = flow.with_options(flow_run_name=name, on_running=[begin])
        running = asyncio.ensure_future(
            cast(Awaitable[State[Any]], run_flow(**call, return_state=True))
        )
        started_at = time.monotonic()
        try:
            waiting = asyncio.ensure_future(began.wait())
            await asyncio.wait(
                [running, waiting],
                timeout=self.settings.start_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiting.cancel()
            if not began.is_set() and not running.done():
                running.cancel()
                with contextlib.suppress(BaseException):
                    await running
                raise NotBegun(
                    f"the flow run did not begin within {self.settings.start_seconds:.0f} s"
                )
            left = max(limit - (time.monotonic() - started_at), 0.0)
            return await asyncio.wait_for(asyncio.shield(running), left)
        finally:
            if not running.done():
                running.cancel()
                with contextlib.suppress(BaseException):
                    await running

    async def _finish(self, job: Job, handler: Handler, state: State[Any]) -> None:
        flow_run_id = str(state.state_details.flow_run_id or "")
        if state.is_completed():
            await outbox.complete(job, flow_run_id, handler.secrets)
            log.info("outbox %s (%s) done", job.id, job.key)
            return
        reason, permanent = await failure_of(state)
        await self._failed(job, handler, reason, flow_run_id, permanent)

    async def _finish_batch(
        self, slot: tuple[Job, ...], handler: Handler, state: State[Any]
    ) -> None:
        """Each row by its own outcome; a batch run that failed as a whole fails them all
        (their notices already sent stay sent: a retry skips them)."""
        flow_run_id = str(state.state_details.flow_run_id or "")
        outcomes: dict[int, Outcome] = {}
        if state.is_completed():
            result = await state.aresult(raise_on_failure=False)
            if isinstance(result, list):
                outcomes = {o.outbox_id: o for o in result if isinstance(o, Outcome)}
        else:
            reason, _permanent = await failure_of(state)
            outcomes = {
                job.id: Outcome(job.id, False, f"the batch run failed: {reason}") for job in slot
            }
        sent = [job for job in slot if (outcomes.get(job.id) or MISSING).ok]
        for job in slot:
            outcome = outcomes.get(job.id) or MISSING
            if not outcome.ok:
                await self._failed(job, handler, outcome.error, flow_run_id, outcome.permanent)
            elif handler.secrets:
                await outbox.complete(job, flow_run_id, handler.secrets)
        if sent and not handler.secrets:  # one statement for all, not one per row
            await outbox.complete_all(sent, flow_run_id)
        done = len(sent)
        log.info(
            "outbox batch %s (%d rows, %s …) done: %d sent, %d again later or failed",
            flow_run_id,
            len(slot),
            slot[0].key,
            done,
            len(slot) - done,
        )

    async def _failed(
        self,
        job: Job,
        handler: Handler,
        reason: str,
        flow_run_id: str = "",
        permanent: bool = False,
    ) -> None:
        if permanent or job.attempts >= self.settings.max_attempts:
            await outbox.give_up(job, reason, flow_run_id, handler.secrets)
            log.error(
                "outbox %s (%s) failed after %s attempts: %s", job.id, job.key, job.attempts, reason
            )
            return
        delay = self.backoff(job.attempts)
        await outbox.retry_later(job, reason, flow_run_id, delay)
        log.warning(
            "outbox %s (%s) attempt %s failed, again in %.1f s: %s",
            job.id,
            job.key,
            job.attempts,
            delay,
            reason,
        )

    async def _keep_lease(self, slot: tuple[Job, ...]) -> None:
        every = self.settings.lease_seconds / 3
        held = list(slot)
        while held:
            await asyncio.sleep(every)
            for job in list(held):
                with contextlib.suppress(Exception):  # a missed renewal is retried next period
                    if not await outbox.renew(job, self.settings.lease_seconds):
                        log.warning("outbox %s: lease lost to another dispatcher", job.id)
                        held.remove(job)

    async def drain(self, grace_seconds: float) -> None:
        """On stop: let running flows finish briefly, then cancel them (their rows come
        back when the lease ends)."""
        if not self.tasks:
            return
        _done, pending = await asyncio.wait(list(self.tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def warm_up() -> None:
    """Load now what Prefect loads lazily on the first flow run (about a second on two
    cores), so that the first verification code after a start is as quick as the rest."""
    import importlib

    for module in ("prefect.flow_engine", "prefect.task_engine", "fastapi.encoders"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def show_tasks() -> None:
    """SIGUSR1 (``kill -USR1 <pid>``): log where each running flow waits, for operators."""
    for task in asyncio.all_tasks():
        where, coro = [], cast(Any, task.get_coro())
        while coro is not None:
            if (frame := getattr(coro, "cr_frame", None)) is not None:
                where.append(f"  {frame.f_code.co_filename}:{frame.f_lineno}")
            coro = getattr(coro, "cr_await", None)
        log.warning("task %s waits in:\n%s", task.get_name(), "\n".join(where))


async def run_dispatcher(stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop``)."""
    for name in ("flows", "notifiers"):  # whatever level Prefect gave the root logger
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # every Prefect API call
    logging.getLogger("apprise").setLevel(logging.WARNING)  # names every recipient
    # a line per completed task run (a batch's notices) would be a row each in Prefect's
    # database; its state says the same. Retries and failures (ERROR) still go there.
    logging.getLogger("prefect.task_runs").setLevel(logging.WARNING)
    settings, dispatch = get_settings(), get_settings().dispatch
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, show_tasks)
    use_channels(build_channels(settings))
    use_shared_channel(settings.redis.url)  # the meeting link's event, with Redis
    probe = PrefectProbe(settings.prefect_api, dispatch.prefect_wait_seconds)
    dispatcher = Dispatcher(dispatch, probe)
    await start_pool()
    warm_up()
    await report_unhandled()
    log.info(
        "dispatcher: polling the outbox every %.1f s, flows on the Prefect API %s",
        dispatch.poll_seconds,
        settings.prefect_api,
    )
    try:
        while not stop.is_set():
            try:
                await dispatcher.poll()
            except Exception:  # the database may be briefly away: keep polling
                log.exception("dispatcher: polling the outbox failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), dispatch.poll_seconds)
    finally:
        await dispatcher.drain(grace_seconds=5)
        await probe.aclose()
        await close_pool()
        log.info("dispatcher stopped")
