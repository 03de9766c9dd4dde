"""The knowledge base of diagnostic phrases (SPEC 8.6): the hospital's phrases (kept by its
admin) and each doctor's personal ones. The report editor's "insert phrase" searches them.

``search_text`` holds title, keywords, category and texts in lower case, so one LIKE per
search term finds matches in any case and in Chinese; the matches are then ranked in Python
(title before keywords before category before texts) and the best come first.
"""

from __future__ import annotations

from typing import Any

from api.crud import first_or_not_found, from_row, insert_audited
from api.dictionaries.common import actor_of, apply_update, like_pattern
from api.dictionaries.schemas import PhraseCreate, PhrasePage, PhraseRead, PhraseUpdate
from api.management.service import clean_text, own_hospital
from kernel.errors import BadRequest, NotFound
from kernel.i18n import N_
from store.scoping import visible
from store.tables import KnowledgePhrase
from store.uow import Actor, Ctx, now, unit_of_work

MAX_CANDIDATES = 500
TEXTS = {"title": 100, "category": 60, "keywords": 200, "findings": 4000, "impression": 4000}


def search_text(title: str, category: str, keywords: str, findings: str, impression: str) -> str:
    return "\n".join((title, keywords, category, findings, impression)).lower()


def _read(row: dict[str, Any]) -> PhraseRead:
    return from_row(PhraseRead, row, personal=row["owner"] is not None, owner_id=row["owner"])


def _mine(actor: Actor) -> Any:
    """The hospital's phrases and the actor's own (others' personal phrases stay theirs)."""
    return KnowledgePhrase.owner.is_null() | (KnowledgePhrase.owner == actor.user_id)


def score(row: dict[str, Any], terms: list[str]) -> int:
    weights = (("title", 8), ("keywords", 4), ("category", 2), ("findings", 1), ("impression", 1))
    total = 0
    for term in terms:
        for key, weight in weights:
            if term in row[key].lower():
                total += weight
        if row["title"].lower().startswith(term):
            total += 4
    return total


async def search(
    actor: Actor,
    q: str = "",
    category: str = "",
    page: int = 1,
    per_page: int = 20,
    *,
    with_inactive: bool = False,
) -> PhrasePage:
    if page < 1 or not 1 <= per_page <= 100:
        raise BadRequest(
            "The page starts at 1; between 1 and 100 phrases a page.",
        )
    terms = [t for t in q.lower().split() if t][:8]
    query = visible(KnowledgePhrase, actor).where(_mine(actor))
    if not with_inactive:
        query = query.where(KnowledgePhrase.active.eq(True))
    for term in terms:
        query = query.where(KnowledgePhrase.search_text.like(like_pattern(term)))
    if category.strip():
        query = query.where(KnowledgePhrase.category == category.strip())
    rows = await query.order_by(KnowledgePhrase.id).limit(MAX_CANDIDATES)
    rows.sort(key=lambda r: (not r["active"], -score(r, terms), r["title"]))
    start = (page - 1) * per_page
    return PhrasePage([_read(r) for r in rows[start : start + per_page]], len(rows), page, per_page)


async def get_phrase(actor: Actor, phrase_id: int) -> PhraseRead:
    row = await first_or_not_found(
        visible(KnowledgePhrase, actor).where(KnowledgePhrase.id == phrase_id, _mine(actor)),
        N_("No phrase with id {phrase_id} exists, or it is not yours to see."),
        phrase_id=phrase_id,
    )
    return _read(row)


def _texts(values: dict[str, str]) -> dict[str, str]:
    return {
        key: clean_text(value, key, TEXTS[key], required=key == "title")
        for key, value in values.items()
    }


async def add_phrase(ctx: Ctx, data: PhraseCreate) -> PhraseRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    if data.personal == actor.is_admin:
        raise BadRequest(
            N_("The administrator keeps the hospital's phrases; a doctor adds personal ones.")
            if actor.is_admin
            else N_("A doctor adds personal phrases; the hospital's are kept by its administrator.")
        )
    t: dict[str, Any] = _texts({k: getattr(data, k) for k in TEXTS})
    async with unit_of_work(ctx) as uow:
        phrase_id = await insert_audited(
            uow,
            KnowledgePhrase(
                hospital=hospital_id,
                owner=actor.user_id if data.personal else None,
                search_text=search_text(**t),
                created_at=now(),
                **t,
            ),
            "knowledge.create",
            "phrase",
            detail=t["title"],
            hospital_id=hospital_id,
        )
    return await get_phrase(actor, phrase_id)


async def update_phrase(ctx: Ctx, phrase_id: int, data: PhraseUpdate) -> PhraseRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    current = await get_phrase(actor, phrase_id)
    if current.personal != (not actor.is_admin):
        raise NotFound(
            "No phrase with id {phrase_id} exists, or it is not yours to change.",
            phrase_id=phrase_id,
        )
    t = _texts(
        {
            k: getattr(data, k) if isinstance(getattr(data, k), str) else getattr(current, k)
            for k in TEXTS
        }
    )
    values: dict[Any, Any] = {KnowledgePhrase._meta.get_column_by_name(k): v for k, v in t.items()}
    values[KnowledgePhrase.search_text] = search_text(**t)
    if isinstance(data.active, bool):
        values[KnowledgePhrase.active] = data.active
    await apply_update(
        ctx, KnowledgePhrase, phrase_id, hospital_id, values, data, "phrase", "knowledge.update"
    )
    return await get_phrase(actor, phrase_id)
