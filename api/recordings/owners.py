"""The owner kinds recordings know, registered once when the routes are imported.

- ``consultation``: a consultation's meeting recording (SPEC 3.4) — seen by everyone taking
  part in it (``api.consultations.access.involvement``), uploaded by its editors (the
  applicant and the participants).
- ``course`` (issue 16 teaching) is registered here from ``api.teaching.access``
  (``may_view_course`` / ``may_manage_course``) once that module exists.
"""

from __future__ import annotations

from api.consultations import access as consultations
from api.recordings import access
from kernel.errors import NotFound
from store.uow import Actor


async def _consultation_role(
    actor: Actor, consultation_id: int
) -> consultations.Involvement | None:
    try:
        return await consultations.involvement(actor, consultation_id)
    except NotFound:
        return None


async def may_view_consultation(actor: Actor, consultation_id: int) -> bool:
    return await _consultation_role(actor, consultation_id) is not None


async def may_upload_consultation(actor: Actor, consultation_id: int) -> bool:
    role = await _consultation_role(actor, consultation_id)
    return role is not None and role.editor


def register_all() -> None:
    access.register("consultation", may_view_consultation, may_upload_consultation)
