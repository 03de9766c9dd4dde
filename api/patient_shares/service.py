"""A patient's share links of one examination (SPEC 10.5, issue 15 point 6).

- **Making one.** The examination must be matched to a live person of the patient's
  account (herself or family), live (not un-matched), and visible now (``visible_at`` in
  the past); anything else is a 404 that tells nothing of whose it is. She picks a period
  (``DAYS``) and a password of her own (``MIN_PASSWORD``..64 characters) or lets one be
  generated; the answer shows the link and a generated password this once. Only hashes are
  stored: ``kernel.security.token_hash`` of the token, ``hash_password`` of the password.
- **Opening one** (``open_link``): no account; the password. One try is taken before the
  comparison, atomically, from the link's own budget (``WRONG_PER_LINK``: at the limit the
  link locks for good) and from the client address's (``ADDRESS_RULE``, ``api.ratelimit``);
  a right password gives both back. So concurrent guesses never get more comparisons than
  the budget. The right password starts a link session (``PatientShareSession``, cookie
  ``aimis_share`` on the path ``/s/<token>`` only) of ``SESSION_MINUTES``, never past the
  link's expiry, that shows this examination and nothing else.
- **Ending one.** An expired or revoked link answers 410 and a page that says so, also to a
  session opened before.
Every making, revoking, opening and wrong password is a patient-realm audit row
(``api.patients.realm.patient_audit``) on ``patient_share`` ``<id>`` under the owner's
account, with the client address: the patient's links page lists the openings from them.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import datetime, timedelta
from typing import Any

from api import ratelimit
from api.accounts.throttle import take_all
from api.patient_shares.schemas import Opening, ShareIn, ShareMade, ShareRow
from api.patients.realm import Acting, Patient, patient_audit
from api.ratelimit import Rule
from kernel import security
from kernel.errors import AppError, BadRequest, Locked, NotFound
from kernel.i18n import N_, gettext
from store.db import transaction
from store.tables import (
    AuditLog,
    Examination,
    ExamReport,
    PatientMatch,
    PatientShare,
    PatientShareSession,
)
from store.uow import Ctx, now, unit_of_work

DAYS = (1, 7, 30)
MIN_PASSWORD = 6
WRONG_PER_LINK = 5
ADDRESS_RULE = Rule("patient-share-address", 20, 3600)
SESSION_MINUTES = 30
COOKIE = "aimis_share"
TARGET = "patient_share"
LIST_LIMIT = 100
OPENINGS_SHOWN = 20
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
ACTIVE, EXPIRED, REVOKED, LOCKED = "active", "expired", "revoked", "locked"


class Gone(AppError):
    """The link expired or was revoked."""

    status_code = 410


REVOKED_TEXT = N_("This share link was revoked by the patient.")
EXPIRED_TEXT = N_("This share link has expired.")
LOCKED_TEXT = N_(
    "Too many wrong passwords: this share link is locked. Ask the patient for a new link."
)


def link_of(token: str) -> str:
    return f"/s/{token}"


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def state_of(row: dict[str, Any], at: datetime | None = None) -> str:
    if row["revoked_at"] is not None:
        return REVOKED
    if row["expires_at"] <= (at or now()):
        return EXPIRED
    if row["failures"] >= WRONG_PER_LINK:
        return LOCKED
    return ACTIVE


GONE_EXAM = N_("The examination of this link is no longer available.")


async def still_shared(share: dict[str, Any]) -> None:
    """A link shows its examination only while the patient still may see it (a match undone
    after a correction, a family member removed, a soft-deleted examination: 410)."""
    try:
        await visible_person(share["account"], share["examination"])
    except NotFound:
        raise Gone(GONE_EXAM) from None


def refusal(state: str) -> AppError:
    if state == REVOKED:
        return Gone(REVOKED_TEXT)
    if state == EXPIRED:
        return Gone(EXPIRED_TEXT)
    return Locked(LOCKED_TEXT)


def mask_address(ip: str) -> str:
    """An address as the patient sees it: the network, not the host."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "?"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            return ":".join(address.exploded.split(":")[:2]) + ":*"
        address = address.ipv4_mapped
    parts = str(address).split(".")
    return f"{parts[0]}.{parts[1]}.*.*"


# --- the patient's side -----------------------------------------------------------------


async def visible_person(account_id: int, exam_id: int) -> int:
    """The live person of the account whose live match of ``exam_id`` is visible now;
    else 404 (another's, un-matched, not yet visible, deleted: all the same)."""
    row = (
        await PatientMatch.select(PatientMatch.person)
        .where(
            PatientMatch.examination == exam_id,
            PatientMatch.unmatched_at.is_null(),
            PatientMatch.visible_at.is_not_null(),
            PatientMatch.visible_at <= now(),
            PatientMatch.person.account == account_id,
            PatientMatch.person.removed_at.is_null(),
            PatientMatch.examination.deleted_at.is_null(),
        )
        .first()
    )
    if row is None:
        raise NotFound(
            "No examination {exam_id} is in your or your family's archive.", exam_id=exam_id
        )
    return int(row["person"])


def _password(given: str) -> tuple[str, str]:
    """(the password, what to show of it: the generated one, or "")."""
    given = given.strip()
    if not given:
        made = "".join(secrets.choice(ALPHABET) for _ in range(8))
        return made, made
    if len(given) < MIN_PASSWORD:
        raise BadRequest("The password must have at least {n} characters.", n=MIN_PASSWORD)
    return given, ""


async def create(acting: Acting, patient: Patient, data: ShareIn) -> ShareMade:
    if data.days not in DAYS:
        raise BadRequest("A share link is valid for 1, 7 or 30 days, not {days}.", days=data.days)
    person_id = await visible_person(patient.account_id, data.examination_id)
    password, shown = _password(data.password)
    token = security.new_token()
    at = now()
    expires = at + timedelta(days=data.days)
    async with unit_of_work(acting.ctx) as uow:
        rows = await PatientShare.insert(
            PatientShare(
                account=patient.account_id,
                person=person_id,
                examination=data.examination_id,
                token_hash=security.token_hash(token),
                password_hash=security.hash_password(password),
                created_at=at,
                expires_at=expires,
            )
        ).returning(PatientShare.id)
        share_id = int(rows[0]["id"])
        await patient_audit(
            uow,
            acting,
            "patient_share.create",
            TARGET,
            share_id,
            detail=f"examination {data.examination_id}, {data.days} days",
        )
    return ShareMade(
        share_id,
        link_of(token),
        shown,
        expires.isoformat(),
        gettext("The link is ready. Send the link and the password separately."),
    )


async def _openings(share_ids: list[int]) -> dict[int, list[Opening]]:
    if not share_ids:
        return {}
    rows = (
        await AuditLog.select(AuditLog.target_id, AuditLog.at, AuditLog.ip)
        .where(
            AuditLog.target_type == TARGET,
            AuditLog.action == "patient_share.open",
            AuditLog.outcome == "success",
            AuditLog.target_id.is_in([str(i) for i in share_ids]),
        )
        .order_by(AuditLog.id, ascending=False)
    )
    out: dict[int, list[Opening]] = {}
    for r in rows:
        shown = out.setdefault(int(r["target_id"]), [])
        if len(shown) < OPENINGS_SHOWN:
            shown.append(Opening(r["at"].isoformat(), mask_address(r["ip"])))
    return out


async def list_shares(patient: Patient) -> list[ShareRow]:
    rows = (
        await PatientShare.select(
            PatientShare.id,
            PatientShare.examination,
            PatientShare.examination.check_item_name,
            PatientShare.examination.body_part,
            PatientShare.examination.exam_time,
            PatientShare.examination.hospital.name,  # type: ignore[union-attr]
            PatientShare.created_at,
            PatientShare.expires_at,
            PatientShare.revoked_at,
            PatientShare.failures,
            PatientShare.openings,
        )
        .where(PatientShare.account == patient.account_id)
        .order_by(PatientShare.id, ascending=False)
        .limit(LIST_LIMIT)
    )
    opened = await _openings([r["id"] for r in rows])
    at = now()
    return [
        ShareRow(
            r["id"],
            r["examination"],
            exam_title(r, "examination."),
            r["created_at"].isoformat(),
            r["expires_at"].isoformat(),
            state_of(r, at),
            r["openings"],
            opened.get(r["id"], []),
        )
        for r in rows
    ]


def exam_title(row: dict[str, Any], prefix: str = "") -> str:
    what = row[f"{prefix}check_item_name"] or row[f"{prefix}body_part"] or ""
    when = row[f"{prefix}exam_time"]
    parts = [row[f"{prefix}hospital.name"] or "", what, when.date().isoformat() if when else ""]
    return " · ".join(p for p in parts if p)


async def revoke(acting: Acting, patient: Patient, share_id: int) -> None:
    async with unit_of_work(acting.ctx) as uow:
        rows = (
            await PatientShare.update({PatientShare.revoked_at: now()})
            .where(
                PatientShare.id == share_id,
                PatientShare.account == patient.account_id,
                PatientShare.revoked_at.is_null(),
            )
            .returning(PatientShare.id)
        )
        if not rows:
            raise NotFound(
                "You have no share link {share_id} that is still open.", share_id=share_id
            )
        await PatientShareSession.delete().where(PatientShareSession.share == share_id)
        await patient_audit(uow, acting, "patient_share.revoke", TARGET, share_id)


# --- the recipient's side ---------------------------------------------------------------


SHARE_COLUMNS = (
    PatientShare.id,
    PatientShare.account,
    PatientShare.examination,
    PatientShare.password_hash,
    PatientShare.expires_at,
    PatientShare.revoked_at,
    PatientShare.failures,
)


async def share_of_token(token: str) -> dict[str, Any]:
    """The link of ``token`` whatever its state; 404 for no such link."""
    row = None
    if token and len(token) <= 100:
        row = (
            await PatientShare.select(*SHARE_COLUMNS)
            .where(PatientShare.token_hash == security.token_hash(token))
            .first()
        )
    if row is None:
        raise NotFound("No such share link. Check that the whole link was copied.")
    return row


async def _use_a_try(share_id: int) -> bool:
    """Count one comparison on the link before the password is compared (atomic: the
    limit holds for concurrent tries); False when the link has none left."""
    async with transaction():
        rows = await PatientShare.raw(
            "UPDATE patient_share SET failures = failures + 1 "
            "WHERE id = {} AND failures < {} AND revoked_at IS NULL RETURNING failures",
            share_id,
            WRONG_PER_LINK,
        )
    return bool(rows)


async def _audit_alone(ctx: Ctx, share: dict[str, Any], action: str, **kw: Any) -> None:
    await patient_audit(
        None, Acting(None, ctx), action, TARGET, share["id"], account_id=share["account"], **kw
    )


async def open_link(ctx: Ctx, token: str, password: str) -> tuple[str, datetime]:
    """The right password: a link session's token and its end. Else 403/423/429/410."""
    share = await share_of_token(token)
    state = state_of(share)
    if state != ACTIVE:
        await _audit_alone(ctx, share, "patient_share.open", outcome="denied", detail=state)
        raise refusal(state)
    await still_shared(share)
    attempt = await take_all(
        [
            (
                ADDRESS_RULE,
                ratelimit.address_subject(ctx.ip),
                N_("Too many wrong share-link passwords from your network."),
            )
        ]
    )
    if not await _use_a_try(share["id"]):
        await attempt.not_a_failure()
        await _audit_alone(ctx, share, "patient_share.open", outcome="denied", detail=LOCKED)
        raise refusal(LOCKED)
    right = security.verify_password(share["password_hash"], password)
    at = now()
    if not right:
        async with transaction():
            rows = await PatientShare.raw(
                "UPDATE patient_share SET locked_at = {} WHERE id = {} AND failures >= {} "
                "AND locked_at IS NULL RETURNING id",
                at,
                share["id"],
                WRONG_PER_LINK,
            )
        await _audit_alone(
            ctx,
            share,
            "patient_share.wrong_password",
            outcome="failure",
            detail="locked" if rows else "",
        )
        raise _WrongPassword()
    await attempt.not_a_failure()
    session = security.new_token()
    ends = min(at + timedelta(minutes=SESSION_MINUTES), share["expires_at"])
    async with unit_of_work(ctx) as uow:
        await PatientShare.raw(
            "UPDATE patient_share SET failures = failures - 1, openings = openings + 1 "
            "WHERE id = {}",
            share["id"],
        )
        await PatientShareSession.insert(
            PatientShareSession(
                share=share["id"],
                token_hash=security.token_hash(session),
                created_at=at,
                expires_at=ends,
            )
        )
        await patient_audit(
            uow,
            Acting(None, ctx),
            "patient_share.open",
            TARGET,
            share["id"],
            account_id=share["account"],
        )
    return session, ends


class _WrongPassword(AppError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__(
            N_("The password is wrong. After {n} wrong passwords the link locks."),
            n=WRONG_PER_LINK,
            audited=True,
        )


async def check_open(share: dict[str, Any]) -> None:
    """410 for a link that expired, was revoked, or no longer shows its examination (a
    locked link keeps the sessions opened before it locked)."""
    state = state_of(share)
    if state in (REVOKED, EXPIRED):
        raise refusal(state)
    await still_shared(share)


async def has_session(share_id: int, session: str) -> bool:
    """Is ``session`` a live session of the link (the cookie, or a DICOMweb bearer)?"""
    if not session or len(session) > 100:
        return False
    return bool(
        await PatientShareSession.exists().where(
            PatientShareSession.share == share_id,
            PatientShareSession.token_hash == security.token_hash(session),
            PatientShareSession.expires_at > now(),
        )
    )


async def session_share(token: str, session: str) -> dict[str, Any] | None:
    """The link of ``token`` if ``session`` is a live session of it; raises 404/410 for
    a link that is not (or no longer) there; None: the password is needed."""
    share = await share_of_token(token)
    await check_open(share)
    return share if await has_session(share["id"], session) else None


# --- what the recipient sees ------------------------------------------------------------


async def examination_view(exam_id: int) -> dict[str, Any]:
    exam = (
        await Examination.select(
            Examination.id,
            Examination.study,
            Examination.study.study_uid,
            Examination.check_item_name,
            Examination.body_part,
            Examination.device_type,
            Examination.exam_time,
            Examination.hospital.name,
            Examination.deleted_at,
        )
        .where(Examination.id == exam_id)
        .first()
    )
    if exam is None or exam["deleted_at"] is not None:
        raise Gone(GONE_EXAM)
    report = (
        await ExamReport.select(
            ExamReport.title, ExamReport.findings, ExamReport.impression, ExamReport.reviewed_at
        )
        .where(ExamReport.examination == exam_id, ExamReport.state == "reviewed")
        .first()
    )
    return {
        "id": exam["id"],
        "study_id": exam["study"],
        "study_uid": exam["study.study_uid"] or "",
        "title": exam_title(exam),
        "device_type": exam["device_type"],
        "exam_date": exam["exam_time"].date().isoformat() if exam["exam_time"] else "",
        "report": report,
    }
