"""The consultation report on paper (SPEC 3.5): the applicant hospital's page, laid out as the
examination report is (``api.paper``): its logo, name and address line; the consultation and
the patient as a field grid; the clinical summary, the cloud examinations, the invited
departments, the people taking part and the opinion; who applied and who gave the opinion,
when; "初稿 DRAFT" across every page until the report is submitted.

Labels and the words of identifiers (state, decision, role, sex) are Chinese and English side
by side, whoever prints it; what people wrote is printed as written. Printing is audited by
the route's declaration (``api.phi``); a consultation without a report text is refused (409).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

import anyio

from api.consultations.labels import DECISION_LABELS, ROLE_LABELS, SEX_LABELS, STATE_LABELS
from api.consultations.schemas import ConsultationRead
from api.consultations.service import actor_of, read
from api.paper import DRAFT, QR_CAPTION, Paper, Section, logo_file, render
from api.patient_archive.qr import printable_url
from kernel.errors import Conflict
from kernel.i18n import N_, gettext
from store.reads import note
from store.tables import Examination, Hospital
from store.uow import Ctx, audit_refusal, now
from store.zones import hospital_zone

NO_REPORT = N_("There is no report to print yet; write and save it first.")


def both(message: str) -> str:
    """``message`` in Chinese and in English ("会诊主题 Topic"); once where they are alike."""
    if not message:
        return ""
    zh, en = gettext(message, lang="zh"), gettext(message, lang="en")
    return zh if zh == en else f"{zh} {en}"


async def printable(ctx: Ctx, consultation_id: int) -> tuple[str, bytes]:
    """The report as a PDF (file name, bytes)."""
    actor = actor_of(ctx)
    data = await read(actor, consultation_id)
    if not data.report.text.strip():
        await audit_refusal(ctx, "consultation.report_print", f"409: {NO_REPORT}", "failure")
        raise Conflict(NO_REPORT, audited=True)
    hospital = await Hospital.select().where(Hospital.id == data.hospital_id).first()
    assert hospital is not None
    zone = await hospital_zone(data.hospital_id)
    at = now()
    paper = document(data, hospital, zone, at, await exam_codes(data, at))
    content = await anyio.to_thread.run_sync(render, paper)
    note(detail=f"report version {data.report.report_version}")
    return f"consultation-{consultation_id}-report.pdf", content


async def exam_codes(data: ConsultationRead, at: datetime) -> list[tuple[str, str]]:
    """The QR code of each readable cloud examination whose hospital has cloud film on
    (``api.patient_archive.qr``): the patient scans it to open it in her archive."""
    ids = [e.id for e in data.examinations if e.readable]
    rows = await Examination.select(Examination.id, Examination.hospital).where(
        Examination.id.is_in(ids or [0])
    )
    hospitals = {int(r["id"]): int(r["hospital"]) for r in rows}
    codes = []
    for e in data.examinations:
        url = await printable_url(e.id, hospitals[e.id], at) if e.id in hospitals else None
        if url:
            codes.append((f"{QR_CAPTION}\n{e.accession_number}".strip(), url))
    return codes


def document(
    data: ConsultationRead,
    hospital: dict,
    zone: tzinfo,
    printed: datetime,
    codes: list[tuple[str, str]] | None = None,
) -> Paper:
    """The page of consultation ``data`` issued by the applicant's ``hospital`` (its row),
    with the QR ``codes`` of its examinations (``exam_codes``)."""

    def local(value: str | None) -> str:
        if not value:
            return ""
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    p = data.patient
    submitted = data.report.submitted_at
    experts = [i.expert.name for i in data.invites if i.expert and i.decision != "deny"]
    return Paper(
        hospital_name=hospital["name"],
        hospital_line="  ".join(x for x in (hospital["address"], hospital["phone"]) if x),
        logo=logo_file(hospital["logo_file"]),
        title=both(N_("Remote consultation report")),
        fields=[
            (both(N_("No.")), f"#{data.id}"),
            (both(N_("Scheduled time")), local(data.scheduled_at)),
            (both(N_("Topic")), data.topic),
            (both(N_("State")), both(STATE_LABELS.get(data.state, data.state))),
            (both(N_("Patient name")), p.name),
            (both(N_("Sex")), both(SEX_LABELS.get(p.sex, p.sex))),
            (both(N_("Birth date")), p.birth_date),
            (both(N_("ID number")), p.id_number),
            (both(N_("HIS number")), p.his_number),
            (both(N_("Applicant")), data.applicant.name),
        ],
        sections=[
            Section(both(N_("Clinical summary")), text=data.clinical_summary),
            Section(both(N_("Cloud examinations")), _examinations(data, local)),
            Section(both(N_("Invited departments")), _invites(data)),
            Section(
                both(N_("Participants")),
                [
                    (both(ROLE_LABELS.get(x.role, x.role)), f"{x.name} · {x.department_name}")
                    for x in data.participants
                ],
            ),
            Section(both(N_("Consultation opinion")), text=data.report.text),
        ],
        signatures=[
            (both(N_("Applicant")), data.applicant.name),
            (both(N_("Experts")), "、".join(experts)),
            (both(N_("Submitted")), local(submitted)),
            (both(N_("Printed")), local(printed.isoformat())),
        ],
        footer=f"{both(N_('Remote consultation report'))} #{data.id} · AIMIS",
        watermark="" if submitted else DRAFT,
        created=printed,
        codes=codes or [],
    )


def _examinations(
    data: ConsultationRead, local: Callable[[str | None], str]
) -> list[tuple[str, str]]:
    rows = []
    for e in data.examinations:
        if not e.readable:
            continue
        what = " · ".join(x for x in (e.check_item_name, e.device_type, e.body_part) if x)
        when = local(e.exam_time)
        rows.append((when or "—", f"{what} · {e.accession_number} · {e.hospital_name}"))
    return rows


def _invites(data: ConsultationRead) -> list[tuple[str, str]]:
    return [
        (
            i.department_name,
            " · ".join(
                [
                    i.hospital_name,
                    both(N_("Mandatory") if i.mandatory else N_("Optional")),
                    f"{both(N_('Expert'))}: {i.expert.name if i.expert else '—'}",
                    both(DECISION_LABELS.get(i.decision, i.decision)),
                ]
            )
            + (f" ({i.reason})" if i.reason else ""),
        )
        for i in data.invites
    ]
