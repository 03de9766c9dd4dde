"""A hospital's channels and rules (SPEC 8.8), managed by its hospital admin.

One channel of each kind per hospital (its WeCom application, its group robot, its official
account, its mail server). Settings are checked by ``notifiers.configs``; secrets are
write-only. Rules are one per business type: which of the hospital's channels, to whom.
Every change is audited; a channel or rule of another hospital is "not found".
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from msgspec import UNSET

from api.crud import first_or_not_found, insert_audited, update_audited, versioned_update
from api.management.service import actor_of, clean_text, own_hospital
from api.notifications.schemas import (
    ChannelCreate,
    ChannelRead,
    ChannelTest,
    ChannelUpdate,
    Queued,
    RuleRead,
    RuleUpdate,
)
from kernel.errors import BadRequest, Conflict, NotFound
from kernel.i18n import N_, Listed, Msg
from notifiers.base import Channel
from notifiers.configs import (
    BINDINGS,
    KIND_LABELS,
    ConfigProblem,
    check_config,
    kind_of,
    public_view,
)
from notifiers.texts import BUSINESS_TYPES, business_label
from store.scoping import get_visible, visible
from store.tables import NotificationChannel, NotificationRule, User
from store.uow import Actor, Ctx, now, unit_of_work

AUDIENCES = ("involved", "department", "hospital")
RULE_TYPES = list(BUSINESS_TYPES)  # "account": verification codes, to the user alone


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _config(row: dict[str, Any]) -> dict[str, str]:
    return dict(msgspec.json.decode(row["config"] or "{}"))


def channel_read(row: dict[str, Any]) -> ChannelRead:
    kind = Channel(row["kind"])
    config = _config(row)
    settings, secrets = public_view(kind, config)
    return ChannelRead(
        id=row["id"],
        hospital_id=row["hospital"],
        kind=kind.value,
        kind_label=KIND_LABELS[kind],
        name=config.get("name", ""),
        settings=settings,
        secrets=secrets,
        enabled=bool(row["enabled"]),
        version=int(row["version"]),
        created_at=row["created_at"].isoformat(),
    )


def _checked(kind: Channel, settings: dict[str, str], stored: dict[str, str] | None) -> dict:
    try:
        return check_config(kind, settings, stored)
    except ConfigProblem as exc:
        raise BadRequest(exc.message, **exc.params) from None


async def list_channels(actor: Actor) -> list[ChannelRead]:
    rows = await visible(NotificationChannel, actor).order_by(NotificationChannel.id)
    return [channel_read(r) for r in rows]


async def _channel_row(actor: Actor, channel_id: int) -> dict[str, Any]:
    return await get_visible(NotificationChannel, channel_id, actor, "notification channel")


async def get_channel(actor: Actor, channel_id: int) -> ChannelRead:
    return channel_read(await _channel_row(actor, channel_id))


async def add_channel(ctx: Ctx, data: ChannelCreate) -> ChannelRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    try:
        kind = kind_of(data.kind)
    except ConfigProblem as exc:
        raise BadRequest(str(exc)) from None
    name = clean_text(data.name, "channel name", 100, required=False) or KIND_LABELS[kind]
    config = {"name": name, **_checked(kind, data.settings, None)}
    async with unit_of_work(ctx) as uow:
        if await NotificationChannel.exists().where(
            NotificationChannel.hospital == hospital_id, NotificationChannel.kind == kind.value
        ):
            raise Conflict(
                "Your hospital has a {kind} channel already; edit that one.",
                kind=Msg(KIND_LABELS[kind]),
            )
        channel_id = await insert_audited(
            uow,
            NotificationChannel(
                hospital=hospital_id,
                kind=kind.value,
                config=_json(config),
                enabled=data.enabled,
                created_at=now(),
            ),
            "notification_channel.create",
            "notification_channel",
            detail=f"{kind.value} {name}",  # never the settings: they hold secrets
        )
    return await get_channel(actor, channel_id)


async def update_channel(ctx: Ctx, channel_id: int, data: ChannelUpdate) -> ChannelRead:
    actor = actor_of(ctx)
    row = await _channel_row(actor, channel_id)
    kind = Channel(row["kind"])
    stored = _config(row)
    config = dict(stored)
    changed = []
    if data.settings is not UNSET:
        config = {"name": stored.get("name", ""), **_checked(kind, data.settings, stored)}
        changed += sorted(k for k in config if config.get(k) != stored.get(k))
    if data.name is not UNSET:
        config["name"] = (
            clean_text(data.name, "channel name", 100, required=False) or (KIND_LABELS[kind])
        )
        changed.append("name")
    values: dict[Any, Any] = {NotificationChannel.config: _json(config)}
    if data.enabled is not UNSET:
        values[NotificationChannel.enabled] = data.enabled
        changed.append("enabled" if data.enabled else "disabled")
    await update_audited(
        ctx,
        NotificationChannel,
        channel_id,
        values,
        version=data.version,
        what="notification channel",
        action="notification_channel.update",
        target_type="notification_channel",
        detail=f"{kind.value}: {', '.join(sorted(set(changed))) or 'no change'}",
    )
    return await get_channel(actor, channel_id)


async def queue_test(ctx: Ctx, channel_id: int, data: ChannelTest) -> Queued:
    """A test message through the outbox and the dispatcher, like any other message."""
    actor = actor_of(ctx)
    row = await _channel_row(actor, channel_id)
    kind = Channel(row["kind"])
    user_ids: list[int] = []
    to = "the group"
    if kind != Channel.wecom_bot:
        user_id = data.user_id or actor.user_id
        user = await first_or_not_found(
            visible(User, actor, User.id, User.display_name, *_binding_columns()).where(
                User.id == user_id
            ),
            N_("No user with id {user_id} exists in your hospital."),
            user_id=user_id,
        )
        binding = BINDINGS[kind]
        if not user[binding]:
            label = _binding_label(binding)
            raise BadRequest(
                "{display_name} has no {label} yet; set it on the notification settings first.",
                display_name=user["display_name"],
                label=label,
            )
        user_ids, to = [user_id], user["display_name"]
    key = f"notify-test-{channel_id}-{uuid.uuid4().hex[:12]}"
    async with unit_of_work(ctx) as uow:
        await uow.outbox(
            "notify",
            {
                "business_type": "test",
                "event": "test",
                "hospital_id": row["hospital"],
                "channel_id": channel_id,
                "user_ids": user_ids,
                "link": "/manage/notifications/log",
            },
            key=key,
        )
        await uow.audit(
            "notification_channel.test",
            "notification_channel",
            channel_id,
            detail=f"{kind.value} to {'group' if not user_ids else f'user {user_ids[0]}'}",
        )
    return Queued(
        message=f"A test message to {to} is queued; the delivery log shows how it went.",
        key=key,
    )


def _binding_columns() -> tuple[Any, ...]:
    return (User.email, User.wechat_openid, User.wecom_userid)


BINDING_LABELS = {
    "wechat_openid": N_("WeChat openid"),
    "wecom_userid": N_("WeCom user id"),
    "email": N_("e-mail address"),
}


def _binding_label(binding: str) -> Msg:
    """The binding's name (translated with the sentence)."""
    return Msg(BINDING_LABELS[binding])


# --- rules ----------------------------------------------------------------------------------


def _rule_read(business_type: str, row: dict[str, Any] | None) -> RuleRead:
    return RuleRead(
        business_type=business_type,
        business_label=business_label(business_type, "en"),
        channel_ids=[int(i) for i in msgspec.json.decode(row["channels"] or "[]")] if row else [],
        audience=row["audience"] if row else "involved",
        enabled=bool(row["enabled"]) if row else False,
        configured=row is not None,
        version=int(row["version"]) if row else 0,
    )


async def list_rules(actor: Actor) -> list[RuleRead]:
    hospital_id = own_hospital(actor)
    rows = {
        r["business_type"]: r
        for r in await NotificationRule.select().where(NotificationRule.hospital == hospital_id)
    }
    return [_rule_read(t, rows.get(t)) for t in RULE_TYPES]


async def _check_rule(actor: Actor, business_type: str, data: RuleUpdate) -> list[int]:
    if data.audience not in AUDIENCES:
        raise BadRequest("The audience is one of: {audiences}.", audiences=Listed(AUDIENCES))
    ids = sorted(set(data.channel_ids))
    rows = await visible(NotificationChannel, actor, NotificationChannel.id).where(
        NotificationChannel.hospital == own_hospital(actor),
        NotificationChannel.id.is_in(ids or [0]),
    )
    missing = sorted(set(ids) - {r["id"] for r in rows})
    if missing:
        raise NotFound(
            "No notification channel with id {missing} exists, or it belongs to another hospital.",
            missing=missing[0],
        )
    if data.enabled and not ids:
        raise BadRequest(
            "Choose at least one channel, or switch the rule off.",
        )
    kinds = {
        k["kind"]
        for k in await NotificationChannel.select(NotificationChannel.kind).where(
            NotificationChannel.id.is_in(ids or [0])
        )
    }
    if business_type == "account" and (
        Channel.wecom_bot.value in kinds or data.audience != "involved"
    ):
        raise BadRequest(
            "Verification codes go to the account's owner alone: choose personal "
            "channels (not the group robot) and the audience 'involved'.",
        )
    if data.audience == "hospital" and Channel.wecom_bot.value not in kinds:
        raise BadRequest(
            "The audience 'hospital' is the hospital's WeCom group: add the group robot.",
        )
    return ids


async def set_rule(ctx: Ctx, business_type: str, data: RuleUpdate) -> RuleRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    if business_type not in RULE_TYPES:
        raise BadRequest("The business type is one of: {types}.", types=Listed(RULE_TYPES))
    ids = await _check_rule(actor, business_type, data)
    where = (NotificationRule.hospital == hospital_id) & (
        NotificationRule.business_type == business_type
    )
    async with unit_of_work(ctx) as uow:
        row = await NotificationRule.select(NotificationRule.id).where(where).first()
        values = {
            NotificationRule.channels: _json(ids),
            NotificationRule.audience: data.audience,
            NotificationRule.enabled: data.enabled,
        }
        if row is None:
            if data.version not in (UNSET, 0):
                raise Conflict(
                    "Someone else removed this rule in the meantime. Reload.",
                )
            await NotificationRule.insert(
                NotificationRule(
                    hospital=hospital_id,
                    business_type=business_type,
                    channels=_json(ids),
                    audience=data.audience,
                    enabled=data.enabled,
                )
            )
        else:
            await versioned_update(
                NotificationRule, int(row["id"]), values, data.version, "notification rule"
            )
        await uow.audit(
            "notification_rule.set",
            "notification_rule",
            business_type,
            detail=(
                f"{business_type}: channels {ids}, audience {data.audience}, "
                f"{'on' if data.enabled else 'off'}"
            ),
        )
    return _rule_read(business_type, await NotificationRule.select().where(where).first())
