"""Archiving one study by hand (SPEC 8.9, 9.2): the hospital admin's "archive now".

The request is checked and queued here, in one unit of work with its audit row
(``study.archive_requested``) and a live event: an ``archive.study`` outbox row, which the
dispatcher runs as the flow ``archive-study`` (run named ``archive-study-<id>-<time>``).
That flow archives the study exactly as the policy run does (``rules.archive_study``: write,
verify, commit, remove; audited ``study.archive``), so a study archived by hand and one
archived by the policy cannot differ. Prefect is not on the click's path: the answer is a
202 once the row is committed.
"""

from __future__ import annotations

from api.archive.schemas import Done, MaintenanceIn
from api.archive.service import hospital_admin, visible_study
from api.archive.steps import label
from kernel.errors import BadRequest, Conflict
from kernel.i18n import N_, Msg
from kernel.settings import get_settings
from store.tables import Outbox, Study
from store.uow import Ctx, now, unit_of_work

OUTBOX_KIND = "archive.study"


async def archive_now(ctx: Ctx, study_id: int, data: MaintenanceIn) -> Done:
    """Queue the archiving of one online study of the admin's hospital (409 unless it is
    online, not deleted and still at ``version``, or while one is queued for it: of
    simultaneous clicks one is queued, the others are told so)."""
    actor = hospital_admin(ctx, N_("archive studies"))
    study = await visible_study(actor, study_id)
    reason = data.reason.strip()
    if len(reason) > 300:
        raise BadRequest("The reason is at most 300 characters.")
    if study["deleted_at"] is not None:
        raise Conflict("The study is deleted; restore it first.")
    if study["tier"] != "online":
        raise Conflict(
            "Only an online study can be archived; this one is {tier}.",
            tier=Msg(study["tier"], context="archive tier"),
        )
    if study["version"] != data.version:
        raise Conflict("The study was changed meanwhile. Reload and try again.")
    prefix = f"archive-study-{study_id}-"
    async with unit_of_work(ctx) as uow:
        if get_settings().is_postgres:  # concurrent clicks queue one by one (SQLite: one writer)
            await Study.select(Study.id).where(Study.id == study_id).lock_rows()
        if await Outbox.exists().where(
            Outbox.idempotency_key.like(prefix + "%"),
            Outbox.status.is_in(["pending", "running"]),
        ):
            raise Conflict("The study is already being archived.")
        key = f"{prefix}{now().strftime('%Y%m%dT%H%M%S%f')}"
        await uow.outbox(OUTBOX_KIND, {"study_id": study_id}, key=key)
        detail = label(study) + (f": {reason}" if reason else "")
        await uow.audit("study.archive_requested", "study", study_id, detail=detail)
        await uow.event(
            f"hospital:{study['hospital']}", "study.archive_requested", {"study_id": study_id}
        )
    return Done(message=f"The study is being archived (flow run {key}).")
