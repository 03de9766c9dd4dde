"""The DICOM node (``aimis scp``, started by ``aimis up``), on pynetdicom: C-ECHO, C-STORE,
and query/retrieve (C-FIND, C-MOVE, C-GET: ``api/dimse/query.py``, ``api/dimse/retrieve.py``,
registered here; see ``docs/dicom-conformance.md``).

- Only known AEs may associate: the calling AE titles of the enabled ``DicomNode`` rows
  (re-read every ``REFRESH_SECONDS``); any other is rejected at association time (A-ASSOCIATE-RJ
  "calling AE title not recognised") and the refusal is audited. A node that names a host
  must call from that address, and one without a host is accepted only if its admin marked it
  "any address"; else the association is rejected the same way when it is requested
  (``on_requested``; audited), see ``nodes.refusal``. What a node may do once associated is
  its permissions (store, query, retrieve), checked on each request.
- Each association that stores something is one migration run (source ``cstore``) of the
  node's hospital. Every C-STORE is verified, stored and indexed inline by ``ingest_file``,
  because the response carries the instance's status; the run's flow (thumbnails, billing,
  …) is queued with the run, held while instances arrive, and released when the association
  is released or aborted. A receiver killed mid-association leaves the held row, which falls
  due by itself after ``AIMIS_INGEST_STALE_MINUTES`` (``api.ingest.steps.create_run``).
- pynetdicom runs each association in a thread; the database work runs on this process's
  event loop (``run_coroutine_threadsafe``), so one connection pool serves every association.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    QueryRetrievePresentationContexts,
    evt,
)
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from api.dimse import query, retrieve
from api.ingest import nodes
from api.ingest.steps import (
    ItemResult,
    create_run,
    hand_over,
    ingest_file,
    publish_progress,
    record_failure,
)
from imaging.codecs import prefer_fast_decoders
from kernel.settings import get_settings
from store.db import close_pool, start_pool
from store.tables import DicomNode
from store.uow import Ctx, audit_refusal

log = logging.getLogger("aimis.scp")

REFRESH_SECONDS = 2.0
PROGRESS_SECONDS = 1.0
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
STATUS_OF = {
    "too-large": OUT_OF_RESOURCES,
    "quota": OUT_OF_RESOURCES,
    "not-an-instance": DOES_NOT_MATCH,
    "missing-uid": DOES_NOT_MATCH,
    "missing-patient-id": DOES_NOT_MATCH,
    "failed": OUT_OF_RESOURCES,
}


def status_of(result: ItemResult) -> int:
    if result.ok:
        return SUCCESS
    return STATUS_OF.get(result.code, CANNOT_UNDERSTAND)


@dataclass
class Session:
    """One association of a known node."""

    node_id: int
    hospital_id: int
    ae_title: str
    address: str
    run_id: int | None = None
    last_progress: float = 0.0


@dataclass
class Receiver:
    loop: asyncio.AbstractEventLoop
    ae: AE
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[int, Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- known AEs --------------------------------------------------------------------

    async def refresh(self) -> None:
        rows = await DicomNode.select().where(DicomNode.enabled.eq(True))
        self.nodes = {r["ae_title"]: r for r in rows}
        # an empty list would let everyone in: an unguessable title lets no one in instead
        self.ae.require_calling_aet = list(self.nodes) or ["X" + secrets.token_hex(7)]

    def _run(self, coro: Any, timeout: float = 300) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    @staticmethod
    def _peer(event: Any) -> tuple[str, str]:
        requestor = event.assoc.requestor
        return str(requestor.ae_title).strip(), str(requestor.address)

    def session_of(self, assoc: Any) -> Session | None:
        with self.lock:
            return self.sessions.get(id(assoc))

    def handlers(self) -> Any:
        return [
            (evt.EVT_REQUESTED, self.on_requested),
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_C_FIND, partial(query.on_find, self)),
            (evt.EVT_C_MOVE, partial(retrieve.on_move, self)),
            (evt.EVT_C_GET, partial(retrieve.on_get, self)),
            (evt.EVT_ESTABLISHED, self.on_established),
            (evt.EVT_REJECTED, self.on_rejected),
            (evt.EVT_RELEASED, self.on_ended),
            (evt.EVT_ABORTED, self.on_ended),
        ]

    # --- association life -------------------------------------------------------------

    def on_requested(self, event: Any) -> None:
        """A known AE title calling from an address it may not call from is rejected before
        anything is negotiated (A-ASSOCIATE-RJ, calling AE title not recognised); an unknown
        one is the ACSE's to reject (``require_calling_aet``, audited in ``on_rejected``)."""
        ae_title = str(event.assoc.requestor.primitive.calling_ae_title).strip()
        address = str(event.assoc.requestor.address)
        node = self.nodes.get(ae_title)
        reason = nodes.refusal(node, ae_title, address) if node is not None else ""
        if not reason:
            return
        log.warning("association rejected: %s", reason)
        self._run(
            audit_refusal(
                Ctx(ip=address, user_agent=f"DICOM {ae_title}"), "dicom.associate", reason
            )
        )
        event.assoc.acse.send_reject(0x01, 0x01, 0x03)
        event.assoc.kill()  # as the ACSE does after its own rejections: the PDU goes out first

    def on_rejected(self, event: Any) -> None:
        ae_title, address = self._peer(event)
        log.warning("association from %s (%s) rejected: unknown AE title", ae_title, address)
        self._run(
            audit_refusal(
                Ctx(ip=address, user_agent=f"DICOM {ae_title}"),
                "dicom.associate",
                f"calling AE title {ae_title!r} is not a known DICOM node",
            )
        )

    def on_established(self, event: Any) -> None:
        ae_title, address = self._peer(event)
        node = self.nodes.get(ae_title)
        reason = nodes.refusal(node, ae_title, address)
        if node is None or reason:
            log.warning("association aborted: %s", reason)
            self._run(
                audit_refusal(
                    Ctx(ip=address, user_agent=f"DICOM {ae_title}"), "dicom.associate", reason
                )
            )
            event.assoc.abort()
            return
        with self.lock:
            self.sessions[id(event.assoc)] = Session(
                node["id"], node["hospital"], ae_title, address
            )

    def on_ended(self, event: Any) -> None:
        with self.lock:
            session = self.sessions.pop(id(event.assoc), None)
        if session is not None and session.run_id is not None:
            self._run(hand_over(self._ctx(session), session.run_id))

    @staticmethod
    def _ctx(session: Session) -> Ctx:
        return Ctx(ip=session.address, user_agent=f"DICOM {session.ae_title}")

    # --- services ---------------------------------------------------------------------

    def on_echo(self, event: Any) -> int:
        return SUCCESS

    def on_store(self, event: Any) -> Dataset:
        with self.lock:
            session = self.sessions.get(id(event.assoc))
        if session is None:  # aborted above; nothing may be stored
            return reply(0x0124, "The association was refused; nothing is stored.")
        if not self.nodes.get(session.ae_title, {}).get("may_store", False):
            reason = f"DICOM node {session.ae_title} may not store (C-STORE)."
            self._run(audit_refusal(self._ctx(session), "dicom.store", reason))
            return reply(0x0124, reason)
        try:
            status, comment = self._run(self._store(session, event.encoded_dataset()))
        except Exception:
            log.exception("C-STORE from %s failed", session.ae_title)
            return reply(OUT_OF_RESOURCES, "The instance could not be stored; send it again.")
        return reply(status, comment)

    async def _store(self, session: Session, data: bytes) -> tuple[int, str]:
        ctx = self._ctx(session)
        if session.run_id is None:
            session.run_id = await create_run(  # its follow-up held until the release
                ctx,
                session.hospital_id,
                "cstore",
                f"{session.ae_title} {session.address}",
                follow_up=True,
            )
        try:
            result = await ingest_file(session.run_id, data, ctx=ctx)
        except Exception as exc:
            await record_failure(
                session.run_id,
                "failed",
                f"The instance could not be stored ({type(exc).__name__}); send it again.",
                size=len(data),
                ctx=ctx,
                status="failed",
            )
            raise
        if time.monotonic() - session.last_progress > PROGRESS_SECONDS:
            session.last_progress = time.monotonic()
            await publish_progress(session.run_id, ctx)
        return status_of(result), "" if result.ok else result.reason


def reply(status: int, comment: str = "") -> Dataset:
    """The C-STORE response's status, with the refusal's sentence as its Error Comment
    (0000,0902: LO, at most 64 characters; the migration run keeps the whole reason)."""
    ds = Dataset()
    ds.Status = status
    if comment and status != SUCCESS:
        text = " ".join(comment.replace("×", "x").split())
        text = text.encode("ascii", "replace").decode()  # the default character repertoire
        ds.ErrorComment = text if len(text) <= 64 else text[:61] + "..."
    return ds


def build_ae(ae_title: str) -> AE:
    ae = AE(ae_title=ae_title)
    ae.maximum_pdu_size = 0  # no limit: fewer, larger PDUs
    for cx in AllStoragePresentationContexts:  # the SCP role too: C-GET's sub-operations
        assert cx.abstract_syntax is not None
        ae.add_supported_context(
            cx.abstract_syntax, ALL_TRANSFER_SYNTAXES, scu_role=False, scp_role=True
        )
    for cx in QueryRetrievePresentationContexts:
        assert cx.abstract_syntax is not None
        ae.add_supported_context(cx.abstract_syntax)
    ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
    ae.require_called_aet = False  # senders often call us by another title
    return ae


async def serve(stop: asyncio.Event) -> None:
    settings = get_settings()
    host = settings.dicom.host or settings.server.host
    prefer_fast_decoders()
    await start_pool()
    loop = asyncio.get_running_loop()
    ae = build_ae(settings.dicom.ae_title)
    receiver = Receiver(loop, ae)
    await receiver.refresh()
    server = await asyncio.to_thread(
        ae.start_server, (host, settings.dicom.port), False, evt_handlers=receiver.handlers()
    )
    log.info(
        "DICOM receiver %s listening on %s:%d (%d known node(s))",
        settings.dicom.ae_title,
        host,
        settings.dicom.port,
        len(receiver.nodes),
    )
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)
            except TimeoutError:
                try:
                    await receiver.refresh()
                except Exception:  # the database may be briefly away: keep the last list
                    log.exception("reading the DICOM nodes failed")
    finally:
        assert server is not None
        await asyncio.to_thread(ae.shutdown)  # the server and any association still open
        await close_pool()


def run_scp() -> int:
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    try:
        asyncio.run(main())
    except OSError as exc:  # the port is taken, the address is not ours
        log.error("the DICOM receiver could not start: %s", exc)
        return 1
    return 0
