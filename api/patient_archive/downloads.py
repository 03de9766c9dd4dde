"""The patient downloads an examination's original DICOM (SPEC 10.6, issue 15 point 7).

Only where the examination's hospital allows it (its cloud-film module on and
``CloudFilmRule.allow_download``), else 403; only her own or her family's visible
examination (``archive.visible_exam``), else the archive's 404.

1. **The security code** (``ask``): a ``patient_download`` row with the code's argon2 hash,
   valid ``AIMIS_PATIENT_CODE_MINUTES``; the code goes to the account's phone by the login
   code's sender (``api.patients.codes``: its budgets under the purpose ``download``, the
   outbox ``notify.patient_code`` with ``purpose`` "download", Tencent Cloud SMS or the log
   channel). A new code ends the earlier ones of the same examination that gave no link.
2. **The link** (``confirm``): one try is counted before the comparison, atomically
   (``UPDATE … WHERE attempts < CODE_TRIES``), so concurrent guesses never get more than
   ``CODE_TRIES`` comparisons; a wrong code is a 400 that says how many tries are left,
   the last one invalidates the request (410, as every later try). A right code gives its
   try back and issues the link's token (its hash kept), valid ``LINK_MINUTES``.
3. **The download** (``start``): the token alone (the link may be opened on another
   device), until it expires (410); the examination must still be hers, visible and
   allowed. The zip of the study's current instances with a DICOMDIR (``imaging.fileset``)
   is streamed; each start counts (``downloads``).

Every step is a patient-realm audit row (``patient_download.*``) on target
``patient_download`` ``<id>`` with the examination and its hospital in the detail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import anyio

from api.accounts.passwords import verify
from api.dicomweb.lookup import ARCHIVED_TIERS, STORED_COLUMNS, archived_message, stored_of
from api.patient_archive import archive, policy
from api.patient_archive.schemas import DownloadAsked, DownloadLink
from api.patient_shares.service import Gone, visible_person
from api.patients import codes
from api.patients.realm import Acting, patient_audit
from imaging import fileset
from kernel import security
from kernel.errors import BadRequest, Conflict, Forbidden, NotFound
from kernel.i18n import N_, gettext
from kernel.settings import get_settings
from store.db import transaction
from store.tables import Instance, PatientDownload
from store.uow import Ctx, now, unit_of_work

CODE_TRIES = 10
LINK_MINUTES = 30
TARGET = "patient_download"
LINK = "/api/patient/downloads/"

NOT_ALLOWED = N_(
    "This hospital does not offer the original images for download. You can still view "
    "them here, or ask the hospital for a copy."
)
NO_REQUEST = N_("No such download request. Ask for a new security code on the examination's page.")
NO_LINK = N_("No such download link. Check that the whole link was copied.")
INVALIDATED = N_(
    "Too many wrong security codes: this download request is invalidated. Ask for a new "
    "security code on the examination's page."
)
CODE_EXPIRED = N_("The security code has expired. Ask for a new one.")
LINK_EXPIRED = N_(
    "This download link has expired (a link is valid {minutes} minutes). Ask for a new "
    "security code on the examination's page."
)
CODE_USED = N_("This security code was already used. Ask for a new one.")
WRONG_CODE = N_("The security code is wrong. {left} tries left.")
NO_FILES = N_("This examination has no stored images to download.")


async def download_allowed(hospital_id: int) -> bool:
    """Whether the hospital lets patients download the originals (SPEC 10.6)."""
    if not await policy.hospital_has_cloud_film(hospital_id):
        return False
    row = await policy.stored_default(hospital_id)
    return bool(row and row["allow_download"])


def _account(acting: Acting) -> int:
    assert acting.patient is not None  # behind require_patient
    return acting.patient.account_id


async def _allowed_exam(acting: Acting, exam_id: int, action: str) -> dict[str, Any]:
    """Her visible examination (else the archive's 404) at a hospital that allows the
    download (else 403, audited)."""
    row, _ = await archive.visible_exam(acting, exam_id)
    if not await download_allowed(int(row["hospital_id"])):
        await patient_audit(
            None,
            acting,
            action,
            "examination",
            exam_id,
            outcome="denied",
            detail=f"download off at hospital {row['hospital_id']}",
        )
        raise Forbidden(NOT_ALLOWED, audited=True)
    return row


async def ask(acting: Acting, exam_id: int) -> DownloadAsked:
    """A security code for downloading ``exam_id``, texted to the account's phone."""
    assert acting.patient is not None
    row = await _allowed_exam(acting, exam_id, "patient_download.code_request")
    phone = acting.patient.phone
    await codes.take_send_budgets(acting, phone, codes.DOWNLOAD)
    code, code_hash = await codes.new_hashed_code()
    settings = get_settings().patient
    at = now()
    async with unit_of_work(acting.ctx) as uow:
        await PatientDownload.update({PatientDownload.code_expires_at: at}).where(
            PatientDownload.account == _account(acting),
            PatientDownload.examination == exam_id,
            PatientDownload.token_hash.is_null(),
            PatientDownload.code_expires_at > at,
        )
        made = await PatientDownload.insert(
            PatientDownload(
                account=_account(acting),
                person=int(row["person"]),
                examination=exam_id,
                code_hash=code_hash,
                code_expires_at=at + timedelta(minutes=settings.code_minutes),
                created_at=at,
            )
        ).returning(PatientDownload.id)
        request_id = int(made[0]["id"])
        await codes.queue_code(uow, phone, code, f"patient-download-{request_id}", codes.DOWNLOAD)
        await patient_audit(
            uow,
            acting,
            "patient_download.code_request",
            TARGET,
            request_id,
            detail=f"examination {exam_id} of hospital {row['hospital_id']}; "
            f"code to {codes.masked(phone)}",
        )
    return DownloadAsked(
        request_id,
        codes.masked(phone),
        gettext("A security code was sent to {phone}.", phone=codes.masked(phone)),
        settings.code_interval_seconds,
        settings.code_minutes * 60,
        CODE_TRIES,
    )


async def _request_of(acting: Acting, request_id: int) -> dict[str, Any]:
    row = (
        await PatientDownload.select()
        .where(PatientDownload.id == request_id, PatientDownload.account == _account(acting))
        .first()
    )
    if row is None:
        raise NotFound(NO_REQUEST)
    return row


async def _use_a_try(request_id: int) -> int | None:
    """Count one comparison before the code is compared (atomic: the limit holds for
    concurrent tries); the count, or None when the request has none left."""
    async with transaction():
        rows = await PatientDownload.raw(
            "UPDATE patient_download SET attempts = attempts + 1 "
            "WHERE id = {} AND attempts < {} AND invalidated_at IS NULL "
            "AND token_hash IS NULL RETURNING attempts",
            request_id,
            CODE_TRIES,
        )
    return int(rows[0]["attempts"]) if rows else None


async def _refuse(acting: Acting, row: dict[str, Any], action: str, why: str) -> None:
    await patient_audit(
        None,
        acting,
        action,
        TARGET,
        row["id"],
        outcome="denied",
        detail=f"examination {row['examination']}: {why}",
    )


async def confirm(acting: Acting, request_id: int, code: str) -> DownloadLink:
    """The right security code: the download link. Else 400 (tries left) / 410."""
    row = await _request_of(acting, request_id)
    exam = await _allowed_exam(acting, int(row["examination"]), "patient_download.link")
    action = "patient_download.link"
    if row["invalidated_at"] is not None:
        await _refuse(acting, row, action, "invalidated")
        raise Gone(INVALIDATED, audited=True)
    if row["token_hash"] is not None:
        await _refuse(acting, row, action, "code already used")
        raise BadRequest(CODE_USED, audited=True)
    if now() >= row["code_expires_at"]:
        await _refuse(acting, row, action, "code expired")
        raise Gone(CODE_EXPIRED, audited=True)
    attempts = await _use_a_try(request_id)
    if attempts is None:
        fresh = await _request_of(acting, request_id)
        if fresh["token_hash"] is not None:
            await _refuse(acting, row, action, "code already used")
            raise BadRequest(CODE_USED, audited=True)
        await _refuse(acting, row, action, "invalidated")
        raise Gone(INVALIDATED, audited=True)
    code = code.strip()
    if not (code.isascii() and code.isdigit()) or not await verify(row["code_hash"], code):
        left = CODE_TRIES - attempts
        if left <= 0:
            async with transaction():
                await PatientDownload.update({PatientDownload.invalidated_at: now()}).where(
                    PatientDownload.id == request_id,
                    PatientDownload.invalidated_at.is_null(),
                )
        await patient_audit(
            None,
            acting,
            "patient_download.wrong_code",
            TARGET,
            request_id,
            outcome="failure",
            detail=f"examination {row['examination']}: wrong code {attempts} of {CODE_TRIES}"
            + ("; request invalidated" if left <= 0 else ""),
        )
        if left <= 0:
            raise Gone(INVALIDATED, audited=True)
        raise BadRequest(WRONG_CODE, left=left, audited=True, extra={"tries_left": left})
    token = security.new_token()
    at = now()
    ends = at + timedelta(minutes=LINK_MINUTES)
    async with unit_of_work(acting.ctx) as uow:
        issued = await PatientDownload.raw(
            "UPDATE patient_download SET attempts = attempts - 1, token_hash = {}, "
            "issued_at = {}, expires_at = {} WHERE id = {} AND token_hash IS NULL RETURNING id",
            security.token_hash(token),
            at,
            ends,
            request_id,
        )
        if not issued:  # two right codes at once: one link
            raise BadRequest(CODE_USED)
        await patient_audit(
            uow,
            acting,
            "patient_download.link",
            TARGET,
            request_id,
            detail=f"examination {row['examination']} of hospital {exam['hospital_id']}; "
            f"link valid until {ends.isoformat()}",
        )
    return DownloadLink(
        f"{LINK}{token}",
        ends.isoformat(),
        gettext(
            "Your download link is ready; it is valid {minutes} minutes.", minutes=LINK_MINUTES
        ),
    )


# --- the download itself: the token alone -------------------------------------------------


def _filename(when: datetime | None, exam_id: int) -> str:
    day = when.strftime("%Y%m%d") if when else "exam"
    return f"AIMIS-{day}-{exam_id}.zip"


async def start(ctx: Ctx, token: str) -> tuple[str, Iterator[bytes]]:
    """The zip's file name and its chunks for a live link; 404 / 410 / 403 / 409."""
    row = None
    if token and len(token) <= 100:
        row = (
            await PatientDownload.select(
                PatientDownload.id,
                PatientDownload.account,
                PatientDownload.examination,
                PatientDownload.expires_at,
                PatientDownload.invalidated_at,
                PatientDownload.examination.study.as_alias("study_id"),
                PatientDownload.examination.exam_time.as_alias("exam_time"),
                PatientDownload.examination.hospital.as_alias("hospital_id"),
            )
            .where(PatientDownload.token_hash == security.token_hash(token))
            .first()
        )
    if row is None:
        raise NotFound(NO_LINK)
    acting = Acting(None, ctx)
    account = int(row["account"])

    async def refuse(why: str) -> None:
        await patient_audit(
            None,
            acting,
            "patient_download.start",
            TARGET,
            row["id"],
            account_id=account,
            outcome="denied",
            detail=f"examination {row['examination']}: {why}",
        )

    if row["invalidated_at"] is not None:
        await refuse("invalidated")
        raise Gone(INVALIDATED, audited=True)
    if row["expires_at"] is None or now() >= row["expires_at"]:
        await refuse("link expired")
        raise Gone(LINK_EXPIRED, minutes=LINK_MINUTES, audited=True)
    exam_id = int(row["examination"])
    try:
        await visible_person(account, exam_id)
    except NotFound:
        await refuse("no longer a visible examination of the account")
        raise
    if not await download_allowed(int(row["hospital_id"])):
        await refuse(f"download off at hospital {row['hospital_id']}")
        raise Forbidden(NOT_ALLOWED, audited=True)
    instances = await _instances(int(row["study_id"] or 0))
    plan = await anyio.to_thread.run_sync(fileset.plan, [s.path for s in instances])
    async with unit_of_work(ctx) as uow:
        await PatientDownload.raw(
            "UPDATE patient_download SET downloads = downloads + 1 WHERE id = {}", row["id"]
        )
        await patient_audit(
            uow,
            acting,
            "patient_download.start",
            TARGET,
            row["id"],
            account_id=account,
            detail=f"examination {exam_id} of hospital {row['hospital_id']}: study "
            f"{instances[0].study_uid}, {len(plan.members)} file(s)",
        )
    return _filename(row["exam_time"], exam_id), fileset.zip_stream(plan.dicomdir, plan.members)


async def _instances(study_id: int) -> list[Any]:
    rows = (
        await Instance.select(*STORED_COLUMNS)
        .where(
            Instance.study == study_id,
            Instance.study.deleted_at.is_null(),
            Instance.superseded == False,  # noqa: E712
        )
        .order_by(Instance.series.series_number)
        .order_by(Instance.series.id)
        .order_by(Instance.instance_number)
        .order_by(Instance.id)
    )
    if not rows:
        raise NotFound(NO_FILES)
    if rows[0]["study.tier"] in ARCHIVED_TIERS:
        raise Conflict(archived_message(rows[0]["study.study_uid"], rows[0]["study.tier"]))
    return [stored_of(r) for r in rows]
