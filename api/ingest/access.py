"""Who may send images into AIMIS, and into which hospital.

Images are stored for the sender's own hospital: a hospital admin, or a user whose role may
write reports (a radiology department's PACS sends with such a user's API token). An
alliance admin has no hospital of his own to store into.
"""

from __future__ import annotations

from kernel.domain import Permission
from kernel.errors import Forbidden
from store.uow import Actor

SENDER_PERMISSIONS = frozenset({Permission.admin, Permission.report_write})


def sending_hospital(actor: Actor) -> int:
    """The hospital ``actor`` stores into; 403 with the reason if none."""
    if actor.hospital_id is None:
        raise Forbidden(
            "Images are stored for a hospital; an alliance administrator has none. "
            "Send them with an account of the hospital they belong to.",
        )
    if actor.kind == "hospital_admin" or SENDER_PERMISSIONS & actor.permissions:
        return actor.hospital_id
    raise Forbidden(
        "Your role may not send images to AIMIS (it needs report writing or admin).",
    )
