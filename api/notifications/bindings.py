"""Where a user is reached: WeChat openid, WeCom user id, and the language of the messages.

Every user sets his own ("my notifications"); a hospital admin sets them for the doctors of
his hospital (a doctor of another hospital is "not found"). Formats are checked here, with a
sentence that says what a valid value looks like.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from api.crud import changed_fields, from_row, or_blank, update_audited
from api.management.service import actor_of
from api.notifications.schemas import BindingRead, BindingUpdate
from kernel.domain import Kind
from kernel.errors import BadRequest, NotFound
from notifiers.configs import ConfigProblem, check_binding
from store.scoping import hospital_ids_clause
from store.tables import User
from store.uow import Actor, Ctx

LANGUAGES = ("zh", "en")
COLUMNS = (
    User.id,
    User.username,
    User.display_name,
    User.email,
    User.wechat_openid,
    User.wecom_userid,
    User.language,
    User.version,
    User.hospital,
)


def binding_read(row: dict[str, Any]) -> BindingRead:
    return from_row(
        BindingRead,
        row,
        user_id=row["id"],
        **or_blank(row, "email", "wechat_openid", "wecom_userid"),
        language=row["language"] or "zh",
        version=int(row["version"]),
    )


async def _row(user_id: int) -> dict[str, Any]:
    row = await User.select(*COLUMNS).where(User.id == user_id).first()
    assert row is not None
    return row


async def my_bindings(actor: Actor) -> BindingRead:
    return binding_read(await _row(actor.user_id))


async def _doctor(actor: Actor, user_id: int) -> dict[str, Any]:
    row = (
        await User.select(*COLUMNS, User.kind)
        .where(hospital_ids_clause(User, actor), User.id == user_id)
        .first()
    )
    if row is None or row["kind"] != Kind.doctor.value:
        raise NotFound(
            "No doctor with id {user_id} exists, or it belongs to another hospital.",
            user_id=user_id,
        )
    return row


async def doctors_bindings(actor: Actor, user_ids: list[int]) -> dict[int, BindingRead]:
    rows = await User.select(*COLUMNS).where(
        hospital_ids_clause(User, actor), User.id.is_in(user_ids or [0])
    )
    return {r["id"]: binding_read(r) for r in rows}


def _values(data: BindingUpdate) -> dict[Any, Any]:
    values: dict[Any, Any] = {}
    try:
        if data.wechat_openid is not UNSET:
            values[User.wechat_openid] = check_binding("wechat_openid", data.wechat_openid)
        if data.wecom_userid is not UNSET:
            values[User.wecom_userid] = check_binding("wecom_userid", data.wecom_userid)
    except ConfigProblem as exc:
        raise BadRequest(str(exc)) from None
    if data.language is not UNSET:
        if data.language not in LANGUAGES:
            raise BadRequest(
                "The message language is zh (中文) or en (English).",
            )
        values[User.language] = data.language
    return values


async def _save(ctx: Ctx, row: dict[str, Any], data: BindingUpdate, action: str) -> BindingRead:
    await update_audited(
        ctx,
        User,
        row["id"],
        _values(data),
        version=data.version,
        what="account",
        action=action,
        target_type="user",
        detail=f"{row['username']}: {', '.join(changed_fields(data)) or 'no change'}",
        hospital_id=row["hospital"],
    )
    return binding_read(await _row(row["id"]))


async def set_my_bindings(ctx: Ctx, data: BindingUpdate) -> BindingRead:
    actor = actor_of(ctx)
    return await _save(ctx, await _row(actor.user_id), data, "notification_binding.update")


async def set_doctor_bindings(ctx: Ctx, user_id: int, data: BindingUpdate) -> BindingRead:
    row = await _doctor(actor_of(ctx), user_id)
    return await _save(ctx, row, data, "notification_binding.admin_update")
