"""The outbox dispatcher: runs each due outbox row as an async Prefect flow.

Loop: when a row is due and the Prefect API answers, claim rows (``flows.outbox``), run
the flow of each row's kind, named after the case (its idempotency key, e.g.
``reset-code-17``) and tagged with the kind; the only parameter is the outbox id. Success
marks the row done and scrubs its secrets; a failed run backs off (``next_at`` doubles) until
``max_attempts``, then the row is failed; a run Prefect could not even start (API down)
gives the row back without counting it. A killed dispatcher loses nothing: its rows are
due again when their lease ends.
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
from flows.notify import deliver_case_notice, deliver_reset_code, use_channels
from flows.outbox import Job, PermanentFailure
from flows.patient_archive import deliver_patient_notice
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


HANDLERS: dict[str, Handler] = {
    "notify.reset_code": Handler(deliver_reset_code, secrets=("code",), urgent=True),
    "notify.patient_code": Handler(deliver_patient_code, secrets=("code",), urgent=True),
    "notify": Handler(deliver_case_notice),
    "meeting.create": Handler(create_consultation_meeting),
    "migration": Handler(migration_flow),
    "archive.retrieve": Handler(retrieve_study),
    "archive.rearchive": Handler(rearchive_study),
    "archive.policy": Handler(run_archive_policy_now),
    "archive.study": Handler(archive_study_now),
    "report.dicom": Handler(store_report_dicom),
    "notify-patient": Handler(deliver_patient_notice),
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


class Dispatcher:
    def __init__(self, settings: DispatchSettings, probe: PrefectProbe) -> None:
        self.settings = settings
        self.probe = probe
        self.running: dict[int, Job] = {}
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
        routine_running = sum(1 for job in self.running.values() if job.kind in ROUTINE)
        routine_free = min(
            free - len(jobs), self.settings.concurrency - URGENT_SLOTS - routine_running
        )
        if routine_free > 0:
            jobs += await outbox.claim(ROUTINE, routine_free, lease)
        for job in jobs:
            self.running[job.id] = job
            task = asyncio.create_task(self.run(job), name=f"outbox-{job.id}")
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self._forget, job.id))

    def _forget(self, job_id: int, task: asyncio.Task[None]) -> None:
        self.running.pop(job_id, None)
        self.tasks.discard(task)

    async def run(self, job: Job) -> None:
        try:
            await self._run(job)
        except Exception:  # e.g. the database was away while recording the outcome
            log.exception("outbox %s (%s): will run again when its lease ends", job.id, job.key)

    async def _run(self, job: Job) -> None:
        handler = HANDLERS[job.kind]
        keeper = asyncio.create_task(self._keep_lease(job))
        limit = self.settings.run_timeout_seconds
        try:
            with tags(job.kind):
                run_flow = handler.flow.with_options(flow_run_name=job.key)
                state = await asyncio.wait_for(
                    cast(Awaitable[State[Any]], run_flow(outbox_id=job.id, return_state=True)),
                    limit,
                )
        except TimeoutError:  # a run that hangs must not hold its row (and a slot) forever
            await self._failed(job, handler, f"the flow run did not finish in {limit:.0f} s", "")
            return
        except Exception as exc:  # Prefect could not run the flow: not the delivery's fault
            self.probe.forget()
            await outbox.release(job, f"Prefect: {exc}", self.settings.prefect_wait_seconds)
            log.warning("outbox %s (%s) waits: Prefect: %s", job.id, job.key, exc)
            return
        finally:
            keeper.cancel()
        await self._finish(job, handler, state)

    async def _finish(self, job: Job, handler: Handler, state: State[Any]) -> None:
        flow_run_id = str(state.state_details.flow_run_id or "")
        if state.is_completed():
            await outbox.complete(job, flow_run_id, handler.secrets)
            log.info("outbox %s (%s) done", job.id, job.key)
            return
        error = await state.aresult(raise_on_failure=False)
        reason = (
            f"{type(error).__name__}: {error}"
            if isinstance(error, BaseException)
            else str(state.message or state.name)
        )
        await self._failed(job, handler, reason, flow_run_id, isinstance(error, PermanentFailure))

    async def _failed(
        self, job: Job, handler: Handler, reason: str, flow_run_id: str, permanent: bool = False
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

    async def _keep_lease(self, job: Job) -> None:
        every = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):  # a missed renewal is retried next period
                if not await outbox.renew(job, self.settings.lease_seconds):
                    log.warning("outbox %s: lease lost to another dispatcher", job.id)
                    return

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
