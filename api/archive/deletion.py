"""Soft delete and restore of a study and its examination (SPEC 8.11).

The hospital admin deletes a study with a reason: its ``deleted_at`` and its examination's are
set in one unit of work (``store.examinations.mark_deleted``), and ``store.scoping``'s one
soft-delete rule (``deletion_clauses``) then leaves the study, its series and instances, the
examination, its report, colleague shares, diagnosis requests and retrievals out of every list,
page, search, count and DICOMweb answer; only the admins' restore view
(``GET /api/archive/deleted``) lists it. Files and rows stay; restoring clears both marks and
everything is back. Both directions are audited with who, when and why.
"""

from __future__ import annotations

from api.archive.schemas import Done, MaintenanceIn
from api.archive.service import hospital_admin, stated_reason, visible_study
from api.archive.steps import label
from api.patient_archive.matching import rematch_study, unmatch_study
from kernel.errors import Conflict
from kernel.i18n import N_, gettext
from store.examinations import mark_deleted
from store.tables import Study
from store.uow import Ctx, now, unit_of_work


async def delete_study(ctx: Ctx, study_id: int, data: MaintenanceIn) -> Done:
    """Soft delete (SPEC 8.11): the study and its examination vanish for everyone but the
    admins' restore view; files stay."""
    actor = hospital_admin(ctx, N_("delete studies"))
    study = await visible_study(actor, study_id)
    reason = stated_reason(
        data.reason, N_("Say why the study is deleted; the reason goes to the audit log.")
    )
    if study["deleted_at"] is not None:
        raise Conflict("The study is already deleted.")
    if study["tier"] == "restoring":
        raise Conflict(
            "A retrieval of this study is under way; delete it once it is done.",
        )
    at = now()
    async with unit_of_work(ctx) as uow:
        rows = (
            await Study.update(
                {
                    Study.deleted_at: at,
                    Study.deleted_by: actor.user_id,
                    Study.updated_at: at,
                    Study.version: Study.version + 1,
                }
            )
            .where(
                Study.id == study_id,
                Study.deleted_at.is_null(),
                Study.version == data.version,
                Study.tier != "restoring",
            )
            .returning(Study.version)
        )
        if not rows:
            raise Conflict(
                "The study was changed meanwhile. Reload and try again.",
            )
        await mark_deleted(uow, study_id, at)
        await unmatch_study(uow, study_id, f"the examination was deleted: {reason}")
        await uow.audit("study.delete", "study", study_id, detail=f"{label(study)}: {reason}")
        await uow.event(f"hospital:{study['hospital']}", "study.deleted", {"study_id": study_id})
    return Done(
        message=gettext("The study is deleted; it can be restored."), version=rows[0]["version"]
    )


async def restore_study(ctx: Ctx, study_id: int, data: MaintenanceIn) -> Done:
    actor = hospital_admin(ctx, N_("restore studies"))
    study = await visible_study(actor, study_id)
    if study["deleted_at"] is None:
        raise Conflict("The study is not deleted.")
    async with unit_of_work(ctx) as uow:
        rows = (
            await Study.update(
                {
                    Study.deleted_at: None,
                    Study.deleted_by: None,
                    Study.updated_at: now(),
                    Study.version: Study.version + 1,
                }
            )
            .where(
                Study.id == study_id, Study.deleted_at.is_not_null(), Study.version == data.version
            )
            .returning(Study.version)
        )
        if not rows:
            raise Conflict(
                "The study was changed meanwhile. Reload and try again.",
            )
        detail = label(study) + (f": {data.reason.strip()[:300]}" if data.reason.strip() else "")
        await mark_deleted(uow, study_id, None)
        await rematch_study(uow, study_id)  # its automatic matches come back
        await uow.audit("study.restore", "study", study_id, detail=detail)
        await uow.event(f"hospital:{study['hospital']}", "study.restored", {"study_id": study_id})
    return Done(message=gettext("The study is restored."), version=rows[0]["version"])
