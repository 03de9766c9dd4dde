"""The priority of an examination and of a remote diagnosis request (issue 14 item 9):
routine, urgent, emergency.

Stored as a small integer (0 routine, 1 urgent, 2 emergency) so that "most urgent first" is
an index order (``ORDER BY priority DESC``) and "urgent or more" a range; the wire and the
pages use the names; the labels are catalogue ids (English, Chinese from ``locale/``).
DICOM states it as Requested Procedure Priority (0040,1003) or a Scheduled Procedure Step's
priority: STAT is an emergency, HIGH urgent, anything else (ROUTINE, MEDIUM, LOW) routine.
"""

from __future__ import annotations

from kernel.errors import BadRequest
from kernel.i18n import N_, Listed

ROUTINE, URGENT, EMERGENCY = 0, 1, 2
NAMES = ("routine", "urgent", "emergency")  # index = stored value
LABELS: dict[str, str] = {
    "routine": N_("Routine"),
    "urgent": N_("Urgent"),
    "emergency": N_("Emergency"),
}
DICOM = {"STAT": EMERGENCY, "HIGH": URGENT}


def name_of(value: int | None) -> str:
    """The name of a stored value (an unknown one reads as routine)."""
    return NAMES[value] if value is not None and 0 <= value < len(NAMES) else NAMES[ROUTINE]


def parse(value: str) -> int:
    """The stored value of a name; ``BadRequest`` naming the three otherwise."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in NAMES:
        raise BadRequest(
            "The priority is one of {priorities}, not {value!r}.",
            priorities=Listed(NAMES),
            value=str(value)[:30],
        )
    return NAMES.index(text)


def from_dicom(*values: str) -> int:
    """The highest priority the DICOM values state (STAT, HIGH; anything else routine)."""
    return max((DICOM.get(v.strip().upper(), ROUTINE) for v in values if v), default=ROUTINE)
