"""The rules the management services share (SPEC 8.1–8.3): who acts, clean names, phones
and e-mail addresses, time zones and modules, and the small store steps they all take
(unique values, versioned updates and changed fields are ``api.crud``'s). Reads go through
``store.scoping``; writes through ``unit_of_work`` with an audit row.

Hospitals, departments, new accounts, people, roles, media and audit have their own modules.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from piccolo.table import Table

from kernel import security
from kernel.domain import Module
from kernel.errors import BadRequest, Forbidden, Unauthorized
from kernel.i18n import N_, Listed, Msg
from store.tables import User
from store.uow import Actor, Ctx

PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]{2,38}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def json_text(value: object) -> str:
    """A JSON text column's value (modules, permissions)."""
    return msgspec.json.encode(value).decode()


def json_list(text: str | None) -> list[Any]:
    """A JSON text column read back; empty is the empty list."""
    return list(msgspec.json.decode(text or "[]"))


def actor_of(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized(
            "Please log in; your session is missing or has expired.",
        )
    return ctx.actor


def own_hospital(actor: Actor) -> int:
    if actor.hospital_id is None:
        raise Forbidden("Only a hospital administrator may do this.")
    return actor.hospital_id


# --- shared rules ---------------------------------------------------------------------------


def clean_text(value: str, what: str, max_len: int, *, required: bool = True) -> str:
    """``what`` names the field in the message (an English word of the catalogue)."""
    value = value.strip()
    if required and not value:
        raise BadRequest("The {what} must not be empty.", what=Msg(what))
    if len(value) > max_len:
        raise BadRequest(
            "The {what} has at most {max_len} characters.", what=Msg(what), max_len=max_len
        )
    return value


def clean_phone(value: str) -> str:
    value = value.strip()
    if value and not PHONE_RE.fullmatch(value):
        raise BadRequest(
            "{value!r} is not a phone number: use digits, spaces, '-', '(', ')' and "
            "an optional leading '+'.",
            value=value[:40],
        )
    return value


def clean_email(value: str) -> str:
    value = value.strip()
    if value and (len(value) > 200 or not EMAIL_RE.fullmatch(value)):
        raise BadRequest(
            "{value!r} is not an e-mail address.",
            value=value[:60],
        )
    return value


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except Exception:
        raise BadRequest(
            "{value!r} is not a time zone; use a name such as 'Asia/Shanghai'.",
            value=value[:64],
        ) from None
    return value


def check_known(values: list[str], known: list[str], message: str) -> list[str]:
    """``values`` in ``known``'s order without repeats, or ``message`` (its ``{unknown}``
    and ``{known}`` filled in) naming the ones that are not known."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise BadRequest(message, unknown=Listed(unknown), known=Listed(known))
    return [v for v in known if v in values]


def check_modules(modules: list[str]) -> list[str]:
    return check_known(
        modules,
        [m.value for m in Module],
        N_("Unknown modules: {unknown}. Known modules: {known}."),
    )


def temporary_password() -> str:
    """A random password that passes the strength rule, for an admin to hand over once."""
    rng = secrets.SystemRandom()
    upper, lower = "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz"
    digits, symbols = "23456789", "#@%+=!"
    alphabet = upper + lower + digits + symbols  # no 0/O, 1/l/I: read aloud or copied by hand
    while True:
        chars = [
            rng.choice(upper),
            rng.choice(lower),
            rng.choice(digits),
            rng.choice(symbols),
            *(rng.choice(alphabet) for _ in range(8)),
        ]
        rng.shuffle(chars)
        password = "".join(chars)
        if security.password_problem(password) is None:
            return password


async def insert_id(row: Table) -> int:
    """Insert ``row`` and return the id it was given."""
    table = type(row)
    inserted = await table.insert(row).returning(table._meta.primary_key)
    return int(inserted[0][table._meta.primary_key._meta.name])


async def with_user_counts(
    column: Any, rows: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], int]]:
    """Each row with the number of users who have it in ``column`` (their department, role)."""
    counts: Counter[int] = Counter()
    if rows:
        name = column._meta.name
        users = await User.select(column).where(column.is_in([r["id"] for r in rows]))
        counts.update(u[name] for u in users)
    return [(r, counts[r["id"]]) for r in rows]
