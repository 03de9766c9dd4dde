"""The Chinese resident identity card number (GB 11643-1999): 18 characters, the last a
check digit (ISO 7064 MOD 11-2, ``X`` for 10), the birth date at 7-14; the legacy 15-digit
form has a 6-digit date (19yy) and no check digit. Used to recognise a national ID number
among a DICOM file's patient identifiers (``store.index_rows``)."""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1880, 1, 1) <= born <= date.today()


def is_national_id(text: str) -> bool:
    value = (text or "").strip().upper()
    if re.fullmatch(r"\d{17}[\dX]", value):
        total = sum(int(c) * w for c, w in zip(value[:17], WEIGHTS, strict=True))
        if CHECK[total % 11] != value[17]:
            return False
        return _real_date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    if re.fullmatch(r"\d{15}", value):
        return _real_date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
    return False


def with_check_digit(first17: str) -> str:
    """The 18-character number whose first 17 digits are ``first17`` (tests, demo data)."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return first17 + CHECK[total % 11]
