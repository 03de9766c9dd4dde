"""Sharing an examination with a colleague (SPEC 2.6): a pointer, a message, a WeCom notice.

- The sender must see the examination (``store.examinations.get_examination``: else 404)
  and the colleague must be an active doctor of the sender's own hospital, not the sender
  (else 404: whether a user of another hospital exists is not the sender's business).
- A share never widens what the recipient sees: the received list and the opening read the
  examination through the recipient's own visibility rule, so a share of an examination he
  can no longer see (a cancelled diagnosis request, a soft-deleted examination) silently
  drops out of his list and its link says it is no longer available (404).
- The notice is an outbox row "notify" (business type and event "share") with a deep link
  to ``/exams/shared/<id>``; its text names the case number only, never the patient, and the
  sender's message (which may name the patient) stays inside AIMIS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.shares.schemas import Colleague, ReceivedShares, ShareCreate, ShareRead
from kernel.errors import BadRequest, NotFound
from store.examinations import examination_clause, get_examination
from store.reads import note
from store.scoping import not_deleted
from store.tables import Examination, ExamShare, User
from store.uow import Actor, Ctx, now, unit_of_work

MAX_MESSAGE = 300
RECEIVED_LIMIT = 100
COLLEAGUE_LIMIT = 20
EVENT_RECEIVED = "share.received"
EVENT_READ = "share.read"


def actor_of(ctx: Ctx) -> Actor:
    assert ctx.actor is not None, "sharing is reached through authenticated routes only"
    return ctx.actor


def link_of(share_id: int) -> str:
    return f"/exams/shared/{share_id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _colleague_clause(actor: Actor) -> list[Any]:
    return [
        User.hospital == actor.hospital_id,
        User.kind == "doctor",
        User.active.eq(True),
        User.id != actor.user_id,
    ]


async def colleagues(actor: Actor, q: str = "") -> list[Colleague]:
    """Active doctors of the actor's hospital but himself, by name or user name."""
    if actor.hospital_id is None:
        return []
    q = q.strip()
    if len(q) > 100:
        raise BadRequest("The search text is longer than 100 characters.")
    query = User.select(User.id, User.display_name, User.department.name).where(
        *_colleague_clause(actor)
    )
    if q:
        pattern = _like(q)
        query = query.where(User.display_name.ilike(pattern) | User.username.ilike(pattern))
    rows = await query.order_by(User.display_name).order_by(User.id).limit(COLLEAGUE_LIMIT)
    return [Colleague(r["id"], r["display_name"], r["department.name"] or "") for r in rows]


def _message(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_MESSAGE:
        raise BadRequest(
            "The message is {n} characters long; at most {max_message} are allowed.",
            n=len(text),
            max_message=MAX_MESSAGE,
        )
    return text


async def share(ctx: Ctx, exam_id: int, data: ShareCreate) -> ShareRead:
    actor = actor_of(ctx)
    exam = await get_examination(actor, exam_id)
    message = _message(data.message)
    if data.to_user_id == actor.user_id:
        raise BadRequest(
            "Share the examination with a colleague, not with yourself.",
        )
    colleague = (
        await User.select(User.id, User.display_name)
        .where(User.id == data.to_user_id, *_colleague_clause(actor))
        .first()
    )
    if colleague is None:
        raise NotFound(
            "No active doctor with id {to_user_id} works in your hospital; an "
            "examination is shared with colleagues of your own hospital only.",
            to_user_id=data.to_user_id,
        )
    at = now()
    async with unit_of_work(ctx) as uow:
        row = await ExamShare.insert(
            ExamShare(
                examination=exam_id,
                hospital=actor.hospital_id,
                from_user=actor.user_id,
                to_user=colleague["id"],
                message=message,
                created_at=at,
            )
        ).returning(ExamShare.id)
        share_id = int(row[0]["id"])
        await uow.outbox(
            "notify",
            {
                "business_type": "share",
                "event": "share",
                "case_type": "share",
                "case_id": share_id,
                "user_ids": [colleague["id"]],
                "link": link_of(share_id),
            },
            key=f"notify-share-{share_id}",
        )
        payload = {"id": share_id, "exam_id": exam_id}
        await uow.event(f"user:{colleague['id']}", EVENT_RECEIVED, payload)
        await uow.audit(
            "exam.share",
            "examination",
            exam_id,
            hospital_id=exam["hospital"],
            detail=f"share {share_id} to user {colleague['id']}",
        )
    return (await _reads(actor, [await _row(share_id)]))[0]


SHARE_COLUMNS = (
    ExamShare.id,
    ExamShare.examination,
    ExamShare.from_user,
    ExamShare.from_user.display_name,
    ExamShare.to_user,
    ExamShare.to_user.display_name,
    ExamShare.message,
    ExamShare.created_at,
    ExamShare.read_at,
)


async def _row(share_id: int) -> dict[str, Any]:
    row = await ExamShare.select(*SHARE_COLUMNS).where(ExamShare.id == share_id).first()
    assert row is not None
    return row


async def _reads(actor: Actor, rows: list[dict[str, Any]]) -> list[ShareRead]:
    """The shares whose examination ``actor`` sees now, with that examination's summary."""
    ids = list({int(r["examination"]) for r in rows})
    exams = {
        int(e["id"]): e
        for e in await Examination.select(
            Examination.id,
            Examination.patient_name,
            Examination.check_item_name,
            Examination.device_type,
            Examination.exam_time,
        ).where(await examination_clause(actor), Examination.id.is_in(ids or [0]))
    }
    return [
        ShareRead(
            id=r["id"],
            exam_id=r["examination"],
            from_user_id=r["from_user"],
            from_name=r["from_user.display_name"] or "",
            to_user_id=r["to_user"],
            to_name=r["to_user.display_name"] or "",
            message=r["message"],
            created_at=r["created_at"].isoformat(),
            read_at=_iso(r["read_at"]),
            patient_name=exam["patient_name"],
            check_item_name=exam["check_item_name"],
            device_type=exam["device_type"],
            exam_time=exam["exam_time"].isoformat(),
            link=link_of(r["id"]),
        )
        for r in rows
        if (exam := exams.get(int(r["examination"]))) is not None
    ]


async def received(ctx: Ctx, before: int | None = None) -> ReceivedShares:
    """Shares to the actor, newest first (``before``: the page after the share of that id);
    patient names are read: the routes are declared PHI (``api.phi``)."""
    actor = actor_of(ctx)
    query = ExamShare.select(*SHARE_COLUMNS).where(
        ExamShare.to_user == actor.user_id, not_deleted(ExamShare)
    )
    if before is not None:
        query = query.where(ExamShare.id < before)
    rows = await query.order_by(ExamShare.id, ascending=False).limit(RECEIVED_LIMIT)
    items = await _reads(actor, list(rows))
    unread = await ExamShare.count().where(
        ExamShare.to_user == actor.user_id, ExamShare.read_at.is_null(), not_deleted(ExamShare)
    )
    note(detail=f"{len(items)} shares")  # audited by the route's declaration (api.phi)
    return ReceivedShares(items=items, unread=unread)


async def open_share(ctx: Ctx, share_id: int) -> ShareRead:
    """The recipient opens a share: it is marked read (once) and its examination must be
    visible to him now (else 404, like any examination he may not see)."""
    actor = actor_of(ctx)
    row = (
        await ExamShare.select(ExamShare.id, ExamShare.examination, ExamShare.read_at)
        .where(ExamShare.id == share_id, ExamShare.to_user == actor.user_id)
        .first()
    )
    if row is None:
        raise NotFound(
            "No examination was shared with you under number {share_id}.",
            share_id=share_id,
        )
    try:
        exam = await get_examination(actor, int(row["examination"]))
    except NotFound as hidden:
        raise NotFound(
            "The examination shared with you under number {share_id} is no longer available: "
            "it was deleted, or you may no longer see it.",
            share_id=share_id,
        ) from hidden
    async with unit_of_work(ctx) as uow:
        if row["read_at"] is None:
            await ExamShare.update({ExamShare.read_at: now()}).where(
                ExamShare.id == share_id, ExamShare.read_at.is_null()
            )
            await uow.event(f"user:{actor.user_id}", EVENT_READ, {"id": share_id})
        await uow.audit(
            "share.open",
            "examination",
            exam["id"],
            hospital_id=exam["hospital"],
            detail=f"share {share_id}",
        )
    return (await _reads(actor, [await _row(share_id)]))[0]
