"""The patient's notice that an examination became visible in her archive (SPEC 8.7, 10;
issue 15 point 9): outbox kind ``notify-patient``, up to ``AIMIS_DISPATCH_BATCH_SIZE`` of
them in one flow run (``deliver_patient_notices``, a task run per match), or one flow run per
match (``deliver_patient_notice``) when batches are off; parameter the outbox id (the payload
holds the match id only).

Planning reads the match, the person's account and the examination's hospital: a patient
who opted out (``PatientAccount.notify_opt_out``) is not told at all (audited); one whose
WeChat is bound gets a template message through the hospital's enabled official-account
channel; the others — and she too when WeChat refuses the message for good (a permanent
failure: the channel's rule, a bad address) — get a text message to the account's phone
through the platform's Tencent Cloud SMS account (``notifiers/tencent_sms.py``, the
``AIMIS_PATIENT_SMS_*`` settings) with its notice template
(``AIMIS_PATIENT_SMS_NOTICE_TEMPLATE_ID``; parameters: the hospital, the link). Without that
template the delivery log records the text as failed with the reason, nothing is faked. A
delivered notice stamps ``PatientMatch.notified_at``, which the admin's rule page counts.
Texts carry the hospital's name and the link, nothing of the patient.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from api.patient_archive.visibility import NOTICE
from flows.notify import DeliveryFailed, Planned, Target, _notification, deliver, run_batch
from flows.outbox import Outcome, PermanentFailure, payload_of
from flows.runs import outbox_flow, retrying
from kernel.i18n import N_, gettext
from kernel.settings import Settings, get_settings
from notifiers.base import Channel, DeliveryResult, Notifier, OutgoingMessage
from notifiers.channels import platform_sms
from store.db import transaction
from store.tables import Hospital, Notification, NotificationChannel, PatientMatch
from store.uow import Ctx, now, write_audit

BUSINESS_TYPE = "cloud_film"
CTX = Ctx(user_agent="patient notice")
TITLE = N_("Cloud film: an examination at {hospital} is now in your image archive")
SEE = N_("Log in to view it")
NO_TEXT_SENDER = (
    "no WeChat bound (or no official-account channel at the hospital) and no text-message "
    "notice configured (AIMIS_SMS_* with AIMIS_SMS_NOTICE_TEMPLATE_ID)"
)
LINK = "/patient/examinations/{exam_id}"  # the patient realm's examination page


def text_notifier(settings: Settings) -> Notifier | None:
    """The platform's SMS account with the notice template, or None when not configured."""
    return platform_sms(settings, settings.sms.notice_template_id)


def text_message(hospital: str, exam_id: int, phone: str) -> OutgoingMessage:
    """The text: the approved template's parameters, one a line (the hospital, the link)."""
    link = get_settings().base_url + LINK.format(exam_id=exam_id)
    return OutgoingMessage(channel=Channel.sms, address=phone, title="", body=f"{hospital}\n{link}")


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def send_text(message: OutgoingMessage) -> DeliveryResult:
    """One SMS send; a failure that may pass is raised so Prefect retries it."""
    notifier = text_notifier(get_settings())
    if notifier is None:
        return DeliveryResult(ok=False, error=NO_TEXT_SENDER, retryable=False)
    result = await notifier.send(message)
    if not result.ok and result.retryable:
        raise DeliveryFailed(result.error)
    return result


async def _match(match_id: int) -> dict[str, Any]:
    row = (
        await PatientMatch.select(
            *PatientMatch.all_columns(),
            PatientMatch.person._.account._.wechat_openid.as_alias("openid"),
            PatientMatch.person._.account._.notify_opt_out.as_alias("opt_out"),
            PatientMatch.person._.account._.language.as_alias("language"),
            PatientMatch.person._.account._.active.as_alias("account_active"),
            PatientMatch.person._.account._.phone.as_alias("phone"),
        )
        .where(PatientMatch.id == match_id)
        .first()
    )
    if row is None:
        raise PermanentFailure(f"patient match {match_id} does not exist")
    return row


def patient_message(
    hospital: str, exam_id: int, *, channel: Channel, address: str, language: str, channel_id: int
) -> OutgoingMessage:
    lang = "en" if language == "en" else "zh"
    link = get_settings().base_url + LINK.format(exam_id=exam_id)
    return OutgoingMessage(
        channel=channel,
        address=address,
        title=gettext(TITLE, lang=lang, hospital=hospital),
        body=f"{gettext(SEE, lang=lang)}: {link}",
        link=link,
        channel_id=channel_id,
    )


async def _audit(match: dict[str, Any], outcome: str, detail: str) -> None:
    async with transaction():
        await write_audit(
            CTX,
            "patient_match.notify",
            "patient_match",
            match["id"],
            outcome=outcome,
            detail=detail,
            hospital_id=int(match["hospital"]),
        )


@retrying
async def plan_patient_notice(outbox_id: int) -> list[Planned]:
    match_id = int((await payload_of(outbox_id))["match_id"])
    match = await _match(match_id)
    if match["unmatched_at"] is not None or not match["account_active"]:
        return []
    if match["notified_at"] is not None:
        return []
    if match["opt_out"]:
        await _audit(match, "skipped", "the patient opted out of notices")
        return []
    hospital_id = int(match["hospital"])
    hospital = await Hospital.select(Hospital.name).where(Hospital.id == hospital_id).first()
    name = hospital["name"] if hospital else ""
    channel = (
        await NotificationChannel.select(NotificationChannel.id)
        .where(
            NotificationChannel.hospital == hospital_id,
            NotificationChannel.kind == Channel.wechat_oa.value,
            NotificationChannel.enabled.eq(True),
        )
        .order_by(NotificationChannel.id)
        .first()
    )
    if match["openid"] and channel is not None and not await _texted(outbox_id):
        target = Target(
            Channel.wechat_oa, hospital_id, None, match["openid"], match["language"], channel["id"]
        )
        notification_id, status = await _notification(outbox_id, target, BUSINESS_TYPE)
        if status == "sent":
            return []
        message = patient_message(
            name,
            int(match["examination"]),
            channel=Channel.wechat_oa,
            address=match["openid"],
            language=match["language"],
            channel_id=int(channel["id"]),
        )
        return [Planned(notification_id, None, message)]
    return await _plan_text(outbox_id, match, name)


async def _texted(outbox_id: int) -> bool:
    """Did WeChat fail for good before (a text of this notice is in the delivery log)?"""
    return bool(
        await Notification.exists().where(
            Notification.outbox_id == outbox_id, Notification.channel == Channel.sms.value
        )
    )


async def _plan_text(outbox_id: int, match: dict[str, Any], hospital: str) -> list[Planned]:
    """The text message to the account's phone, or the delivery log's reason why none."""
    hospital_id = int(match["hospital"])
    if text_notifier(get_settings()) is None or not match["phone"]:
        why = NO_TEXT_SENDER if match["phone"] else "the account has no phone number"
        async with transaction():
            await Notification.insert(
                Notification(
                    outbox_id=outbox_id,
                    hospital_id=hospital_id,
                    business_type=BUSINESS_TYPE,
                    channel=Channel.sms.value,
                    status="failed",
                    error=why,
                    created_at=now(),
                )
            )
        await _audit(match, "failed", why)
        return []
    target = Target(Channel.sms, hospital_id, None, match["phone"], match["language"])
    notification_id, status = await _notification(outbox_id, target, BUSINESS_TYPE)
    if status == "sent":
        return []
    message = text_message(hospital, int(match["examination"]), match["phone"])
    return [Planned(notification_id, None, message)]


@retrying
async def plan_text_after_wechat(outbox_id: int) -> list[Planned]:
    """WeChat refused the notice for good: the text instead (her opt-out was read before)."""
    match = await _match(int((await payload_of(outbox_id))["match_id"]))
    hospital = await Hospital.select(Hospital.name).where(Hospital.id == match["hospital"]).first()
    return await _plan_text(outbox_id, match, hospital["name"] if hospital else "")


@retrying
async def mark_notified(match_id: int, planned: int) -> None:
    async with transaction():
        rows = (
            await PatientMatch.update({PatientMatch.notified_at: now()})
            .where(PatientMatch.id == match_id, PatientMatch.notified_at.is_null())
            .returning(PatientMatch.id, PatientMatch.hospital, PatientMatch.examination)
        )
        if rows:
            await write_audit(
                CTX,
                "patient_match.notify",
                "patient_match",
                match_id,
                detail=f"examination {rows[0]['examination']}: the patient was told "
                f"({planned} message(s))",
                hospital_id=int(rows[0]["hospital"]),
            )


@outbox_flow(NOTICE)
async def deliver_patient_notice(outbox_id: int) -> None:
    await _patient_notice(outbox_id)


@task(cache_policy=NO_CACHE, task_run_name="{key}")
async def deliver_patient_notice_item(outbox_id: int, key: str) -> None:
    """One patient notice of a batch in its own task run, named after its match. Not retried
    as a whole: its sends are tasks retried on their own, and a retry of the row (the
    dispatcher's next attempt) plans again, so a message already sent is never sent twice."""
    await _patient_notice(outbox_id)


@flow(name="notify-patient-batch", persist_result=False)
async def deliver_patient_notices(outbox_ids: list[int]) -> list[Outcome]:
    """Patient notices in one flow run (a day's examinations become visible to hundreds of
    patients at once), each its own task run; returns each row's outcome."""
    return await run_batch(outbox_ids, deliver_patient_notice_item, retried=False)


async def _patient_notice(outbox_id: int) -> None:
    planned = await plan_patient_notice(outbox_id)
    if not planned:
        return
    if planned[0].message.channel == Channel.sms:
        await deliver(planned, sender=send_text)
    else:
        try:
            await deliver(planned)
        except PermanentFailure:
            texts = await plan_text_after_wechat(outbox_id)
            if not texts:
                raise
            await deliver(texts, sender=send_text)
    await mark_notified(int((await payload_of(outbox_id))["match_id"]), len(planned))
