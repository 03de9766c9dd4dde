"""The wire shapes every feature shares (STYLE 6, 14): one ``Base`` struct, one generic page
per paging style, the fields every partial update carries, a case's history entry.

A feature names its page as an alias (``CodedPage = Page[CodedRead]``) and builds it like any
struct (``CodedPage(items, total, page, per_page)``); the JSON is the struct's fields in the
order below. An ``XUpdate`` is ``partial(XCreate, "XUpdate")``: ``Update`` (or
``ActiveUpdate``, ``CheckedUpdate``) and the create's fields, each defaulting to ``UNSET``;
only what the client sent is touched, and a sent ``version`` that is not current is refused
with 409. An update whose fields are not a create's declares its own (``HospitalUpdate``).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from api.bounds import Int

T = TypeVar("T")


class Base(msgspec.Struct, forbid_unknown_fields=True):
    """Every request and answer struct: a field the schema does not know is a 400."""


class Page(Base, Generic[T]):
    """Page ``page`` (from 1) of ``per_page`` items the client chose, of ``total`` in all."""

    items: list[T]
    total: int
    page: int
    per_page: int


class FixedPage(Base, Generic[T]):
    """Page ``page`` (from 1) of a list whose page size the server fixes (``page_size``)."""

    items: list[T]
    total: int
    page: int
    page_size: int


class OffsetPage(Base, Generic[T]):
    """``limit`` items from ``offset`` (from 0), of ``total`` in all."""

    items: list[T]
    total: int
    offset: int
    limit: int


class Update(Base):
    """A partial update: when ``version`` is sent and stale, the change is refused (409)."""

    version: Int | UnsetType = UNSET


class CheckedUpdate(Base):
    """A partial update that must name the ``version`` it started from (else 400; stale: 409)."""

    version: Int


class ActiveUpdate(Update):
    """A partial update of a row that can be switched off (``active``) rather than deleted."""

    active: bool | UnsetType = UNSET


def partial(
    create: type[msgspec.Struct],
    name: str,
    *,
    base: type[Base] = ActiveUpdate,
    exclude: tuple[str, ...] = (),
) -> Any:
    """The partial update of ``create`` as the struct ``name``: ``base``'s fields (``version``,
    and ``active`` by default), then each field of ``create`` but ``exclude``, optional
    (``UNSET`` when not sent, so only what the client sent changes). Derived, so an update
    never lags behind its create; the feature's module binds it to ``name`` (with a
    ``TYPE_CHECKING`` twin for mypy, which cannot see a struct made at run time)."""
    fields = [
        (f.name, f.type | UnsetType, UNSET)
        for f in msgspec.structs.fields(create)
        if f.name not in exclude
    ]
    return msgspec.defstruct(name, fields, bases=(base,), module=create.__module__)


class HistoryEntry(Base):
    """One applied transition of a case (``CaseHistory``), as every process's timeline shows it."""

    id: int
    at: str
    actor: str
    event: str
    from_state: str
    to_state: str
    reason: str
    summary: dict[str, object]  # ids and short labels only

    @classmethod
    def of(cls, row: dict[str, Any], actor: str | None = None) -> HistoryEntry:
        """The entry of a ``CaseHistory`` row (``store.engine.timeline`` decodes ``summary``;
        a raw row's JSON text is decoded here); ``actor``: a better name than the one the
        row kept (a display name looked up now)."""
        summary = row["summary"]
        return cls(
            id=row["id"],
            at=row["at"].isoformat(),
            actor=actor or row["actor_name"],
            event=row["event"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            reason=row["reason"],
            summary=summary if isinstance(summary, dict) else msgspec.json.decode(summary or "{}"),
        )
