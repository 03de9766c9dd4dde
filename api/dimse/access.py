"""Who a DIMSE request acts for, and the audit of what it did (issue 19).

A calling node reads as its hospital and nothing else: ``reader`` is an ``Actor`` of the
node's hospital (no account, no permissions), and every query goes through
``store.scoping.visible`` with it, the rule every list of the web side uses: that hospital's
rows, never a soft-deleted study. Unlike a doctor's DICOMweb session it does not widen to
the studies shared with the hospital for remote diagnosis: a PACS that pulls a study keeps a
copy, and a remote diagnosis grants reading another hospital's images for a while, not
copying them (so "another hospital's study is never found or retrieved" holds without
exception).

What the node may do is its own switches (``api.ingest.nodes.PERMISSIONS``), read from the
receiver's list of nodes (re-read every two seconds) on every request: a request the node
may not make is answered 0x0124 "Refused: Not Authorised" with the reason, and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydicom.dataset import Dataset

from store.uow import Actor, Ctx, unit_of_work

NOT_AUTHORISED = 0x0124
IDENTIFIER_DOES_NOT_MATCH = 0xA900
MOVE_DESTINATION_UNKNOWN = 0xA801
UNABLE_TO_PROCESS = 0xC000
# what a node reads as: a member of its hospital's staff, for the scoping rule only
NODE_KIND = "doctor"


class Receiver(Protocol):
    """What the services need of ``api.dimse.scp.Receiver``."""

    ae: Any
    nodes: dict[str, dict[str, Any]]

    def session_of(self, assoc: Any) -> Any: ...

    def _run(self, coro: Any, timeout: float = 300) -> Any: ...


@dataclass(frozen=True)
class Caller:
    """The node behind one request: its row as the receiver last read it."""

    node: dict[str, Any]
    address: str

    @property
    def ae_title(self) -> str:
        return str(self.node["ae_title"])

    @property
    def hospital_id(self) -> int:
        return int(self.node["hospital"])

    @property
    def reader(self) -> Actor:
        return Actor(
            user_id=0,
            username=f"dicom:{self.ae_title}",
            kind=NODE_KIND,
            alliance_id=None,
            hospital_id=self.hospital_id,
            department_id=None,
            permissions=frozenset(),
            session_id=0,
            realm="dicom",
        )

    @property
    def ctx(self) -> Ctx:
        return Ctx(ip=self.address, user_agent=f"DICOM {self.ae_title}")


def caller_of(receiver: Receiver, event: Any) -> Caller | None:
    """The node of this association as it is now (None: refused, switched off, removed)."""
    session = receiver.session_of(event.assoc)
    if session is None:
        return None
    node = receiver.nodes.get(session.ae_title)
    if node is None or node["id"] != session.node_id:
        return None
    return Caller(node, session.address)


def status(code: int, comment: str = "") -> Dataset:
    """A response status with its Error Comment (LO: 64 characters of the default
    repertoire; the audit row keeps the whole sentence)."""
    ds = Dataset()
    ds.Status = code
    if comment:
        text = " ".join(comment.split()).encode("ascii", "replace").decode()
        ds.ErrorComment = text if len(text) <= 64 else text[:61] + "..."
    return ds


async def audit(
    caller: Caller,
    action: str,
    detail: str,
    *,
    outcome: str = "success",
    target_type: str = "",
    target_id: str = "",
) -> None:
    """One audit row, of the node's hospital, named after the node (no account acts)."""
    async with unit_of_work(caller.ctx) as uow:
        await uow.audit(
            action,
            target_type,
            target_id[:64],
            outcome=outcome,
            detail=f"{caller.ae_title} ({caller.address}): {detail}",
            hospital_id=caller.hospital_id,
            username=f"dicom:{caller.ae_title}"[:64],
        )


def refuse(receiver: Receiver, caller: Caller, action: str, code: int, reason: str) -> Dataset:
    """Audit a refused request (from the association's thread) and say why."""
    outcome = "denied" if code in (NOT_AUTHORISED, MOVE_DESTINATION_UNKNOWN) else "failure"
    receiver._run(audit(caller, action, f"refused 0x{code:04X}: {reason}", outcome=outcome))
    return status(code, reason)
