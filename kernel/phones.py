"""Phone numbers in the one form they are stored and compared in.

A person types ``139 0000 0002``, ``139-0000-0002`` or ``+86 139 0000 0002``; stored as typed,
the check "this number is bound to another account" misses the same number written another
way. ``compact`` is therefore applied at every write (and to every lookup) of a staff
account's number: no spaces, dashes, dots or brackets, and a mainland mobile number without
its ``+86`` / ``0086`` / ``86`` prefix (``13900000002``). Other numbers keep their leading
``+``. The patient realm stores the E.164 digits (``8613900000002``, ``mainland_mobile``).
``sms_address`` is what a text message to a stored number is sent to (E.164 digits).
"""

from __future__ import annotations

import re

from kernel.errors import BadRequest

SEPARATORS = re.compile(r"[\s\-().]")
NUMBER = re.compile(r"\+?[0-9]{6,20}")
MAINLAND = re.compile(r"1[3-9][0-9]{9}")
_PREFIXES = ("+86", "0086", "86")


def _without_country(digits: str) -> str:
    """A mainland mobile number without its country prefix; anything else unchanged."""
    for prefix in _PREFIXES:
        rest = digits.removeprefix(prefix)
        if rest != digits and MAINLAND.fullmatch(rest):
            return rest
    return digits


def compact(value: str) -> str:
    """The stored form of a staff account's number (not validated: an empty text stays
    empty)."""
    return _without_country(SEPARATORS.sub("", value))


def staff_phone(value: str) -> str:
    """A mobile number as a staff account stores it (``compact``), or 400: 6–20 digits and an
    optional leading '+'."""
    number = compact(value)
    if not NUMBER.fullmatch(number):
        raise BadRequest(
            "{value!r} is not a mobile phone number: 6–20 digits, an optional leading '+'.",
            value=value[:40],
        )
    return number


def mainland_mobile(value: str) -> str:
    """A mainland mobile number as the patient realm stores it (``86`` + 11 digits), or 400
    saying why."""
    digits = _without_country(SEPARATORS.sub("", value).removeprefix("+"))
    if not MAINLAND.fullmatch(digits):
        raise BadRequest(
            "Enter a mainland China mobile number: 11 digits starting with 1 (e.g. 13812345678)."
        )
    return f"86{digits}"


def sms_address(number: str) -> str:
    """The E.164 digits (no '+') a text message to a stored number goes to; empty when the
    number cannot take one (no mainland mobile number and no international form)."""
    number = compact(number)
    if MAINLAND.fullmatch(number):
        return f"86{number}"
    if number.startswith("+") and number[1:].isdigit() and len(number) > 7:
        return number[1:]
    return ""


def masked(number: str) -> str:
    """A number as a log or an audit row shows it: the first 3 and the last 4 digits."""
    return number[:3] + "*" * max(0, len(number) - 7) + number[-4:]
