"""The hourly ``purge-ended-sessions`` flow, run against the test Prefect server: sessions
(staff, patient, share link) and one-time codes that ended more than a day ago are
deleted; live ones, and those ended less than a day ago, stay."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from kernel import security
from store.db import transaction
from store.tables import PatientCode, PatientSession, PatientShareSession, ResetCode, Session, User
from store.uow import now
from tests.fixtures.patients import make_account
from tests.integration.test_patient_shares import make_link, shared  # noqa: F401

pytestmark = pytest.mark.integration
HOUR = timedelta(hours=1)


def stamps(ended: timedelta) -> dict[str, Any]:
    """A row's times for a session or code that ended ``ended`` ago (negative: ends later)."""
    at = now()
    return {
        "created_at": at - ended - 30 * 24 * HOUR,
        "expires_at": at - ended,
    }


async def staff_session(ended: timedelta, revoked: bool = False) -> int:
    user = await User.select(User.id).where(User.username == "dr.wang").first()
    assert user is not None
    seen = now() - ended if revoked else now()
    rows = await Session.insert(
        Session(
            token_hash=security.token_hash(security.new_token()),
            csrf_token="",
            user=user["id"],
            realm="app",
            last_seen_at=seen,
            revoked=revoked,
            **(stamps(-24 * HOUR) if revoked else stamps(ended)),
        )
    ).returning(Session.id)
    return int(rows[0]["id"])


async def patient_rows(account: int, phone: str, ended: timedelta) -> tuple[int, int]:
    session = await PatientSession.insert(
        PatientSession(
            token_hash=security.token_hash(security.new_token()),
            account=account,
            last_seen_at=now() - ended,
            **stamps(ended),
        )
    ).returning(PatientSession.id)
    code = await PatientCode.insert(
        PatientCode(phone=phone, code_hash="x", **stamps(ended))
    ).returning(PatientCode.id)
    return int(session[0]["id"]), int(code[0]["id"])


async def test_ended_sessions_and_spent_codes_go_after_a_day(
    run_flow: Any,
    shared: dict[str, Any],  # noqa: F811
) -> None:
    account = await make_account()
    link = await make_link(shared["patient"], shared["study"]["exam_id"])
    user = await User.select(User.id).where(User.username == "dr.wang").first()
    assert user is not None
    async with transaction():
        old_staff = await staff_session(30 * HOUR)
        old_revoked = await staff_session(30 * HOUR, revoked=True)
        young_staff = await staff_session(2 * HOUR)
        live_staff = await staff_session(-24 * HOUR)
        old_patient, old_code = await patient_rows(account["id"], account["phone"], 30 * HOUR)
        young_patient, young_code = await patient_rows(account["id"], account["phone"], 2 * HOUR)
        old_reset = await ResetCode.insert(
            ResetCode(user=user["id"], code_hash="x", **stamps(26 * HOUR))
        ).returning(ResetCode.id)
        used_reset = await ResetCode.insert(
            ResetCode(
                user=user["id"], code_hash="x", used=True, created_at=now(), expires_at=now() + HOUR
            )
        ).returning(ResetCode.id)
        share_sessions = {}
        for name, ended in (("old", 30 * HOUR), ("live", -HOUR)):
            rows = await PatientShareSession.insert(
                PatientShareSession(
                    share=link["id"],
                    token_hash=security.token_hash(security.new_token()),
                    **stamps(ended),
                )
            ).returning(PatientShareSession.id)
            share_sessions[name] = int(rows[0]["id"])

    out = run_flow(
        "import asyncio\n"
        "from flows.housekeeping import purge_ended_sessions\n"
        "print('removed', asyncio.run(purge_ended_sessions()))\n"
    )
    assert re.search(r"removed \d+", out), out

    async def there(table: Any, row_id: int) -> bool:
        return bool(await table.exists().where(table.id == row_id))

    for table, row_id in (
        (Session, old_staff),
        (Session, old_revoked),
        (PatientSession, old_patient),
        (PatientCode, old_code),
        (ResetCode, old_reset[0]["id"]),
        (PatientShareSession, share_sessions["old"]),
    ):
        assert not await there(table, row_id), (table, row_id)
    for table, row_id in (
        (Session, young_staff),
        (Session, live_staff),
        (PatientSession, young_patient),
        (PatientCode, young_code),
        (ResetCode, used_reset[0]["id"]),  # used just now: not a day yet
        (PatientShareSession, share_sessions["live"]),
    ):
        assert await there(table, row_id), (table, row_id)
