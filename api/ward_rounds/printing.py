"""The ward-round record on paper (SPEC 4): the applicant hospital's page, laid out as every
report AIMIS prints (``api.paper``): the round and the patient as a field grid; the
summary, the cloud examinations, each expert's opinion and the conclusion; "初稿 DRAFT"
across every page until the round is finished. Labels in Chinese and English side by side;
printing is audited by the route's declaration (``api.phi``); a record without a
conclusion is refused (409)."""

from __future__ import annotations

from datetime import datetime

import anyio

from api.consultations.printing import both
from api.paper import DRAFT, Paper, Section, logo_file, render
from api.ward_rounds.schemas import WardRoundRead
from api.ward_rounds.service import actor_of, read
from kernel.errors import Conflict
from kernel.i18n import N_
from store.reads import note
from store.tables import Hospital
from store.uow import Ctx, audit_refusal, now
from store.zones import hospital_zone

NO_RECORD = N_("There is no ward-round record to print yet; write the conclusion first.")
STATES = {
    "scheduled": N_("Scheduled"),
    "in_progress": N_("In progress"),
    "finished": N_("Finished"),
    "cancelled": N_("Cancelled"),
}


async def printable(ctx: Ctx, ward_round_id: int) -> tuple[str, bytes]:
    data = await read(actor_of(ctx), ward_round_id)
    if not data.conclusion.strip():
        await audit_refusal(ctx, "ward_round.record_print", f"409: {NO_RECORD}", "failure")
        raise Conflict(NO_RECORD, audited=True)
    hospital = await Hospital.select().where(Hospital.id == data.hospital_id).first()
    assert hospital is not None
    zone = await hospital_zone(data.hospital_id)
    at = now()

    def local(value: str | None) -> str:
        if not value:
            return ""
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    content = await anyio.to_thread.run_sync(render, document(data, hospital, local, at))
    note(detail=f"record version {data.record_version}")
    return f"ward-round-{ward_round_id}-record.pdf", content


def document(data: WardRoundRead, hospital: dict, local, printed: datetime) -> Paper:  # type: ignore[no-untyped-def]
    p = data.patient
    return Paper(
        hospital_name=hospital["name"],
        hospital_line="  ".join(x for x in (hospital["address"], hospital["phone"]) if x),
        logo=logo_file(hospital["logo_file"]),
        title=both(N_("Remote ward-round record")),
        fields=[
            (both(N_("No.")), f"#{data.id}"),
            (both(N_("Ward-round time")), local(data.scheduled_at)),
            (both(N_("Ward-round topic")), data.topic),
            (both(N_("State")), both(STATES.get(data.state, data.state))),
            (both(N_("Patient name")), p.name),
            (both(N_("ID number")), p.id_number),
            (both(N_("HIS number")), p.his_number),
            (both(N_("Applicant")), data.applicant.name),
        ],
        sections=[
            Section(both(N_("Summary")), text=data.summary),
            Section(
                both(N_("Cloud examinations")),
                [
                    (
                        local(e.exam_time) or "—",
                        " · ".join(
                            x for x in (e.check_item_name, e.device_type, e.accession_number) if x
                        ),
                    )
                    for e in data.examinations
                    if e.readable
                ],
            ),
            Section(
                both(N_("Expert opinions")),
                [(f"{e.name} · {e.department_name}", e.opinion or "—") for e in data.experts],
            ),
            Section(both(N_("Conclusion")), text=data.conclusion),
        ],
        signatures=[
            (both(N_("Applicant")), data.applicant.name),
            (both(N_("Experts")), "、".join(e.name for e in data.experts)),
            (both(N_("Finished")), local(data.finished_at)),
            (both(N_("Printed")), local(printed.isoformat())),
        ],
        footer=f"{both(N_('Remote ward-round record'))} #{data.id} · AIMIS",
        watermark="" if data.state == "finished" else DRAFT,
        created=printed,
    )
