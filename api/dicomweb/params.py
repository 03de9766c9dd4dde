"""QIDO-RS query parameters (PS3.18 8.3.4): parsed and checked before any query runs.

A malformed value (a bad date, UID, number, limit) is a 400 with a sentence saying which
parameter and why. A real DICOM attribute this server does not match on, and options it
does not implement (``fuzzymatching=true``), are ignored and named in a ``Warning`` header.
A parameter that is no DICOM attribute at all is a 400 (a typo would otherwise silently
widen the search).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from api.dicomweb.attributes import ATTRS_BY_LEVEL, BY_TAG, LEVELS_UP_TO, Attr, Level, Match, tag_of
from kernel.errors import BadRequest

MAX_LIMIT = 1000
UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
CODE_RE = re.compile(r"^[A-Z0-9]{1,16}$")
MAX_VALUE = 200
CONTROL = ("fuzzymatching", "includefield", "limit", "offset")


@dataclass(frozen=True)
class Text:
    value: str
    wildcard: bool  # value is a LIKE pattern (``*``→``%``, ``?``→``_``)
    prefix: str  # literal characters before the first wildcard
    glob: str = ""  # the same pattern for SQLite's case-sensitive GLOB


@dataclass(frozen=True)
class DateRange:
    low: str  # "" = open
    high: str


Value = Text | DateRange | tuple[str, ...] | int


@dataclass
class QidoQuery:
    level: Level
    filters: list[tuple[Attr, Value]] = field(default_factory=list)
    include_all: bool = False
    limit: int = MAX_LIMIT
    offset: int = 0
    warnings: list[str] = field(default_factory=list)


def _fail(name: str, why: str) -> BadRequest:
    return BadRequest(f"The QIDO parameter {name!r} is malformed: {why}.")


def _ascii_digits(value: str) -> bool:
    """``str.isdigit`` takes ``"¹"`` or ``"٣"`` too, which ``int`` then refuses or reads."""
    return value.isascii() and value.isdigit()


def _int(name: str, raw: str, low: int) -> int:
    if not _ascii_digits(raw.strip()) or int(raw) < low:
        raise _fail(name, f"it must be a whole number of at least {low}")
    return int(raw)


def _text(name: str, raw: str, upper: bool) -> Text | None:
    if len(raw) > MAX_VALUE:
        raise _fail(name, f"it is longer than {MAX_VALUE} characters")
    if upper:
        raw = raw.upper()
    if raw.strip("*") == "":
        return None  # "*" or empty: universal match
    if "*" not in raw and "?" not in raw:
        return Text(raw, False, raw)
    escaped = raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = escaped.replace("*", "%").replace("?", "_")
    cut = min(i for i in (raw.find("*"), raw.find("?")) if i >= 0)
    return Text(pattern, True, raw[:cut], raw.replace("[", "[[]"))


def _date(name: str, raw: str) -> DateRange | None:
    text = raw.strip()
    if not text:
        return None
    low, sep, high = text.partition("-")
    if not sep:
        high = low
    for part in (low, high):
        if part and not (len(part) == 8 and _ascii_digits(part) and _real_date(part)):
            raise _fail(name, f"{part!r} is not a date written YYYYMMDD")
    if not low and not high:
        raise _fail(name, "a range needs at least one date")
    if low and high and low > high:
        raise _fail(name, f"the range starts ({low}) after it ends ({high})")
    return DateRange(low, high)


def _real_date(text: str) -> bool:
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


def _uids(name: str, raw: str) -> tuple[str, ...] | None:
    values = tuple(v.strip() for v in re.split(r"[,\\]", raw) if v.strip())
    if not values:
        return None
    for v in values:
        if len(v) > 64 or not UID_RE.match(v):
            raise _fail(name, f"{v[:70]!r} is not a UID (digits and dots, at most 64)")
    return values


def _codes(name: str, raw: str) -> tuple[str, ...] | None:
    values = tuple(v.strip().upper() for v in re.split(r"[,\\]", raw) if v.strip())
    for v in values:
        if not CODE_RE.match(v):
            raise _fail(name, f"{v[:20]!r} is not a code string (letters, digits, at most 16)")
    return values or None


def _value(attr: Attr, name: str, raw: str) -> Value | None:
    match attr.match:
        case Match.UID_LIST:
            return _uids(name, raw)
        case Match.DATE:
            return _date(name, raw)
        case Match.CODE_LIST:
            return _codes(name, raw)
        case Match.INT:
            return _int(name, raw, 0) if raw.strip() else None
        case Match.NAME:
            return _text(name, raw, upper=True)
        case _:
            return _text(name, raw, upper=False)


def _includefield(query: QidoQuery, raw_values: list[str]) -> None:
    available = {a.tag for lv in LEVELS_UP_TO[query.level] for a in ATTRS_BY_LEVEL[lv]}
    missing = []
    for raw in raw_values:
        for name in (n.strip() for n in raw.split(",")):
            if not name:
                continue
            if name.lower() == "all":
                query.include_all = True
                continue
            tag = tag_of(name)
            if tag is None:
                raise _fail("includefield", f"{name[:40]!r} names no DICOM attribute")
            if tag not in available and tag not in ("00080005", "00080056", "00081190"):
                missing.append(name)
    if missing:
        query.warnings.append(
            "The following includefield attributes are not available at the "
            f"{query.level} level and were left out: {', '.join(sorted(set(missing)))}"
        )


def parse_qido(params: list[tuple[str, str]], level: Level) -> QidoQuery:
    """Parse the query string of a QIDO-RS search at ``level``."""
    query = QidoQuery(level)
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)
    if "limit" in grouped:
        limit = _int("limit", grouped["limit"][-1], 1)
        if limit > MAX_LIMIT:
            query.warnings.append(
                f"The limit {limit} exceeds the maximum of {MAX_LIMIT}; at most {MAX_LIMIT} "
                "results are returned"
            )
        query.limit = min(limit, MAX_LIMIT)
    if "offset" in grouped:
        query.offset = _int("offset", grouped["offset"][-1], 0)
    if "fuzzymatching" in grouped:
        fuzzy = grouped["fuzzymatching"][-1].strip().lower()
        if fuzzy not in ("true", "false"):
            raise _fail("fuzzymatching", "it must be true or false")
        if fuzzy == "true":
            query.warnings.append(
                "The fuzzymatching parameter is not supported. Only literal matching has "
                "been performed"
            )
    _includefield(query, grouped.get("includefield", []))
    levels = LEVELS_UP_TO[level]
    ignored = []
    for name, values in grouped.items():
        if name in CONTROL:
            continue
        tag = tag_of(name)
        if tag is None:
            raise BadRequest(
                f"The QIDO parameter {name[:40]!r} is unknown: it is neither a DICOM attribute "
                f"nor one of {', '.join(CONTROL)}."
            )
        attr = BY_TAG.get(tag)
        if attr is None or attr.match is Match.NONE or attr.level not in levels:
            ignored.append(name)
            continue
        if len(values) > 1 and attr.match not in (Match.UID_LIST, Match.CODE_LIST):
            raise _fail(name, "it is given more than once")
        for raw in values:
            parsed = _value(attr, name, raw)
            if parsed is not None:
                query.filters.append((attr, parsed))
    if ignored:
        query.warnings.append(
            "The following attributes are not supported as matching keys at the "
            f"{level} level and were ignored: {', '.join(sorted(ignored))}"
        )
    return query
