"""DICOM JSON (PS3.18 F.2) for the attributes the index holds, and the QIDO match keys.

Each ``Attr`` names one DICOM attribute, its VR, the query level it belongs to and the
result column it is read from. The QIDO response is built from index rows only (no file is
opened), so a search over 100,000 studies costs one SELECT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword


class Level(StrEnum):
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


class Match(StrEnum):
    UID_LIST = "uid-list"  # exact, several values allowed (comma or backslash separated)
    TEXT = "text"  # exact or with * and ? wildcards
    NAME = "name"  # PN: wildcards, case-insensitive, on the upper-case search column
    DATE = "date"  # YYYYMMDD or a range
    CODE_LIST = "code-list"  # a value among the backslash-separated codes of the column
    INT = "int"  # an exact number
    NONE = "none"  # returned, not a match key


@dataclass(frozen=True)
class Attr:
    tag: str  # 8 hex digits, upper case, as in DICOM JSON
    vr: str
    level: Level
    column: str  # key in the result row ("" = computed)
    match: Match = Match.NONE

    @property
    def keyword(self) -> str:
        return str(keyword_for_tag(int(self.tag, 16)))


# Result row keys: study columns unprefixed in study searches, "study.<col>" when joined.
STUDY_ATTRS = (
    Attr("00080020", "DA", Level.STUDY, "study_date", Match.DATE),
    Attr("00080030", "TM", Level.STUDY, "study_time"),
    Attr("00080050", "SH", Level.STUDY, "accession_number", Match.TEXT),
    Attr("00080061", "CS", Level.STUDY, "modalities", Match.CODE_LIST),
    Attr("00080080", "LO", Level.STUDY, "institution", Match.TEXT),
    Attr("00080090", "PN", Level.STUDY, "referring_physician", Match.TEXT),
    Attr("00081030", "LO", Level.STUDY, "description", Match.TEXT),
    Attr("00100010", "PN", Level.STUDY, "patient_name", Match.NAME),
    Attr("00100020", "LO", Level.STUDY, "patient_id", Match.TEXT),
    Attr("00100030", "DA", Level.STUDY, "patient_birth_date", Match.DATE),
    Attr("00100040", "CS", Level.STUDY, "patient_sex", Match.TEXT),
    Attr("0020000D", "UI", Level.STUDY, "study_uid", Match.UID_LIST),
    Attr("00200010", "SH", Level.STUDY, "study_id", Match.TEXT),
    Attr("00201206", "IS", Level.STUDY, "num_series"),
    Attr("00201208", "IS", Level.STUDY, "num_instances"),
)
SERIES_ATTRS = (
    Attr("00080060", "CS", Level.SERIES, "modality", Match.TEXT),
    Attr("0008103E", "LO", Level.SERIES, "description", Match.TEXT),
    Attr("00180015", "CS", Level.SERIES, "body_part", Match.TEXT),
    Attr("0020000E", "UI", Level.SERIES, "series_uid", Match.UID_LIST),
    Attr("00200011", "IS", Level.SERIES, "series_number", Match.INT),
    Attr("00201209", "IS", Level.SERIES, "num_instances"),
    Attr("00400244", "DA", Level.SERIES, "performed_start_date", Match.DATE),
)
INSTANCE_ATTRS = (
    Attr("00080016", "UI", Level.INSTANCE, "sop_class_uid", Match.UID_LIST),
    Attr("00080018", "UI", Level.INSTANCE, "sop_uid", Match.UID_LIST),
    Attr("00083002", "UI", Level.INSTANCE, "transfer_syntax"),
    Attr("00200013", "IS", Level.INSTANCE, "instance_number", Match.INT),
    Attr("00280008", "IS", Level.INSTANCE, "frames"),
    Attr("00280010", "US", Level.INSTANCE, "rows"),
    Attr("00280011", "US", Level.INSTANCE, "columns"),
    Attr("00280100", "US", Level.INSTANCE, "bits_allocated"),
)
ATTRS_BY_LEVEL = {
    Level.STUDY: STUDY_ATTRS,
    Level.SERIES: SERIES_ATTRS,
    Level.INSTANCE: INSTANCE_ATTRS,
}
BY_TAG: dict[str, Attr] = {a.tag: a for a in (*STUDY_ATTRS, *SERIES_ATTRS, *INSTANCE_ATTRS)}
# The levels above a level, whose attributes a search at that level may match and returns.
LEVELS_UP_TO = {
    Level.STUDY: (Level.STUDY,),
    Level.SERIES: (Level.STUDY, Level.SERIES),
    Level.INSTANCE: (Level.STUDY, Level.SERIES, Level.INSTANCE),
}

SPECIFIC_CHARACTER_SET = "00080005"
INSTANCE_AVAILABILITY = "00080056"
RETRIEVE_URL = "00081190"
UTF8 = "ISO_IR 192"


def tag_of(name: str) -> str | None:
    """``PatientID`` or ``00100020`` → ``"00100020"``; None when it names no DICOM attribute."""
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        return name.upper() if keyword_for_tag(int(name, 16)) else None
    tag_int = tag_for_keyword(name)
    return f"{tag_int:08X}" if tag_int is not None else None


def person_name(value: str) -> dict[str, str]:
    """``"ZHANG^SAN=张三"`` → ``{"Alphabetic": "ZHANG^SAN", "Ideographic": "张三"}``."""
    groups = value.split("=")
    names = ("Alphabetic", "Ideographic", "Phonetic")
    return {names[i]: g for i, g in enumerate(groups[:3]) if g}


def element(vr: str, value: Any) -> dict[str, Any]:
    """One DICOM JSON element; empty values keep the VR and omit ``Value``."""
    if value is None or value == "" or value == []:
        return {"vr": vr}
    values = value if isinstance(value, list) else [value]
    if vr == "PN":
        return {"vr": vr, "Value": [person_name(str(v)) for v in values]}
    if vr in ("IS", "US", "UL", "SS", "SL"):
        return {"vr": vr, "Value": [int(v) for v in values]}
    return {"vr": vr, "Value": [str(v) for v in values]}


def column_value(attr: Attr, row: dict[str, Any], prefix: str) -> Any:
    value = row.get(prefix + attr.column)
    if attr.tag == "00080061" and isinstance(value, str):
        return [m for m in value.split("\\") if m]
    return value


Extra = Callable[[dict[str, Any]], dict[str, dict[str, Any]]]


def to_json(
    row: dict[str, Any], levels: dict[Level, str], extra: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """A result row as DICOM JSON, tags in ascending order. ``levels`` maps each level to the
    prefix of its columns in ``row``."""
    out: dict[str, dict[str, Any]] = {SPECIFIC_CHARACTER_SET: {"vr": "CS", "Value": [UTF8]}}
    for level, prefix in levels.items():
        for attr in ATTRS_BY_LEVEL[level]:
            out[attr.tag] = element(attr.vr, column_value(attr, row, prefix))
    out.update(extra)
    return dict(sorted(out.items()))
