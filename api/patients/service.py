"""The patient's own account: settings (notification opt-out, language) and logout."""

from __future__ import annotations

import msgspec

from api.patients.realm import Acting, patient_audit
from api.patients.schemas import SettingsIn
from kernel.errors import BadRequest
from store.tables import PatientAccount, PatientSession
from store.uow import unit_of_work

LANGUAGES = ("zh", "en")


async def update_settings(acting: Acting, data: SettingsIn) -> None:
    patient = acting.patient
    assert patient is not None
    values: dict = {}
    changed = []
    if data.notify_opt_out is not msgspec.UNSET:
        values[PatientAccount.notify_opt_out] = data.notify_opt_out
        changed.append(f"notify_opt_out={data.notify_opt_out}")
    if data.language is not msgspec.UNSET:
        if data.language not in LANGUAGES:
            raise BadRequest("The language is zh or en.")
        values[PatientAccount.language] = data.language
        changed.append(f"language={data.language}")
    if not values:
        raise BadRequest("Nothing to change: send notify_opt_out or language.")
    async with unit_of_work(acting.ctx) as uow:
        await PatientAccount.update(
            {**values, PatientAccount.version: PatientAccount.version + 1}
        ).where(PatientAccount.id == patient.account_id)
        await patient_audit(
            uow,
            acting,
            "patient.settings",
            "patient_account",
            patient.account_id,
            detail=", ".join(changed),
        )


async def logout(acting: Acting) -> None:
    patient = acting.patient
    if patient is None:
        return
    async with unit_of_work(acting.ctx) as uow:
        await PatientSession.update({PatientSession.revoked: True}).where(
            PatientSession.id == patient.session_id
        )
        await patient_audit(uow, acting, "patient.logout", "patient_account", patient.account_id)
