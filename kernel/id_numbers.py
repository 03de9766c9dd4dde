"""Chinese resident identity numbers (GB 11643-1999), one check for everyone: the patient
realm's real-name verification (SPEC 10.2, ``api.patients.persons``), an admin's edit of an
examination (``api.exams.edit``) and the national ID found among a DICOM file's patient
identifiers (``store.index_rows``). Pure: no I/O, no clock of its own.

An 18-character number is 6 digits of the issuing region, the birth date (YYYYMMDD), a
3-digit sequence (odd for men, even for women) and a check character: ISO 7064 MOD 11-2
over the first 17 digits, ``X`` standing for 10. The legacy 15-digit form has a 2-digit
year (19YY) and no check character; it is kept in its 18-character form (GB 11643's
upgrade rule), so that both forms of one person's number are one number.

A refusal is an ``IdProblem``: an English id of the catalogue and its placeholders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from kernel.i18n import N_

WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, …
CHECK = "10X98765432"  # the check character for each remainder of the weighted sum mod 11
# The first two digits: a province-level region (GB/T 2260), Taiwan, Hong Kong, Macao.
PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
EARLIEST = date(1900, 1, 1)
SHAPE_18 = re.compile(r"[0-9]{17}[0-9X]")
SHAPE_15 = re.compile(r"[0-9]{15}")


class IdProblem(ValueError):
    """Why a number is refused (``message``: the catalogue's English id)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message, self.params = message, params


@dataclass(frozen=True)
class IdNumber:
    number: str  # the 18-character form, upper case
    birth_date: date
    sex: str  # "M" or "F"


def check_character(first17: str) -> str:
    """The MOD 11-2 check character of the first 17 digits."""
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def upgrade_15(number: str) -> str:
    """The 18-character form of a legacy 15-digit number (born 19YY)."""
    first17 = f"{number[:6]}19{number[6:]}"
    return first17 + check_character(first17)


def _birth_date(text: str, today: date) -> date:
    try:
        born = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise IdProblem(
            N_("The birth date in the ID number ({date}) is not a real date."),
            date=f"{text[:4]}-{text[4:6]}-{text[6:8]}",
        ) from None
    if born > today:
        raise IdProblem(N_("The birth date in the ID number lies in the future."))
    if born < EARLIEST:
        raise IdProblem(N_("The birth date in the ID number is before 1900."))
    return born


def parse(value: str, today: date) -> IdNumber:
    """The number checked and normalised, or ``IdProblem`` saying what is wrong. ``today``:
    the date a birth date may not pass (the caller's clock)."""
    number = re.sub(r"\s+", "", value).upper()
    if len(number) not in (15, 18):
        raise IdProblem(
            N_("An ID number has 18 characters (or 15 digits in the old form); this one has {n}."),
            n=len(number),
        )
    shape = SHAPE_18 if len(number) == 18 else SHAPE_15
    if not shape.fullmatch(number):
        raise IdProblem(
            N_("An ID number holds only digits, with X allowed as the last of 18 characters.")
        )
    if int(number[:2]) not in PROVINCES:
        raise IdProblem(N_("The first two digits of the ID number name no province or region."))
    legacy = len(number) == 15
    born = _birth_date(f"19{number[6:12]}" if legacy else number[6:14], today)
    if legacy:
        number = upgrade_15(number)
    elif check_character(number[:17]) != number[17]:
        raise IdProblem(N_("The ID number's check character is wrong: look for a mistyped digit."))
    return IdNumber(number, born, "M" if int(number[16]) % 2 else "F")


def synthetic(region: str, born: date, sequence: int) -> str:
    """A well-formed 18-character number for tests and the demo (``region`` 6 digits,
    ``sequence`` 0–999: odd for a man). Never a real person's on purpose: the demo's region
    and sequence are chosen so."""
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def normalised(value: str, today: date) -> str:
    """The 18-character form of a well-formed number, else "" (for identifiers found in
    files, where a bad one is not an error: it is just not an ID number)."""
    try:
        return parse(value, today).number
    except IdProblem:
        return ""
