"""The patient realm's sessions (DESIGN "Who sees what"): patients are not staff.

A patient session is a row of ``patient_session`` behind the ``aimis_patient`` cookie; a
staff session is a row of ``app_session`` behind ``aimis_session``. Neither is read for the
other: the staff middleware (``api.auth``) never looks at the patient cookie, so a patient
is nobody on every staff route (DICOMweb and the staff API answer 401, staff pages send her
to the staff login); the patient routes read only the patient cookie, through
``require_patient``, so a doctor's session is nobody there. A patient is never a
``store.uow.Actor``; she is a ``Patient``, and her audit rows say so (``patient:<id>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth import client_ip
from kernel import security
from kernel.errors import Unauthorized
from kernel.settings import get_settings
from store.db import transaction
from store.sessions import live_session
from store.tables import PatientAccount, PatientSession
from store.uow import Ctx, UnitOfWork, now, write_audit

PATIENT_COOKIE = "aimis_patient"
SCOPE_KEY = "patient"
AUDIT_PREFIX = "patient:"  # the audit log's username of a patient's rows: the actor kind


@dataclass(frozen=True)
class Patient:
    """The patient a request acts for."""

    account_id: int
    phone: str
    session_id: int
    language: str

    @property
    def audit_name(self) -> str:
        return f"{AUDIT_PREFIX}{self.account_id}"


@dataclass(frozen=True)
class Acting:
    """Who acts in the patient realm and from where: the patient (None before the login)
    and the request's ``Ctx`` (no staff actor, ever)."""

    patient: Patient | None
    ctx: Ctx


def acting_of(connection: ASGIConnection) -> Acting:
    patient = connection.scope.get(SCOPE_KEY)
    return Acting(
        patient if isinstance(patient, Patient) else None,
        Ctx(
            actor=None,
            ip=client_ip(connection),
            user_agent=connection.headers.get("user-agent", ""),
        ),
    )


def patient_of(connection: ASGIConnection) -> Patient:
    patient = connection.scope.get(SCOPE_KEY)
    if not isinstance(patient, Patient):
        raise Unauthorized(
            "Please log in with your phone number; your session is missing or has expired."
        )
    return patient


async def patient_for_token(token: str) -> Patient | None:
    """The patient of a live session, or None; touches ``last_seen_at`` at most once a
    minute."""
    row = await live_session(
        PatientSession,
        token,
        get_settings().patient.session_idle_minutes,
        PatientSession.account.id,
        PatientSession.account.phone,
        PatientSession.account.active,
        PatientSession.account.language,
        usable=lambda row: bool(row["account.active"]),
    )
    if row is None:
        return None
    return Patient(row["account.id"], row["account.phone"], row["id"], row["account.language"])


async def require_patient(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """The guard of every patient route: the patient cookie's session, else 401."""
    patient = await patient_for_token(connection.cookies.get(PATIENT_COOKIE, ""))
    if patient is not None:
        connection.scope[SCOPE_KEY] = patient  # type: ignore[literal-required]
    patient_of(connection)


async def optional_patient(connection: ASGIConnection) -> Patient | None:
    """The patient behind a page, if any (the pages redirect to the login without one)."""
    patient = await patient_for_token(connection.cookies.get(PATIENT_COOKIE, ""))
    if patient is not None:
        connection.scope[SCOPE_KEY] = patient  # type: ignore[literal-required]
    return patient


async def patient_audit(
    uow: UnitOfWork | None,
    acting: Acting,
    action: str,
    target_type: str,
    target_id: object = "",
    *,
    account_id: int | None = None,
    outcome: str = "success",
    detail: str = "",
    hospital_id: int | None = None,
) -> None:
    """One audit row of the patient realm: ``username`` ``patient:<account>`` (the actor
    kind), no alliance. A patient belongs to no hospital, but a row about an examination
    (or a share link of one) carries that examination's hospital (``hospital_id``, else
    ``api.patient_archive.audit.hospital_of``), so its admin's operation log lists it; the
    alliance admin never reads these (``store.scoping.PATIENT_AUDIT_TARGETS``). Without a
    unit of work (a refusal) it is written in a transaction of its own."""
    from api.patient_archive.audit import hospital_of  # the archive imports this module

    account = (
        account_id
        if account_id is not None
        else (acting.patient.account_id if acting.patient else None)
    )
    username = f"{AUDIT_PREFIX}{account if account is not None else '?'}"

    async def write() -> None:
        hospital = hospital_id
        if hospital is None:
            hospital = await hospital_of(target_type, target_id)
        await write_audit(
            acting.ctx,
            action,
            target_type,
            target_id,
            outcome=outcome,
            detail=detail,
            hospital_id=hospital,
            username=username,
        )

    if uow is not None:
        await write()
        return
    async with transaction():
        await write()


async def open_session(uow: UnitOfWork, acting: Acting, account_id: int) -> str:
    """A new session for an account whose code was right (inside the login's unit of work);
    the token for the cookie."""
    settings = get_settings().patient
    token = security.new_token()
    at = now()
    await PatientSession.insert(
        PatientSession(
            token_hash=security.token_hash(token),
            account=account_id,
            created_at=at,
            last_seen_at=at,
            expires_at=at + timedelta(hours=settings.session_max_hours),
            ip=acting.ctx.ip[:64],
            user_agent=acting.ctx.user_agent[:300],
        )
    )
    await PatientAccount.update({PatientAccount.last_login_at: at}).where(
        PatientAccount.id == account_id
    )
    return token
