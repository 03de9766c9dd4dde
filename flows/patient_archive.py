"""The patient's notice that an examination became visible in her archive (SPEC 8.7, 10;
issue 15 point 9): outbox kind ``notify-patient``, one flow run per match, parameter the
outbox id (the payload holds the match id only).

Planning reads the match, the person's account and the examination's hospital: a patient
who opted out (``PatientAccount.notify_opt_out``) is not told (audited); one whose WeChat is
bound gets a template message through the hospital's enabled official-account channel; the
others need a text message — ``TEXT_FALLBACK``, empty until the SMS sender of the patient
login exists (issue 15 point 1): until then the delivery log records the notice as failed
with that reason, nothing is faked. A delivered notice stamps ``PatientMatch.notified_at``,
which the admin's rule page counts. Texts carry the hospital's name and the link, nothing
of the patient.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from api.patient_archive.visibility import NOTICE
from flows.notify import Planned, Target, _notification, deliver
from flows.outbox import PermanentFailure, payload_of
from flows.runs import outbox_flow, retrying
from kernel.i18n import N_, gettext
from kernel.settings import get_settings
from notifiers.base import Channel, OutgoingMessage
from store.db import transaction
from store.tables import Hospital, Notification, NotificationChannel, PatientMatch
from store.uow import Ctx, now, write_audit

BUSINESS_TYPE = "cloud_film"
CTX = Ctx(user_agent="patient notice")
TITLE = N_("Cloud film: an examination at {hospital} is now in your image archive")
SEE = N_("Log in to view it")
NO_TEXT_SENDER = (
    "no WeChat bound (or no official-account channel at the hospital) and no text-message "
    "sender configured yet"
)
LINK = "/patient/exams/{exam_id}"  # the patient realm's examination page

# The text-message fallback: (match row, hospital name, language, link) → sent or not.
TextSender = Callable[[dict[str, Any], str, str, str], Awaitable[bool]]
TEXT_FALLBACK: list[TextSender] = []


async def _match(match_id: int) -> dict[str, Any]:
    row = (
        await PatientMatch.select(
            *PatientMatch.all_columns(),
            PatientMatch.person._.account._.wechat_openid.as_alias("openid"),
            PatientMatch.person._.account._.notify_opt_out.as_alias("opt_out"),
            PatientMatch.person._.account._.language.as_alias("language"),
            PatientMatch.person._.account._.active.as_alias("account_active"),
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
    if match["openid"] and channel is not None:
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
    link = get_settings().base_url + LINK.format(exam_id=match["examination"])
    for send in TEXT_FALLBACK:
        if await send(match, name, match["language"], link):
            return []
    async with transaction():
        await Notification.insert(
            Notification(
                outbox_id=outbox_id,
                hospital_id=hospital_id,
                business_type=BUSINESS_TYPE,
                channel="sms",
                status="failed",
                error=NO_TEXT_SENDER,
                created_at=now(),
            )
        )
    await _audit(match, "failed", NO_TEXT_SENDER)
    return []


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
    planned = await plan_patient_notice(outbox_id)
    if not planned:
        return
    await deliver(planned)
    await mark_notified(int((await payload_of(outbox_id))["match_id"]), len(planned))
