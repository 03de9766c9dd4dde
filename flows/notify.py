"""Notification flows, parameters ids only: one flow run per reset code, named after it; case
notices in batches (``deliver_case_notices``: one flow run for up to
``AIMIS_DISPATCH_BATCH_SIZE`` outbox rows, each notice a task run named after its case,
retried on its own, its outcome returned to the dispatcher row by row).

Each task does one IO step with explicit retries. The delivery log is the ``Notification``
table, one row per recipient and channel: ``pending`` (queued, or retrying after ``error``),
``sending`` (an attempt is under way), ``sent``, ``failed`` (given up). A new attempt that
finds its row still ``sending`` knows the previous one died between sending and recording:
the message may have gone out twice, and the row says so (``error`` starts with
"possible duplicate"). That is the only way a duplicate can arise.

Who is told how (SPEC 3.6, 8.8): the recipient's hospital's enabled rule for the business
type names its channels and audience. A user-addressed channel (WeCom app, official account,
e-mail) reaches each audience member who has the binding (WeCom user id, openid, address);
the group robot posts once per hospital; an audience member none of the rule's personal
channels reaches gets the platform fallback (e-mail if configured, else the log), so nobody
involved is left out silently. No rule (or a disabled one): the fallback for everyone. A
payload naming ``channel_id`` (an admin's test message) uses that channel only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, cast

import msgspec
from prefect import State, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TagsContext, TaskRunContext

from flows.outbox import Outcome, PermanentFailure, failure_of, payload_of, worth_retrying
from flows.runs import outbox_flow, retrying
from kernel.phones import masked, sms_address
from kernel.settings import get_settings
from notifiers.base import (
    DUPLICATE_NOTE,
    Channel,
    DeliveryResult,
    Notifier,
    OutgoingMessage,
    Recipient,
)
from notifiers.channels import Channels, build_channels
from notifiers.configs import BINDINGS
from notifiers.texts import case_message
from store.db import transaction
from store.tables import Notification, NotificationChannel, NotificationRule, Outbox, User
from store.uow import now

log = logging.getLogger(__name__)

LAST_ERROR = "; last error: "

_channels: list[Channels] = []


def use_channels(channels: Channels) -> None:
    """Wired by the dispatcher (the composition root of this process)."""
    _channels[:] = [channels]


def channels() -> Channels:
    if not _channels:
        _channels.append(build_channels(get_settings()))
    return _channels[0]


class DeliveryFailed(Exception):
    """This try did not deliver; a later one may."""


class Planned(msgspec.Struct, frozen=True):
    notification_id: int
    user_id: int | None  # None: a group robot's post
    message: OutgoingMessage


class Target(msgspec.Struct, frozen=True):
    """One delivery decided by planning: a channel, and a user (or a hospital's group)."""

    channel: Channel
    hospital_id: int | None
    user_id: int | None
    address: str
    language: str = "zh"
    channel_id: int | None = None


async def _recipient(user_id: int) -> Recipient:
    user = (
        await User.select(
            User.id,
            User.username,
            *RECIPIENT_COLUMNS,
        )
        .where(User.id == user_id)
        .first()
    )
    if user is None:
        raise PermanentFailure(f"user {user_id} no longer exists")
    return _as_recipient(user)


RECIPIENT_COLUMNS = (
    User.hospital,
    User.department,
    User.email,
    User.wechat_openid,
    User.wecom_userid,
    User.language,
)


def _as_recipient(user: dict) -> Recipient:
    return Recipient(
        user_id=user["id"],
        username=user["username"],
        hospital_id=user["hospital"],
        department_id=user["department"],
        email=user["email"] or "",
        wechat_openid=user["wechat_openid"] or "",
        wecom_userid=user["wecom_userid"] or "",
        language=user["language"] or "zh",
    )


async def _notification(outbox_id: int, target: Target, business_type: str) -> tuple[int, str]:
    """The delivery-log row of this recipient (or group) and channel, created once, and its
    status."""
    who = (
        Notification.user_id == target.user_id
        if target.user_id is not None
        else Notification.user_id.is_null() & (Notification.hospital_id == target.hospital_id)
    )
    where = (
        (Notification.outbox_id == outbox_id) & who & (Notification.channel == target.channel.value)
    )
    async with transaction():
        row = await Notification.select(Notification.id, Notification.status).where(where).first()
        if row:
            return int(row["id"]), str(row["status"])
        created = await Notification.insert(
            Notification(
                outbox_id=outbox_id,
                hospital_id=target.hospital_id,
                user_id=target.user_id,
                business_type=business_type,
                channel=target.channel.value,
                created_at=now(),
            )
        ).returning(Notification.id)
    return int(created[0]["id"]), "pending"


def reset_code_message(code: str, minutes: int, target: Target, phone: str = "") -> OutgoingMessage:
    """A password-reset code, or (``phone``) the code that binds that phone number to the
    account at its first QR login. By text message the body is the SMS template's
    parameters (the code, its minutes), as for a patient's login code."""
    if target.channel == Channel.sms:
        return OutgoingMessage(
            channel=Channel.sms,
            address=target.address,
            title="",
            body=f"{code}\n{minutes}",
            sensitive=True,
        )
    shown = masked(phone) if phone else ""
    zh_for = f"（绑定手机号 {shown}）" if phone else ""
    en_for = f" to bind the phone number {shown}" if phone else ""
    return OutgoingMessage(
        channel=target.channel,
        address=target.address,
        channel_id=target.channel_id,
        title="AIMIS 验证码 verification code",
        body=(
            f"您的 AIMIS 验证码{zh_for}是 {code}，{minutes} 分钟内有效。如非本人操作，请忽略。\n"
            f"Your AIMIS verification code{en_for} is {code}. It is valid for {minutes} "
            "minutes. If you did not ask for it, ignore this message."
        ),
        sensitive=True,
    )


@retrying
async def plan_reset_code(outbox_id: int) -> list[Planned]:
    """Read the request, choose the channel, open its delivery-log row: a reset code goes
    through the user's bound channel, a phone-binding code to the number being bound."""
    payload = await payload_of(outbox_id)
    if "code" not in payload:
        raise PermanentFailure(f"outbox row {outbox_id} holds no code (already scrubbed)")
    recipient = await _recipient(int(payload["user_id"]))
    phone = str(payload.get("phone", ""))
    target = _phone_target(recipient, phone) if phone else await _code_target(recipient)
    notification_id, status = await _notification(outbox_id, target, "account")
    if status == "sent":
        return []
    minutes = get_settings().login.reset_code_minutes
    message = reset_code_message(str(payload["code"]), minutes, target, phone)
    return [Planned(notification_id, recipient.user_id, message)]


def _phone_target(recipient: Recipient, phone: str) -> Target:
    """The code that binds ``phone`` proves the number, so it goes by text message to that
    number (never by WeChat, WeCom or e-mail); without an SMS provider (``AIMIS_SMS_*``,
    the demo) to the log channel, the number masked."""
    address = sms_address(phone)
    if address and Channel.sms in channels().notifiers:
        channel = Channel.sms
    else:
        channel, address = Channel.log, f"staff phone {masked(phone)}"
    return Target(channel, recipient.hospital_id, recipient.user_id, address, recipient.language)


async def _code_target(recipient: Recipient) -> Target:
    """A code goes to the user alone: the first personal channel of the hospital's
    "account" rule the user has the binding for (never a group robot), else the fallback."""
    if recipient.hospital_id is not None:
        for target in await _by_rule(recipient.hospital_id, "account", [recipient]):
            if target.user_id == recipient.user_id and target.channel != Channel.wecom_bot:
                return target
    return _fallback(recipient)


# Inside one batch run (``deliver_case_notices``) a hospital's rule and a channel's settings
# are read once for all its notices (a few seconds: an admin's change counts from the next
# batch); anywhere else they are read each time.
_memo: ContextVar[dict[tuple, Any] | None] = ContextVar("notice_batch_memo", default=None)


async def _batch_memo(key: tuple, load: Callable[..., Awaitable[Any]]) -> Any:
    """``load(*key[1:])``, remembered for the batch run under way."""
    memo = _memo.get()
    if memo is None:
        return await load(*key[1:])
    if key not in memo:
        memo[key] = await load(*key[1:])
    return memo[key]


def _fallback(recipient: Recipient) -> Target:
    channel, address = channels().choose(recipient)
    return Target(channel, recipient.hospital_id, recipient.user_id, address, recipient.language)


async def _channel_rows(hospital_id: int, ids: list[int], enabled_only: bool) -> list[dict]:
    query = NotificationChannel.select(
        NotificationChannel.id, NotificationChannel.kind, NotificationChannel.enabled
    ).where(NotificationChannel.hospital == hospital_id, NotificationChannel.id.is_in(ids or [0]))
    return [
        r for r in await query.order_by(NotificationChannel.id) if r["enabled"] or not enabled_only
    ]


def _on_channels(rows: list[dict], hospital_id: int, people: list[Recipient]) -> list[Target]:
    """Each personal channel to each person with its binding; a robot once."""
    targets = []
    for row in rows:
        kind = Channel(row["kind"])
        if kind == Channel.wecom_bot:
            targets.append(Target(kind, hospital_id, None, "", "zh", row["id"]))
            continue
        for person in people:
            address = getattr(person, BINDINGS[kind])
            if address:
                targets.append(
                    Target(kind, hospital_id, person.user_id, address, person.language, row["id"])
                )
    return targets


async def _department_colleagues(hospital_id: int, people: list[Recipient]) -> list[Recipient]:
    departments = sorted({p.department_id for p in people if p.department_id is not None})
    if not departments:
        return []
    rows = await User.select(User.id, User.username, *RECIPIENT_COLUMNS).where(
        User.hospital == hospital_id,
        User.department.is_in(departments),
        User.active == True,  # noqa: E712
    )
    return [_as_recipient(r) for r in rows]


async def _rule(hospital_id: int, business_type: str) -> tuple[dict | None, list[dict]]:
    """The hospital's enabled rule for the business type and its enabled channels."""
    rule = (
        await NotificationRule.select()
        .where(
            NotificationRule.hospital == hospital_id,
            NotificationRule.business_type == business_type,
            NotificationRule.enabled == True,  # noqa: E712
        )
        .first()
    )
    ids = [int(i) for i in msgspec.json.decode(rule["channels"] or "[]")] if rule else []
    rows = await _channel_rows(hospital_id, ids, enabled_only=True) if rule else []
    return rule, rows


async def _by_rule(hospital_id: int, business_type: str, people: list[Recipient]) -> list[Target]:
    rule, rows = await _batch_memo(("rule", hospital_id, business_type), _rule)
    if not rows:
        return [_fallback(p) for p in people]
    audience = people
    if rule and rule["audience"] == "department":
        known = {p.user_id for p in people}
        extra = await _department_colleagues(hospital_id, people)
        audience = people + [p for p in extra if p.user_id not in known]
    elif rule and rule["audience"] == "hospital":
        audience = []
    targets = _on_channels(rows, hospital_id, audience)
    personal = any(Channel(r["kind"]) != Channel.wecom_bot for r in rows)
    reached = {t.user_id for t in targets}
    if personal:
        targets += [_fallback(p) for p in audience if p.user_id not in reached]
    return targets


async def _targets(payload: dict) -> list[Target]:
    people = []
    for user_id in payload.get("user_ids", []):
        try:
            people.append(await _recipient(int(user_id)))
        except PermanentFailure:  # users who no longer exist are nobody to tell
            continue
    if payload.get("channel_id") is not None:  # a test message: that channel only
        hospital_id = int(payload["hospital_id"])
        rows = await _channel_rows(hospital_id, [int(payload["channel_id"])], enabled_only=False)
        return _on_channels(rows, hospital_id, people)
    business_type = str(payload.get("business_type", ""))
    by_hospital: dict[int | None, list[Recipient]] = {}
    for person in people:
        by_hospital.setdefault(person.hospital_id, []).append(person)
    targets = []
    for hospital, group in by_hospital.items():
        if hospital is None:
            targets += [_fallback(p) for p in group]
        else:
            targets += await _by_rule(hospital, business_type, group)
    return targets


@retrying
async def plan_case_notice(outbox_id: int) -> list[Planned]:
    """One message per target the hospital's rules choose; targets already told are
    skipped."""
    payload = await payload_of(outbox_id)
    business_type = str(payload.get("business_type", ""))
    base_url = get_settings().base_url
    planned = []
    for target in await _targets(payload):
        notification_id, status = await _notification(outbox_id, target, business_type)
        if status != "sent":
            message = case_message(
                payload,
                channel=target.channel,
                address=target.address,
                language=target.language,
                base_url=base_url,
                channel_id=target.channel_id,
            )
            planned.append(Planned(notification_id, target.user_id, message))
    return planned


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def begin_attempt(notification_id: int) -> int:
    """Mark the row ``sending`` before anything leaves; returns the attempt number."""
    return await _begin(notification_id)


async def _begin(notification_id: int, counted: bool = True) -> int:
    """``begin_attempt``'s work; ``counted=False`` (a task's retry inside one dispatch
    attempt) leaves the attempt count as it is."""
    async with transaction():
        row = (
            await Notification.select(Notification.status, Notification.attempts)
            .where(Notification.id == notification_id)
            .first()
        )
        assert row is not None
        attempt = int(row["attempts"]) + int(counted)
        update: dict = {Notification.status: "sending", Notification.attempts: attempt}
        if row["status"] == "sending":
            update[Notification.error] = (
                f"{DUPLICATE_NOTE}: attempt {attempt - 1} was interrupted after it began "
                "sending, so the recipient may get this message twice"
            )
        await Notification.update(update).where(Notification.id == notification_id)
    return attempt


async def _notifier_of(message: OutgoingMessage) -> Notifier | None:
    """The platform's notifier, or the hospital channel's, built from its settings read
    here (secrets never travel as a task parameter)."""
    if message.channel_id is None:
        return channels().notifier(message.channel)
    row = await _batch_memo(("channel", message.channel_id), _channel_config)
    if row is None:
        return None
    config = dict(msgspec.json.decode(row["config"] or "{}"))
    return channels().hospital_notifier(Channel(row["kind"]), config)


async def _channel_config(channel_id: int) -> dict | None:
    return (
        await NotificationChannel.select(NotificationChannel.kind, NotificationChannel.config)
        .where(NotificationChannel.id == channel_id)
        .first()
    )


async def _send(message: OutgoingMessage) -> DeliveryResult:
    """One network send, its outcome returned (never raised)."""
    notifier = await _notifier_of(message)
    if notifier is None:
        return DeliveryResult(
            ok=False,
            error=f"the {message.channel} channel cannot send: it is gone or incomplete",
            retryable=False,
        )
    return await notifier.send(message)


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def send_message(message: OutgoingMessage) -> DeliveryResult:
    """One network send; a failure that may pass is raised so Prefect retries it."""
    result = await _send(message)
    if not result.ok and result.retryable:
        raise DeliveryFailed(result.error)
    return result


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def record_delivery(notification_id: int, ok: bool, error: str) -> None:
    """``sent``, or back to ``pending`` with the reason; a duplicate note is kept."""
    await _record(notification_id, ok, error)


async def _record(notification_id: int, ok: bool, error: str) -> None:
    async with transaction():
        row = (
            await Notification.select(Notification.error)
            .where(Notification.id == notification_id)
            .first()
        )
        kept = row["error"] if row else ""
        note = kept.split(LAST_ERROR)[0] if kept.startswith(DUPLICATE_NOTE) else ""
        update: dict = (
            {Notification.status: "sent", Notification.sent_at: now(), Notification.error: note}
            if ok
            else {
                Notification.status: "pending",
                Notification.error: (f"{note}{LAST_ERROR}{error}" if note else error)[:2000],
            }
        )
        await Notification.update(update).where(Notification.id == notification_id)


@task(retries=1, retry_delay_seconds=[5], cache_policy=NO_CACHE)
async def send_ops_copy(message: OutgoingMessage) -> None:
    """Best effort: the operations copy (AIMIS_NOTIFY_LOG_URL) never fails a delivery."""
    ops = channels().ops_copy
    if ops is not None:
        result = await ops.send(message)
        if not result.ok:
            log.warning("operations copy not delivered: %s", result.error)


async def deliver(planned: list[Planned], *, sender: Any = None) -> None:
    """Send each planned message and record the outcome; raise if any did not go out.
    ``sender``: the send task when not ``send_message`` (the patient's text message,
    ``flows.patient_archive.send_text``)."""
    delays = get_settings().dispatch.retry_delays
    send = (sender or send_message).with_options(retries=len(delays), retry_delay_seconds=delays)
    failures: list[str] = []
    permanent = False
    for item in planned:
        await begin_attempt(item.notification_id)
        try:
            result = await send(item.message)
        except DeliveryFailed as exc:
            result = DeliveryResult(ok=False, error=str(exc))
        await record_delivery(item.notification_id, result.ok, result.error)
        permanent = await _after_send(item, result, failures) or permanent
    _raise_failures(failures, permanent)


async def _after_send(item: Planned, result: DeliveryResult, failures: list[str]) -> bool:
    """The operations copy of a sent message, or its failure noted in ``failures``; True
    when it failed for good."""
    if result.ok:
        if channels().ops_copy is not None:
            await send_ops_copy(channels().ops_message(item.message, item.user_id))
        return False
    who = "the group" if item.user_id is None else f"user {item.user_id}"
    failures.append(f"{item.message.channel} to {who}: {result.error}")
    return not result.retryable


def _raise_failures(failures: list[str], permanent: bool) -> None:
    if failures:
        raise (PermanentFailure if permanent else DeliveryFailed)("; ".join(failures))


@outbox_flow("notify-reset-code")
async def deliver_reset_code(outbox_id: int) -> None:
    """A password-reset code to the user's bound channel (SPEC 1.3)."""
    await deliver(await plan_reset_code(outbox_id))


@outbox_flow("notify-case")
async def deliver_case_notice(outbox_id: int) -> None:
    """A step of a case (consultation, ward round, …) to the users involved (SPEC 3.6)."""
    await deliver(await plan_case_notice(outbox_id))


SENDS_AT_ONCE = 16  # notices of one batch in flight together (sends run in threads)


@task(cache_policy=NO_CACHE, retry_condition_fn=worth_retrying, task_run_name="{key}")
async def deliver_notice(outbox_id: int, key: str) -> None:
    """One case notice of a batch, start to end in one task run (named after the case):
    plan, then each target not yet told is marked ``sending``, sent, and its outcome
    committed right after the send. A retry plans again, so a target already ``sent`` is
    never sent again; it does not count as another attempt in the delivery log (the
    dispatcher's attempt does)."""
    context = TaskRunContext.get()
    first_try = context is None or context.task_run.run_count <= 1
    failures: list[str] = []
    permanent = False
    for item in await plan_case_notice.fn(outbox_id):
        await _begin(item.notification_id, counted=first_try)
        result = await _send(item.message)
        await _record(item.notification_id, result.ok, result.error)
        permanent = await _after_send(item, result, failures) or permanent
    _raise_failures(failures, permanent)


async def _outcome(outbox_id: int, state: State[Any]) -> Outcome:
    if state.is_completed():
        return Outcome(outbox_id, ok=True)
    reason, permanent = await failure_of(state)
    return Outcome(outbox_id, False, reason, permanent)


async def run_batch(outbox_ids: list[int], item: Any, *, retried: bool = True) -> list[Outcome]:
    """The body of a batch flow: each row's ``item(outbox_id, key)`` task its own task run,
    named after its case (the row's idempotency key), ``SENDS_AT_ONCE`` at a time, retried
    alone with ``AIMIS_DISPATCH_RETRY_DELAYS`` when ``retried``; each row's outcome for the
    dispatcher, which records them row by row. A hospital's rule and a channel's settings
    are read once for the whole batch (``_batch_memo``)."""
    with TagsContext(current_tags=set()):
        _memo.set({})
        rows = await Outbox.select(Outbox.id, Outbox.idempotency_key).where(
            Outbox.id.is_in(outbox_ids or [0])
        )
        keys = {int(r["id"]): str(r["idempotency_key"]) for r in rows}
        delays = get_settings().dispatch.retry_delays
        if retried:
            item = item.with_options(retries=len(delays), retry_delay_seconds=delays)
        gate = asyncio.Semaphore(SENDS_AT_ONCE)

        async def one(outbox_id: int) -> Outcome:
            async with gate:
                key = keys.get(outbox_id, f"outbox-{outbox_id}")
                state = await cast(Awaitable[State[Any]], item(outbox_id, key, return_state=True))
            return await _outcome(outbox_id, state)

        return list(await asyncio.gather(*(one(i) for i in outbox_ids)))


@flow(name="notify-case-batch", persist_result=False)
async def deliver_case_notices(outbox_ids: list[int]) -> list[Outcome]:
    """Case notices in one flow run: each its own task run (``deliver_notice``, retried
    alone with ``AIMIS_DISPATCH_RETRY_DELAYS``), ``SENDS_AT_ONCE`` at a time; returns each
    row's outcome, which the dispatcher records row by row. The run is tagged with the kind
    by the dispatcher, its task runs are not (``flows/runs.py``)."""
    return await run_batch(outbox_ids, deliver_notice)
