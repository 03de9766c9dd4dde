"""One-time codes, the same way over their two tables: a staff account's reset or
phone-binding code (``ResetCode``, owned by the user) and a patient's login code
(``PatientCode``, owned by the phone number).

A code is 6 digits, kept as an argon2 hash (``new_code``); ``issue`` ends the owner's earlier
unused codes, stores the new one with its expiry and queues its outbox row (the plain code
travels only in that payload, until it is delivered); ``live_code`` finds the owner's latest
unused, unexpired code and counts one try before it is compared (``UPDATE ... WHERE tries <
limit``, atomic, so concurrent guesses get exactly ``tries`` comparisons); ``claim`` uses a
checked code up (of two concurrent claims one wins). The budgets (``api.ratelimit``) and the
audit stay with the callers: they differ between the realms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from piccolo.columns import Column
from piccolo.table import Table

from kernel import security
from store.tables import PatientCode, ResetCode
from store.uow import UnitOfWork, now


@dataclass(frozen=True)
class CodeTable:
    """A table of codes: its owner column, the outbox kind its codes go out as, the name of
    the code's id in that payload and the outbox key's prefix."""

    table: type[Table]
    owner: str
    outbox_kind: str
    id_field: str
    key_prefix: str

    def column(self, name: str) -> Column:
        return self.table._meta.get_column_by_name(name)


RESET_CODES = CodeTable(ResetCode, "user", "notify.reset_code", "reset_id", "reset-code")
PATIENT_CODES = CodeTable(PatientCode, "phone", "notify.patient_code", "code_id", "patient-code")


def code_secret(code: str, bound_to: str = "") -> str:
    """What a code's hash is made of: the code, and for a code that confirms a phone number
    the number too, so the code proves exactly the number it was sent for."""
    return f"{code}|{bound_to}" if bound_to else code


async def new_code(bound_to: str = "") -> tuple[str, str]:
    """A fresh 6-digit code and the hash its check compares with (hashed off the loop)."""
    code = security.new_code()
    return code, await anyio.to_thread.run_sync(security.hash_password, code_secret(code, bound_to))


async def issue(
    uow: UnitOfWork,
    codes: CodeTable,
    owner: Any,
    code: str,
    code_hash: str,
    minutes: int,
    payload: dict[str, Any],
) -> int:
    """Store a new code of ``owner`` (its earlier unused ones end) valid ``minutes``, and its
    outbox row (``payload`` plus the code's id and the code), inside the caller's unit of
    work. Returns the code's row id."""
    table, owner_column, used = codes.table, codes.column(codes.owner), codes.column("used")
    at = now()
    await table.update({used: True}).where(owner_column == owner, used == False)  # noqa: E712
    row = await table.insert(
        table(
            **{
                codes.owner: owner,
                "code_hash": code_hash,
                "created_at": at,
                "expires_at": at + timedelta(minutes=minutes),
            }
        )
    ).returning(codes.column("id"))
    code_id = int(row[0]["id"])
    await uow.outbox(
        codes.outbox_kind,
        {**payload, codes.id_field: code_id, "code": code},
        key=f"{codes.key_prefix}-{code_id}",
    )
    return code_id


async def live_code(codes: CodeTable, owner: Any, tries: int) -> dict | None:
    """The owner's latest unused code with one try counted, or None: no such code, expired,
    or its ``tries`` used up (the caller then compares with a dummy hash, for the time)."""
    used = codes.column("used")
    latest = (
        await codes.table.select()
        .where(codes.column(codes.owner) == owner, used == False)  # noqa: E712
        .order_by(codes.column("id"), ascending=False)
        .first()
    )
    if latest is None or now() >= latest["expires_at"]:
        return None
    counted = await codes.table.raw(
        f"UPDATE {codes.table._meta.tablename} SET tries = tries + 1 "
        "WHERE id = {} AND used = FALSE AND tries < {} RETURNING tries",
        latest["id"],
        tries,
    )
    return latest if counted else None


async def claim(codes: CodeTable, code_id: int) -> bool:
    """Use a checked code up, inside the caller's unit of work; False when another request
    claimed it first."""
    used, id_column = codes.column("used"), codes.column("id")
    claimed = (
        await codes.table.update({used: True})
        .where(id_column == code_id, used == False)  # noqa: E712
        .returning(id_column)
    )
    return bool(claimed)
