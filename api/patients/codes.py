"""Phone + text-message code login (SPEC 10.1).

A code is 6 digits, valid ``AIMIS_PATIENT_CODE_MINUTES`` (5), single use, kept as an argon2
hash; its plain text travels only in the outbox payload until it is delivered (the
``notify.patient_code`` flow sends it by Tencent Cloud SMS, or to the log channel when no
SMS provider is configured: the demo). Budgets (``api.ratelimit``, atomic, shared by
replicas): codes sent per phone and per client address, one code a minute per phone, and
wrong codes per phone and per address — one unit taken before the code is compared and
given back when it was right, so concurrent guesses cannot overtake the count. A code also
allows only ``AIMIS_PATIENT_CODE_TRIES`` comparisons (one atomic ``UPDATE``).
"""

from __future__ import annotations

from api import codes
from api.accounts.passwords import dummy_hash, verify
from api.accounts.throttle import Attempt, take_all
from api.crud import unique_or_conflict
from api.patients.realm import Acting, open_session, patient_audit
from api.ratelimit import Rule, address_subject
from kernel import i18n, phones
from kernel.errors import BadRequest, Conflict
from kernel.i18n import N_
from kernel.settings import get_settings
from store.db import transaction
from store.tables import PatientAccount
from store.uow import UnitOfWork, now, unit_of_work


def normalise_phone(value: str) -> str:
    """A mainland mobile number as stored (``86`` + 11 digits), or 400 saying why."""
    return phones.mainland_mobile(value)


def masked(phone: str) -> str:
    """``138****5678``: what a page or an audit row may show of a phone number."""
    local = phone[2:] if phone.startswith("86") else phone
    return f"{local[:3]}****{local[-4:]}"


LOGIN = "login"  # the purposes of a code: the payload's ``purpose``, the message's words
DOWNLOAD = "download"  # the original images' download (``api.patient_archive.downloads``)


async def take_send_budgets(acting: Acting, phone: str, purpose: str = LOGIN) -> None:
    """The budgets of sending a code to ``phone`` (stored form), per purpose: one a minute,
    ``codes_per_phone`` and ``codes_per_address`` per window; 429 when one is spent."""
    settings = get_settings().patient
    window = settings.code_window_seconds
    prefix = "patient-code" if purpose == LOGIN else f"patient-{purpose}-code"
    await take_all(
        [
            (
                Rule(f"{prefix}-interval", 1, settings.code_interval_seconds),
                phone,
                N_("A code was just sent to this phone."),
            ),
            (
                Rule(f"{prefix}-phone", settings.codes_per_phone, window),
                phone,
                N_("Too many codes were sent to this phone."),
            ),
            (
                Rule(f"{prefix}-address", settings.codes_per_address, window),
                address_subject(acting.ctx.ip),
                N_("Too many codes were requested from your network."),
            ),
        ]
    )


async def new_hashed_code() -> tuple[str, str]:
    """A new 6-digit code and its argon2 hash (what is stored): ``api.codes``'."""
    return await codes.new_code()


async def queue_code(
    uow: UnitOfWork, phone: str, code: str, key: str, purpose: str = LOGIN
) -> None:
    """The code to the outbox ``notify.patient_code`` (text message, or the log channel),
    in the caller's unit of work, for a code kept elsewhere than ``patient_code`` (the
    download's security code); the dispatcher scrubs the code once delivered."""
    await uow.outbox(
        "notify.patient_code",
        {"phone": phone, "code": code, "language": i18n.current(), "purpose": purpose},
        key=key,
    )


async def send_code(acting: Acting, phone_text: str) -> str:
    """Queue a new code for ``phone``; earlier unused codes of the phone end. The phone's
    stored form is returned. Throttled before anything is written."""
    phone = normalise_phone(phone_text)
    settings = get_settings().patient
    await take_send_budgets(acting, phone)
    code, code_hash = await new_hashed_code()
    async with unit_of_work(acting.ctx) as uow:
        code_id = await codes.issue(
            uow,
            codes.PATIENT_CODES,
            phone,
            code,
            code_hash,
            settings.code_minutes,
            {"phone": phone, "language": i18n.current(), "purpose": LOGIN},
        )
        account = (
            await PatientAccount.select(PatientAccount.id)
            .where(PatientAccount.phone == phone)
            .first()
        )
        await patient_audit(
            uow,
            acting,
            "patient.code_request",
            "patient_code",
            code_id,
            account_id=account["id"] if account else None,
            detail=f"phone {masked(phone)}",
        )
    return phone


async def _login_attempt(acting: Acting, phone: str) -> Attempt:
    settings = get_settings().patient
    window = settings.login_failure_window_seconds
    return await take_all(
        [
            (
                Rule("patient-login-address", settings.login_failures_per_address, window),
                address_subject(acting.ctx.ip),
                N_("Too many wrong codes from your network."),
            ),
            (
                Rule("patient-login-phone", settings.login_failures_per_phone, window),
                phone,
                N_("Too many wrong codes for this phone."),
            ),
        ]
    )


async def _account_for(phone: str) -> int:
    """The account of ``phone``, created at its first login (two first logins at once: one
    creates it, the other finds it)."""
    row = (
        await PatientAccount.select(PatientAccount.id).where(PatientAccount.phone == phone).first()
    )
    if row:
        return int(row["id"])
    try:
        async with (
            unique_or_conflict("This phone number already has an account."),
            transaction(),
        ):
            created = await PatientAccount.insert(
                PatientAccount(phone=phone, created_at=now(), language=i18n.current())
            ).returning(PatientAccount.id)
            return int(created[0]["id"])
    except Conflict:
        row = (
            await PatientAccount.select(PatientAccount.id)
            .where(PatientAccount.phone == phone)
            .first()
        )
        if row is None:
            raise
        return int(row["id"])


async def login(acting: Acting, phone_text: str, code: str) -> tuple[str, int]:
    """The session token and account id for a right code. Every refusal reads the same."""
    phone = normalise_phone(phone_text)
    wrong = BadRequest(
        "The code is wrong or has expired. Request a new code if it is older than "
        "{minutes} minutes.",
        minutes=get_settings().patient.code_minutes,
        audited=True,
    )
    attempt = await _login_attempt(acting, phone)
    tries = get_settings().patient.code_tries
    latest = await codes.live_code(codes.PATIENT_CODES, phone, tries)
    code = code.strip()
    if latest is None:
        await verify(dummy_hash(), code)  # the same time as a real comparison
        await patient_audit(
            None,
            acting,
            "patient.login",
            "patient_code",
            outcome="failure",
            detail=f"no live code for {masked(phone)}",
        )
        raise wrong
    if not (code.isascii() and code.isdigit()) or not await verify(latest["code_hash"], code):
        await patient_audit(
            None,
            acting,
            "patient.login",
            "patient_code",
            latest["id"],
            outcome="failure",
            detail=f"wrong code for {masked(phone)}",
        )
        raise wrong
    await attempt.not_a_failure()
    account_id = await _account_for(phone)
    async with unit_of_work(acting.ctx) as uow:
        if not await codes.claim(codes.PATIENT_CODES, latest["id"]):
            # single use: of two logins with one code, one wins
            raise BadRequest("This code was already used. Request a new code.")
        token = await open_session(uow, acting, account_id)
        await patient_audit(
            uow, acting, "patient.login", "patient_account", account_id, account_id=account_id
        )
    return token, account_id
