"""Notification flows: one flow run per outbox row, named after the case, parameters ids only.

Each task does one IO step with explicit retries. The delivery log is the ``Notification``
table, one row per recipient and channel: ``pending`` (queued, or retrying after ``error``),
``sending`` (an attempt is under way), ``sent``, ``failed`` (given up). A new attempt that
finds its row still ``sending`` knows the previous one died between sending and recording:
the message may have gone out twice, and the row says so (``error`` starts with
"possible duplicate"). That is the only way a duplicate can arise.
"""

from __future__ import annotations

import logging

import msgspec
from prefect import task
from prefect.cache_policies import NO_CACHE

from aimis.settings import get_settings
from flows.outbox import PermanentFailure, worth_retrying
from flows.runs import outbox_flow
from flows.settings import get_dispatch_settings
from notifiers import Channel, Channels, DeliveryResult, OutgoingMessage, Recipient, build_channels
from store.db import transaction
from store.tables import Notification, Outbox, User
from store.uow import now

log = logging.getLogger(__name__)

DUPLICATE_NOTE = "possible duplicate"
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
    user_id: int
    message: OutgoingMessage


async def _payload(outbox_id: int) -> dict:
    row = await Outbox.select(Outbox.payload).where(Outbox.id == outbox_id).first()
    if row is None:
        raise PermanentFailure(f"outbox row {outbox_id} does not exist")
    return dict(msgspec.json.decode(row["payload"] or "{}"))


async def _recipient(user_id: int) -> Recipient:
    user = (
        await User.select(
            User.id,
            User.username,
            User.hospital,
            User.email,
            User.wechat_openid,
            User.wecom_userid,
        )
        .where(User.id == user_id)
        .first()
    )
    if user is None:
        raise PermanentFailure(f"user {user_id} no longer exists")
    return Recipient(
        user_id=user["id"],
        username=user["username"],
        hospital_id=user["hospital"],
        email=user["email"] or "",
        wechat_openid=user["wechat_openid"] or "",
        wecom_userid=user["wecom_userid"] or "",
    )


async def _notification(
    outbox_id: int, recipient: Recipient, channel: Channel, business_type: str
) -> tuple[int, str]:
    """The delivery-log row of this recipient and channel (created once) and its status."""
    where = (
        (Notification.outbox_id == outbox_id)
        & (Notification.user_id == recipient.user_id)
        & (Notification.channel == channel.value)
    )
    async with transaction():
        row = await Notification.select(Notification.id, Notification.status).where(where).first()
        if row:
            return int(row["id"]), str(row["status"])
        created = await Notification.insert(
            Notification(
                outbox_id=outbox_id,
                hospital_id=recipient.hospital_id,
                user_id=recipient.user_id,
                business_type=business_type,
                channel=channel.value,
                created_at=now(),
            )
        ).returning(Notification.id)
    return int(created[0]["id"]), "pending"


def reset_code_message(code: str, minutes: int, channel: Channel, address: str) -> OutgoingMessage:
    return OutgoingMessage(
        channel=channel,
        address=address,
        title="AIMIS 验证码 verification code",
        body=(
            f"您的 AIMIS 验证码是 {code}，{minutes} 分钟内有效。如非本人操作，请忽略。\n"
            f"Your AIMIS verification code is {code}. It is valid for {minutes} minutes. "
            "If you did not ask for it, ignore this message."
        ),
        sensitive=True,
    )


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)
async def plan_reset_code(outbox_id: int) -> list[Planned]:
    """Read the request, choose the user's channel, open its delivery-log row."""
    payload = await _payload(outbox_id)
    if "code" not in payload:
        raise PermanentFailure(f"outbox row {outbox_id} holds no code (already scrubbed)")
    recipient = await _recipient(int(payload["user_id"]))
    channel, address = channels().choose(recipient)
    notification_id, status = await _notification(outbox_id, recipient, channel, "account")
    if status == "sent":
        return []
    minutes = get_settings().reset_code_minutes
    message = reset_code_message(str(payload["code"]), minutes, channel, address)
    return [Planned(notification_id, recipient.user_id, message)]


def case_message(payload: dict, channel: Channel, address: str) -> OutgoingMessage:
    """A step of a case for the people involved: what happened and a link, no patient data."""
    link = f"{get_settings().base_url}{payload.get('link', '')}"
    what = f"{payload.get('business_type', '')} {payload.get('case_id', '')}".strip()
    return OutgoingMessage(
        channel=channel,
        address=address,
        title=f"AIMIS 通知 notification: {what}",
        body=f"{what}: {payload.get('event', '')}\n{link}",
    )


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)
async def plan_case_notice(outbox_id: int) -> list[Planned]:
    """One message per involved user on the user's channel; users already told are skipped,
    users who no longer exist are nobody to tell."""
    payload = await _payload(outbox_id)
    planned = []
    for user_id in payload.get("user_ids", []):
        try:
            recipient = await _recipient(int(user_id))
        except PermanentFailure:
            continue
        channel, address = channels().choose(recipient)
        business_type = str(payload.get("business_type", ""))
        notification_id, status = await _notification(outbox_id, recipient, channel, business_type)
        if status != "sent":
            message = case_message(payload, channel, address)
            planned.append(Planned(notification_id, recipient.user_id, message))
    return planned


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def begin_attempt(notification_id: int) -> int:
    """Mark the row ``sending`` before anything leaves; returns the attempt number."""
    async with transaction():
        row = (
            await Notification.select(Notification.status, Notification.attempts)
            .where(Notification.id == notification_id)
            .first()
        )
        assert row is not None
        attempt = int(row["attempts"]) + 1
        update: dict = {Notification.status: "sending", Notification.attempts: attempt}
        if row["status"] == "sending":
            update[Notification.error] = (
                f"{DUPLICATE_NOTE}: attempt {attempt - 1} was interrupted after it began "
                "sending, so the recipient may get this message twice"
            )
        await Notification.update(update).where(Notification.id == notification_id)
    return attempt


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def send_message(message: OutgoingMessage) -> DeliveryResult:
    """One network send; a failure that may pass is raised so Prefect retries it."""
    result = await channels().notifier(message.channel).send(message)
    if not result.ok and result.retryable:
        raise DeliveryFailed(result.error)
    return result


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def record_delivery(notification_id: int, ok: bool, error: str) -> None:
    """``sent``, or back to ``pending`` with the reason; a duplicate note is kept."""
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


async def deliver(planned: list[Planned]) -> None:
    """Send each planned message and record the outcome; raise if any did not go out."""
    delays = get_dispatch_settings().retry_delays
    send = send_message.with_options(retries=len(delays), retry_delay_seconds=delays)
    failures: list[str] = []
    permanent = False
    for item in planned:
        await begin_attempt(item.notification_id)
        try:
            result = await send(item.message)
        except DeliveryFailed as exc:
            result = DeliveryResult(ok=False, error=str(exc))
        await record_delivery(item.notification_id, result.ok, result.error)
        if result.ok:
            if channels().ops_copy is not None:
                await send_ops_copy(channels().ops_message(item.message, item.user_id))
        else:
            failures.append(f"{item.message.channel} to user {item.user_id}: {result.error}")
            permanent = permanent or not result.retryable
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
