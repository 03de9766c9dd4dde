"""The owner kinds recordings know, registered once when the routes are imported.

- ``consultation``: a consultation's meeting recording (SPEC 3.4) — seen by everyone taking
  part in it (``api.consultations.access.involvement``), uploaded by its editors (the
  applicant and the participants).
- ``course`` (issue 16 teaching): seen by whoever may see the course (its range, the
  teaching module switched on: ``api.teaching.access.may_view_course``), uploaded by whoever
  manages it (``may_manage_course``).
"""

from __future__ import annotations

from api.consultations import access as consultations
from api.recordings import access
from api.teaching.access import may_manage_course, may_view_course
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
    access.register("course", may_view_course, may_manage_course)
