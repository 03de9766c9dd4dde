"""The printed report's QR code (issue 15 point 8; SPEC 10.3, 2.4 print).

The examination report and the consultation report carry, for each examination they are
about whose hospital has cloud film on, a QR code of ``<base URL>/patient/qr/<token>``.
The token is signed, and names one examination::

    <examination id>.<issued, Unix seconds>.<signature>

the signature being HMAC-SHA256 (``kernel.security.signing_key("patient-qr v1")``, a key
derived from the installation's secret) over ``v1.<examination id>.<issued>``, base64url
without padding. It cannot be guessed from an examination id; any changed character makes
it invalid, and it is compared in constant time (``hmac.compare_digest``). A token older
than ``AIMIS_PATIENT_QR_MAX_AGE_DAYS`` (or issued in the future) is refused.

A patient who scans it (``scan``) after logging in lands on that examination: if none of
her account's persons is matched to it yet, the scan is the proof of a manual match for the
person whose verified name the examination carries (``matching.qr_match``: the name must
agree, the hospital must have cloud film on); then it opens as any of her examinations. A
token that is damaged or altered is a 400, one of an examination that no longer exists a
404, a name that does not agree a 400 — nothing changes, and each refusal is a
``patient_qr.scan`` audit row (``denied``), as each scan is (``success``), with the
examination's hospital where the token is genuine.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

from api.patient_archive import matching, policy
from api.patients.realm import Acting, patient_audit
from kernel import security
from kernel.errors import BadRequest, Conflict, NotFound
from kernel.i18n import N_
from kernel.settings import get_settings
from store.tables import Examination, PatientMatch, PatientPerson
from store.uow import now

PURPOSE = "patient-qr v1"
VERSION = "v1"
PATH = "/patient/qr/"
ACTION = "patient_qr.scan"
SKEW = timedelta(minutes=5)  # a token "issued" later than now by more than this is forged
BAD_CODE = N_(
    "This is not a valid examination code of AIMIS: it may be damaged or altered. Scan the "
    "code on the printed report again, or add the examination with its number."
)
OLD_CODE = N_(
    "This examination code is too old. Add the examination with the number on your "
    "examination slip instead."
)
GONE = N_("The examination of this code is no longer available.")
NO_PERSON = N_(
    "Verify your real name first: the code adds the examination to the archive of the "
    "person whose name it carries."
)


@dataclass(frozen=True)
class Scanned:
    """What a scan did: the examination, whether it was matched just now, whether she
    can open it now (else it shows once the hospital releases it)."""

    examination_id: int
    matched: bool
    visible: bool


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signature(exam_id: int, issued: int) -> str:
    message = f"{VERSION}.{exam_id}.{issued}".encode()
    return _b64(hmac.new(security.signing_key(PURPOSE), message, sha256).digest())


def make_token(exam_id: int, at: datetime | None = None) -> str:
    issued = int((at or now()).timestamp())
    return f"{exam_id}.{issued}.{_signature(exam_id, issued)}"


def token_url(exam_id: int, at: datetime | None = None) -> str:
    """The URL a report's QR code holds."""
    return f"{get_settings().base_url}{PATH}{make_token(exam_id, at)}"


def _digits(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) < 19 else None


def read_token(token: str) -> tuple[int, datetime]:
    """The examination id and issue time of a genuine token, else ``BadRequest``."""
    parts = token.split(".") if len(token) <= 200 else []
    exam_id, issued = (_digits(parts[0]), _digits(parts[1])) if len(parts) == 3 else (None, None)
    if exam_id is None or issued is None:
        raise BadRequest(BAD_CODE)
    if not hmac.compare_digest(_signature(exam_id, issued).encode(), parts[2].encode()):
        raise BadRequest(BAD_CODE)
    at = datetime.fromtimestamp(issued, UTC)
    if at > now() + SKEW:
        raise BadRequest(BAD_CODE)
    if now() - at > timedelta(days=get_settings().patient.qr_max_age_days):
        raise BadRequest(OLD_CODE)
    return exam_id, at


async def printable_url(exam_id: int, hospital_id: int, at: datetime) -> str | None:
    """The URL of the code a printed page carries for this examination, or None when its
    hospital's cloud film is off (a scan could not add it)."""
    if not await policy.hospital_has_cloud_film(hospital_id):
        return None
    return token_url(exam_id, at)


async def _exam(exam_id: int) -> dict[str, Any] | None:
    return (
        await Examination.select(Examination.id, Examination.hospital, Examination.deleted_at)
        .where(Examination.id == exam_id)
        .first()
    )


async def _persons(account_id: int) -> list[dict[str, Any]]:
    """Her account's live persons, herself first."""
    rows = await PatientPerson.select(
        PatientPerson.id, PatientPerson.name, PatientPerson.relationship
    ).where(PatientPerson.account == account_id, PatientPerson.removed_at.is_null())
    return sorted(rows, key=lambda r: (r["relationship"] != "self", r["id"]))


async def _live_matches(person_ids: list[int], exam_id: int) -> list[dict[str, Any]]:
    return await PatientMatch.select(PatientMatch.person, PatientMatch.visible_at).where(
        PatientMatch.person.is_in(person_ids or [0]),
        PatientMatch.examination == exam_id,
        PatientMatch.unmatched_at.is_null(),
    )


async def _refused(acting: Acting, target: str, target_id: object, why: str) -> None:
    await patient_audit(None, acting, ACTION, target, target_id, outcome="denied", detail=why)


async def genuine(acting: Acting, token: str) -> tuple[int, datetime]:
    """``read_token``, a refusal audited (before her login too: ``patient:?``)."""
    try:
        return read_token(token)
    except BadRequest as exc:
        account = acting.patient.account_id if acting.patient else ""
        await _refused(acting, "patient_account", account, f"the code is refused: {exc.message}")
        exc.audited = True
        raise


async def scan(acting: Acting, token: str) -> Scanned:
    """A scanned report code, for the logged-in patient of ``acting``."""
    assert acting.patient is not None  # behind require_patient
    account = acting.patient.account_id
    exam_id, issued = await genuine(acting, token)
    exam = await _exam(exam_id)
    if exam is None or exam["deleted_at"] is not None:
        await _refused(acting, "examination", exam_id, "the examination is deleted or gone")
        raise NotFound(GONE, audited=True)
    persons = await _persons(account)
    if not persons:
        await _refused(acting, "examination", exam_id, "no verified person in the account")
        raise Conflict(NO_PERSON, extra={"verify": "/patient/verify"}, audited=True)
    ids = [int(p["id"]) for p in persons]
    matched = False
    if not await _live_matches(ids, exam_id):
        username = f"patient:{account}"
        agreeing = [p for p in persons if await matching.exam_carries_name(exam_id, p["name"])]
        # none agreeing: qr_match refuses for herself (audited, with the name it wanted)
        person = agreeing[0] if agreeing else persons[0]
        await matching.qr_match(acting.ctx, int(person["id"]), exam_id, username=username)
        matched = True
    at = now()
    visible = any(
        m["visible_at"] is not None and m["visible_at"] <= at
        for m in await _live_matches(ids, exam_id)
    )
    await patient_audit(
        None,
        acting,
        ACTION,
        "examination",
        exam_id,
        detail=f"report code of {issued.isoformat()}: "
        f"{'matched now' if matched else 'already in the archive'}, "
        f"{'visible' if visible else 'not visible yet'}",
    )
    return Scanned(exam_id, matched, visible)
