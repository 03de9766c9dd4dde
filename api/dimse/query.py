"""C-FIND SCP (PS3.4 C.4.1): Patient Root and Study Root, PATIENT / STUDY / SERIES / IMAGE.

An identifier becomes the QIDO-RS search of the same keys: its values are handed, as the
query parameters of that name, to ``api.dicomweb.params.parse_qido`` (wildcards ``*`` ``?``,
date ranges ``A-B`` ``-B`` ``A-``, UID lists, ModalitiesInStudy codes, PatientName
case-insensitive on its first group or its ideographic one), and the rows are read with the
DICOMweb side's own SQL (``api.dicomweb.qido``'s conditions and columns) from the index
tables, scoped by ``store.scoping.visible`` to the calling node's hospital
(``api.dimse.access``). No file is opened: every attribute answered is in the index.

- PATIENT level: the patients of the visible studies that match the patient keys
  (PatientName, PatientID, PatientBirthDate, PatientSex), one answer per ``patient`` row,
  with NumberOfPatientRelatedStudies / Series / Instances.
- STUDY, SERIES, IMAGE: the QIDO levels study, series, instance (superseded instances never
  match). Keys of a level below the query level, sequences and private elements are not
  matched; every key asked for is returned, empty when the index does not hold it.
- Answers carry the level's unique keys, SpecificCharacterSet ISO_IR 192,
  RetrieveAETitle (ours) and InstanceAvailability (ONLINE / NEARLINE for archived) when asked.
- A malformed identifier (no or an unknown level, PATIENT under Study Root, a bad date or
  UID) is 0xA900 with the reason; a node without the query permission 0x0124. Both audited
  (``dicom.find``), as every answered query is (how many answers, for which keys).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from api.dicomweb import qido
from api.dicomweb.attributes import ATTRS_BY_LEVEL, LEVELS_UP_TO, Attr, Level, column_value
from api.dicomweb.params import QidoQuery, parse_qido
from api.dimse.access import (
    IDENTIFIER_DOES_NOT_MATCH,
    NOT_AUTHORISED,
    Caller,
    Receiver,
    audit,
    caller_of,
    refuse,
    status,
)
from kernel.errors import BadRequest
from store.scoping import visible
from store.tables import Instance, Study

PENDING = 0xFF00
CANCEL = 0xFE00
PAGE = 500
# Patient Root FIND, MOVE, GET
PATIENT_ROOT = frozenset(f"1.2.840.10008.5.1.4.1.2.1.{n}" for n in (1, 2, 3))
LEVELS = {"PATIENT": Level.STUDY, "STUDY": Level.STUDY, "SERIES": Level.SERIES}
LEVELS["IMAGE"] = Level.INSTANCE
UNIQUE_KEYS = {
    "PATIENT": ("PatientID",),
    "STUDY": ("StudyInstanceUID",),
    "SERIES": ("StudyInstanceUID", "SeriesInstanceUID"),
    "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}
PATIENT_KEYS = {"PatientName", "PatientID", "PatientBirthDate", "PatientSex"}
NOT_KEYS = {0x00080005, 0x00080052}  # SpecificCharacterSet, QueryRetrieveLevel
RETRIEVE_AE_TITLE, INSTANCE_AVAILABILITY = 0x00080054, 0x00080056
PATIENT_COUNTS = {"studies": 0x00201200, "series": 0x00201202, "instances": 0x00201204}
ARCHIVED_TIERS = ("archive", "restoring")


class Malformed(Exception):
    """An identifier that cannot be searched; the sentence says why."""


@dataclass
class Request:
    level: str  # PATIENT | STUDY | SERIES | IMAGE
    query: QidoQuery
    asked: list[DataElement] = field(default_factory=list)  # the keys, to answer
    keys: str = ""  # the matching keys as given, for the audit row


def _text(elem: DataElement) -> str | None:
    """A key's value as QIDO would be given it; None for one that cannot be matched."""
    if elem.VR in ("SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        return None
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def is_patient_root(sop_class: str) -> bool:
    return sop_class in PATIENT_ROOT


def level_of(identifier: Dataset, patient_root: bool) -> str:
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if not level:
        raise Malformed("The identifier has no QueryRetrieveLevel (0008,0052).")
    if level not in LEVELS:
        raise Malformed(
            f"QueryRetrieveLevel {level[:16]!r} is none of PATIENT, STUDY, SERIES, IMAGE."
        )
    if level == "PATIENT" and not patient_root:
        raise Malformed("The Study Root model has no PATIENT level; use Patient Root.")
    return level


def parse_identifier(identifier: Dataset, patient_root: bool) -> Request:
    """The search an identifier asks for, checked (``Malformed`` says what is wrong)."""
    level = level_of(identifier, patient_root)
    params: list[tuple[str, str]] = []
    asked: list[DataElement] = []
    for elem in identifier:
        if elem.tag in NOT_KEYS or elem.tag.is_private or elem.tag.element == 0:
            continue
        asked.append(elem)
        text = _text(elem)
        if text is None or text.strip() in ("", "*") or not elem.keyword:
            continue
        if level == "PATIENT" and elem.keyword not in PATIENT_KEYS:
            continue  # not a key at this level
        params.append((elem.keyword, text))
    try:
        query = parse_qido(params, LEVELS[level])
    except BadRequest as exc:
        raise Malformed(exc.message.replace("The QIDO parameter", "The key")) from exc
    keys = " ".join(f"{k}={v}" for k, v in params)[:1200]
    return Request(level, query, asked, keys or "universal")


# --- reading the index ---------------------------------------------------------------


async def page(caller: Caller, request: Request, after: int | None) -> list[dict[str, Any]]:
    """One page of matching rows (at most ``PAGE``), after the row id ``after``."""
    level = LEVELS[request.level]
    table: Any = qido.TABLES[level]
    if request.level == "PATIENT":
        columns: list[Any] = [
            Study.patient,
            Study.patient_name,
            Study.patient_id,
            Study.patient_birth_date,
            Study.patient_sex,
            Study.num_series,
            Study.num_instances,
        ]
    else:
        columns, _ = qido._columns(level)
    select = visible(table, caller.reader, table.id, *columns).where(
        *qido._where(request.query, qido.Scope())
    )
    if level is Level.INSTANCE:
        select = select.where(Instance.superseded == False)  # noqa: E712
    newest_first = level is Level.STUDY
    if after is not None:
        select = select.where(table.id < after if newest_first else table.id > after)
    rows: list[dict[str, Any]] = await select.order_by(table.id, ascending=not newest_first).limit(
        PAGE
    )
    return rows


def _put(ds: Dataset, tag: int, vr: str, value: Any) -> None:
    if value is None or value == "" or value == []:
        ds.add_new(tag, vr, [] if vr == "SQ" else None)
    else:
        ds.add_new(tag, vr, value)


def answer(request: Request, values: dict[int, tuple[str, Any]]) -> Dataset:
    """The response identifier: every key asked for (empty when unknown) and the unique
    keys of the level and above."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = request.level
    for elem in request.asked:
        vr, value = values.get(int(elem.tag), (elem.VR, None))
        _put(ds, int(elem.tag), vr, value)
    for keyword in UNIQUE_KEYS[request.level]:
        tag = int(Tag(keyword))
        if tag not in ds and tag in values:
            _put(ds, tag, *values[tag])
    return ds


def _attrs(level: Level) -> list[tuple[Level, Attr]]:
    return [(lv, a) for lv in LEVELS_UP_TO[level] for a in ATTRS_BY_LEVEL[lv]]


def values_of(row: dict[str, Any], level: Level, ae_title: str) -> dict[int, tuple[str, Any]]:
    """A row of ``page`` as {tag: (VR, value)}."""
    _, prefixes = qido._columns(level)
    out = {int(a.tag, 16): (a.vr, column_value(a, row, prefixes[lv])) for lv, a in _attrs(level)}
    tier = row["tier"] if level is Level.STUDY else row["study.tier"]
    out[INSTANCE_AVAILABILITY] = ("CS", "NEARLINE" if tier in ARCHIVED_TIERS else "ONLINE")
    out[RETRIEVE_AE_TITLE] = ("AE", ae_title)
    return out


def patients(rows: list[dict[str, Any]]) -> dict[int, dict[int, tuple[str, Any]]]:
    """Study rows grouped by patient, as PATIENT-level values."""
    out: dict[int, dict[int, tuple[str, Any]]] = {}
    for row in rows:
        found = out.get(row["patient"])
        if found is None:
            found = out[row["patient"]] = {
                0x00100010: ("PN", row["patient_name"]),
                0x00100020: ("LO", row["patient_id"]),
                0x00100030: ("DA", row["patient_birth_date"]),
                0x00100040: ("CS", row["patient_sex"]),
                PATIENT_COUNTS["studies"]: ("IS", 0),
                PATIENT_COUNTS["series"]: ("IS", 0),
                PATIENT_COUNTS["instances"]: ("IS", 0),
            }
        for what, column in (("studies", None), ("series", "num_series")):
            tag = PATIENT_COUNTS[what]
            found[tag] = ("IS", found[tag][1] + (1 if column is None else int(row[column])))
        tag = PATIENT_COUNTS["instances"]
        found[tag] = ("IS", found[tag][1] + int(row["num_instances"]))
    return out


def matches(receiver: Receiver, caller: Caller, request: Request) -> Iterator[Dataset]:
    """The answers, page by page (each page read on the receiver's event loop)."""
    level = LEVELS[request.level]
    after: int | None = None
    grouped: dict[int, dict[int, tuple[str, Any]]] = {}
    while True:
        rows = receiver._run(page(caller, request, after))
        if request.level == "PATIENT":
            for key, values in patients(rows).items():
                if key in grouped:  # counts of a patient seen on an earlier page
                    for what in PATIENT_COUNTS.values():
                        values[what] = ("IS", values[what][1] + grouped[key][what][1])
                grouped[key] = values
        else:
            for row in rows:
                yield answer(request, values_of(row, level, receiver_ae(receiver)))
        if len(rows) < PAGE:
            break
        after = int(rows[-1]["id"])
    for values in grouped.values():
        yield answer(request, values)


def receiver_ae(receiver: Receiver) -> str:
    return str(receiver.ae.ae_title).strip()


# --- the service -----------------------------------------------------------------------


def on_find(receiver: Receiver, event: Any) -> Iterator[tuple[Any, Dataset | None]]:
    """EVT_C_FIND: pending answers, then success (pynetdicom sends the final response)."""
    caller = caller_of(receiver, event)
    if caller is None:
        yield status(NOT_AUTHORISED, "The association was refused."), None
        return
    if not caller.node["may_query"]:
        reason = f"DICOM node {caller.ae_title} may not query (C-FIND); an admin can allow it."
        yield refuse(receiver, caller, "dicom.find", NOT_AUTHORISED, reason), None
        return
    try:
        identifier = event.identifier
        request = parse_identifier(identifier, is_patient_root(event.request.AffectedSOPClassUID))
    except Malformed as exc:
        yield refuse(receiver, caller, "dicom.find", IDENTIFIER_DOES_NOT_MATCH, str(exc)), None
        return
    except Exception as exc:  # the identifier does not decode
        reason = f"The identifier cannot be read ({type(exc).__name__})."
        yield refuse(receiver, caller, "dicom.find", IDENTIFIER_DOES_NOT_MATCH, reason), None
        return
    count = 0
    for ds in matches(receiver, caller, request):
        if event.is_cancelled:
            _audit_found(receiver, caller, request, count, " (cancelled)")
            yield CANCEL, None
            return
        count += 1
        yield PENDING, ds
    _audit_found(receiver, caller, request, count)


def _audit_found(
    receiver: Receiver, caller: Caller, request: Request, count: int, extra: str = ""
) -> None:
    detail = f"{request.level}: {count} answer(s) for {request.keys}{extra}"
    receiver._run(audit(caller, "dicom.find", detail, target_type=request.level.lower()))
