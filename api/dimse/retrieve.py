"""C-MOVE and C-GET SCP (PS3.4 C.4.2, C.4.3): Patient Root and Study Root.

The identifier names what to send by its level's unique key (PATIENT: PatientID; STUDY:
StudyInstanceUID; SERIES: SeriesInstanceUID; IMAGE: SOPInstanceUID; UID lists allowed, the
higher levels' UIDs narrow when given). The instances are the current ones of the calling
node's hospital (``store.scoping.visible`` with ``api.dimse.access``'s reader, the columns
and rows of ``api.dicomweb.lookup``), each file sent as stored.

- **C-MOVE** goes to a registered node: the Move Destination is the AE title of an enabled
  node of the *caller's* hospital marked "move destination", reached at its host and port
  on a new association (pynetdicom's sub-operation association, the presentation contexts
  those of the instances: their stored transfer syntax, and both little-endian syntaxes for
  an uncompressed one). Any other title (unknown, another hospital's, not a destination,
  switched off) is 0xA801, refused and audited. Pending responses carry the remaining /
  completed / failed / warning counts; a failed sub-operation (refused by the destination,
  a file that cannot be read) is counted and its UID listed in the final response.
- **C-GET** sends on the same association (the caller proposes the storage contexts with
  the SCP role, as ``getscu`` does).
- A node without the retrieve permission gets 0x0124, a malformed identifier 0xA900, an
  archived study 0xA702 with the reason, each audited (``dicom.move`` / ``dicom.get``); a
  request that matches nothing succeeds with no sub-operation. The move of a node without
  the permission, or with a bad identifier, is refused after pynetdicom opened (and at once
  released) the association to a known destination: its C-MOVE handler can answer only
  "destination unknown" before that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import StoragePresentationContexts, build_context

from api.dicomweb.lookup import ARCHIVED_TIERS, STORED_COLUMNS, Stored, archived_message, stored_of
from api.dicomweb.params import UID_RE
from api.dimse.access import (
    IDENTIFIER_DOES_NOT_MATCH,
    MOVE_DESTINATION_UNKNOWN,
    NOT_AUTHORISED,
    Caller,
    Receiver,
    audit,
    caller_of,
    refuse,
    status,
)
from api.dimse.query import CANCEL, PENDING, Malformed, is_patient_root, level_of
from store.scoping import visible
from store.tables import Instance

OUT_OF_RESOURCES_SUBOPS = 0xA702  # unable to perform sub-operations
MAX_CONTEXTS = 128
UNIQUE = {
    "StudyInstanceUID": Instance.study.study_uid,
    "SeriesInstanceUID": Instance.series.series_uid,
    "SOPInstanceUID": Instance.sop_uid,
}
KEY_OF_LEVEL = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}


@dataclass(frozen=True)
class Wanted:
    level: str
    uids: dict[str, tuple[str, ...]]  # keyword → UIDs (StudyInstanceUID, …)
    patient_id: str = ""

    @property
    def what(self) -> str:
        parts = [f"{k}=" + "\\".join(v) for k, v in self.uids.items()]
        if self.patient_id:
            parts.insert(0, f"PatientID={self.patient_id}")
        return f"{self.level} " + " ".join(parts)


def _uid_list(identifier: Dataset, keyword: str) -> tuple[str, ...]:
    value = identifier.get(keyword)
    if value is None or value == "":
        return ()
    values = value.split("\\") if isinstance(value, str) else list(value)
    uids = tuple(str(v).strip() for v in values if str(v).strip())
    for uid in uids:
        if len(uid) > 64 or not UID_RE.match(uid):
            raise Malformed(f"{keyword} {uid[:40]!r} is not a UID (digits and dots, at most 64).")
    return uids


def parse_wanted(identifier: Dataset, patient_root: bool) -> Wanted:
    level = level_of(identifier, patient_root)
    uids = {k: _uid_list(identifier, k) for k in UNIQUE}
    uids = {k: v for k, v in uids.items() if v}
    patient_id = str(identifier.get("PatientID", "") or "").strip()
    key = KEY_OF_LEVEL[level]
    if (level == "PATIENT" and not patient_id) or (level != "PATIENT" and key not in uids):
        raise Malformed(f"A {level} retrieve needs its {key}.")
    if "*" in patient_id or "?" in patient_id:
        raise Malformed("A retrieve names a PatientID, not a pattern.")
    return Wanted(level, uids, patient_id)


async def instances_of(caller: Caller, wanted: Wanted) -> list[Stored]:
    """The current instances the identifier names, of the caller's hospital only; an
    archived study is a ``Malformed``-like refusal (``Archived``)."""
    select = visible(Instance, caller.reader, *STORED_COLUMNS).where(
        Instance.superseded == False  # noqa: E712
    )
    for keyword, uids in wanted.uids.items():
        select = select.where(UNIQUE[keyword].is_in(list(uids)))
    if wanted.patient_id:
        select = select.where(Instance.study.patient_id == wanted.patient_id)
    rows = await select.order_by(Instance.study, Instance.series.series_number).order_by(
        Instance.series, Instance.instance_number, Instance.id
    )
    for row in rows:
        if row["study.tier"] in ARCHIVED_TIERS:
            raise Archived(archived_message(row["study.study_uid"], row["study.tier"]))
    return [stored_of(row) for row in rows]


class Archived(Exception):
    pass


def contexts_for(stored: list[Stored]) -> list[Any]:
    """The presentation contexts of a sub-operation association for these instances."""
    syntaxes: dict[str, list[str]] = {}
    for s in stored:
        offered = syntaxes.setdefault(s.sop_class_uid, [])
        ts = UID(s.transfer_syntax or ImplicitVRLittleEndian)
        for syntax in (
            [ts, ExplicitVRLittleEndian, ImplicitVRLittleEndian] if not ts.is_compressed else [ts]
        ):
            if syntax not in offered:
                offered.append(syntax)
    return [build_context(sop, ts) for sop, ts in list(syntaxes.items())[:MAX_CONTEXTS]]


def dataset_of(stored: Stored) -> Dataset:
    """The file as stored; one that cannot be read is a bare dataset, whose C-STORE fails
    and is counted as a failed sub-operation under its UID."""
    try:
        return dcmread(stored.path)
    except Exception:
        bare = Dataset()
        bare.SOPInstanceUID = stored.sop_uid
        return bare


def destination_of(receiver: Receiver, caller: Caller, title: str) -> tuple[dict | None, str]:
    node = receiver.nodes.get(title)
    if node is None or node["hospital"] != caller.hospital_id:
        return None, f"move destination {title!r} is not a DICOM node of this hospital"
    if not node["move_destination"]:
        return None, f"DICOM node {title} is not marked as a move destination"
    if not node["host"] or not node["port"]:
        return None, f"DICOM node {title} has no address and port to send to"
    return node, ""


def _prepare(
    receiver: Receiver, caller: Caller, event: Any, action: str
) -> tuple[list[Stored] | None, Wanted | None, Dataset | None]:
    """The instances to send, or the refusal to answer with."""
    if not caller.node["may_retrieve"]:
        reason = f"DICOM node {caller.ae_title} may not retrieve (C-MOVE, C-GET)."
        return None, None, refuse(receiver, caller, action, NOT_AUTHORISED, reason)
    try:
        wanted = parse_wanted(event.identifier, is_patient_root(event.request.AffectedSOPClassUID))
        return receiver._run(instances_of(caller, wanted)), wanted, None
    except Malformed as exc:
        return None, None, refuse(receiver, caller, action, IDENTIFIER_DOES_NOT_MATCH, str(exc))
    except Archived as exc:
        return None, None, refuse(receiver, caller, action, OUT_OF_RESOURCES_SUBOPS, str(exc))
    except Exception as exc:
        reason = f"The identifier cannot be read ({type(exc).__name__})."
        return None, None, refuse(receiver, caller, action, IDENTIFIER_DOES_NOT_MATCH, reason)


def _send(
    receiver: Receiver, caller: Caller, event: Any, stored: list[Stored], action: str, to: str
) -> Iterator[tuple[int, Dataset | None]]:
    sent = 0
    for item in stored:
        if event.is_cancelled:
            _audit_sent(receiver, caller, action, stored, sent, to, " (cancelled)")
            yield CANCEL, None
            return
        sent += 1
        yield PENDING, dataset_of(item)
    _audit_sent(receiver, caller, action, stored, sent, to)


def _audit_sent(
    receiver: Receiver,
    caller: Caller,
    action: str,
    stored: list[Stored],
    sent: int,
    to: str,
    extra: str = "",
) -> None:
    studies = sorted({s.study_uid for s in stored})
    detail = f"{sent} of {len(stored)} instance(s) of {len(studies)} study(ies) {to}{extra}"
    receiver._run(
        audit(
            caller,
            action,
            detail + (f": {' '.join(studies)}" if studies else ""),
            target_type="study",
            target_id=studies[0] if studies else "",
        )
    )


def on_move(receiver: Receiver, event: Any) -> Iterator[Any]:
    """EVT_C_MOVE: the destination, the number of sub-operations, then the datasets."""
    caller = caller_of(receiver, event)
    if caller is None:
        yield None, None
        return
    title = str(event.move_destination or "").strip()
    node, reason = destination_of(receiver, caller, title)
    if node is None:
        refuse(receiver, caller, "dicom.move", MOVE_DESTINATION_UNKNOWN, reason)
        yield None, None  # pynetdicom answers 0xA801
        return
    stored, _, refusal = _prepare(receiver, caller, event, "dicom.move")
    # a refusal is answered after pynetdicom associated with the destination: any contexts
    contexts = contexts_for(stored) if stored else StoragePresentationContexts[:MAX_CONTEXTS]
    yield node["host"], int(node["port"]), {"contexts": contexts}
    if refusal is not None or stored is None:
        yield 1
        yield refusal, None
        return
    if not stored:  # pynetdicom answers success at once, without resuming this
        _audit_sent(receiver, caller, "dicom.move", stored, 0, f"moved to {title}")
    yield len(stored)
    yield from _send(receiver, caller, event, stored, "dicom.move", f"moved to {title}")


def on_get(receiver: Receiver, event: Any) -> Iterator[Any]:
    """EVT_C_GET: the number of sub-operations, then the datasets, on this association."""
    caller = caller_of(receiver, event)
    if caller is None:
        yield 1
        yield status(NOT_AUTHORISED, "The association was refused."), None
        return
    stored, _, refusal = _prepare(receiver, caller, event, "dicom.get")
    if refusal is not None or stored is None:
        yield 1
        yield refusal, None
        return
    if not stored:
        _audit_sent(receiver, caller, "dicom.get", stored, 0, "sent on the association")
    yield len(stored)
    yield from _send(receiver, caller, event, stored, "dicom.get", "sent on the association")
