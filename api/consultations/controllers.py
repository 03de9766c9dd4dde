"""Consultation API (SPEC 3, 8.10): thin handlers, one service call each."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import File
from litestar.status_codes import HTTP_200_OK

from api.auth import actor_of, ctx_of, require_admin, require_login, require_module
from api.consultations import (
    access,
    actions,
    attachments,
    contacts,
    exams,
    printing,
    report,
    service,
)
from api.consultations.schemas import (
    AttachmentRead,
    ConsultationCreate,
    ConsultationRead,
    ConsultationSummary,
    Contacts,
    DecisionIn,
    Done,
    ExamIn,
    ExamRead,
    ExpertIn,
    LogPage,
    ReportIn,
    ReportLock,
    StepIn,
)
from api.live import register_case_watcher
from api.paper import pdf_response
from api.phi import phi
from api.schemas import HistoryEntry
from kernel.domain import Module

Multipart = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
GUARDS = [require_login, require_module(Module.consultation)]

CASE = "consultation"
# Patient-data reads (api.phi): the lists and the room show the patient and the topic.
LIST = phi("consultation.list", CASE)
VIEW = phi("consultation.view", CASE, "consultation_id")
LOG = phi("consultation.log", CASE)

# The room's live topic ``case:consultation:<id>`` is open to exactly those who may read it.
register_case_watcher("consultation", access.can_watch)


class ContactsController(Controller):
    path = "/api/contacts"
    tags = ["consultation"]
    guards = GUARDS

    @get("/")
    async def search(
        self, request: Request, q: str = "", department_id: int | None = None
    ) -> Contacts:
        return await contacts.search(actor_of(request), q, department_id)


class ConsultationController(Controller):
    path = "/api/consultations"
    tags = ["consultation"]
    guards = GUARDS

    @get("/", opt=LIST)
    async def mine(self, request: Request) -> list[ConsultationSummary]:
        return await service.mine(actor_of(request))

    @get("/reviews", opt=LIST)
    async def reviews(self, request: Request) -> list[ConsultationSummary]:
        return await service.reviews(actor_of(request))

    @get("/examinations", opt=phi("consultation.exam_search", "examination"))
    async def find_examinations(
        self,
        request: Request,
        id_number: str = "",
        his_number: str = "",
        consultation_id: int | None = None,
    ) -> list[ExamRead]:
        """The patient's cloud examinations, by ID number or HIS number (SPEC 3.1)."""
        return await exams.search(actor_of(request), id_number, his_number, consultation_id)

    @post("/")
    async def create(self, request: Request, data: ConsultationCreate) -> ConsultationRead:
        return await service.create(ctx_of(request), data)

    @get("/{consultation_id:int}", opt=VIEW)
    async def read(self, request: Request, consultation_id: int) -> ConsultationRead:
        return await service.view(ctx_of(request), consultation_id)

    @get(
        "/{consultation_id:int}/timeline",
        opt=phi("consultation.timeline", CASE, "consultation_id"),
    )
    async def timeline(self, request: Request, consultation_id: int) -> list[HistoryEntry]:
        return await service.timeline(actor_of(request), consultation_id)

    @post("/{consultation_id:int}/decisions", status_code=HTTP_200_OK)
    async def decide(self, request: Request, consultation_id: int, data: DecisionIn) -> Done:
        return await actions.decide(ctx_of(request), consultation_id, data)

    @post("/{consultation_id:int}/expert", status_code=HTTP_200_OK)
    async def expert(self, request: Request, consultation_id: int, data: ExpertIn) -> Done:
        return await actions.adjust_expert(ctx_of(request), consultation_id, data)

    @post("/{consultation_id:int}/start", status_code=HTTP_200_OK)
    async def start(self, request: Request, consultation_id: int, data: StepIn) -> Done:
        return await actions.applicant_step(ctx_of(request), consultation_id, "start", data)

    @post("/{consultation_id:int}/withdraw", status_code=HTTP_200_OK)
    async def withdraw(self, request: Request, consultation_id: int, data: StepIn) -> Done:
        return await actions.applicant_step(ctx_of(request), consultation_id, "withdraw", data)

    @post("/{consultation_id:int}/cancel", status_code=HTTP_200_OK)
    async def cancel(self, request: Request, consultation_id: int, data: StepIn) -> Done:
        return await actions.applicant_step(ctx_of(request), consultation_id, "cancel", data)

    @post("/{consultation_id:int}/examinations", status_code=HTTP_200_OK)
    async def attach_examinations(
        self, request: Request, consultation_id: int, data: ExamIn
    ) -> list[ExamRead]:
        return await exams.attach(ctx_of(request), consultation_id, data)

    @delete("/{consultation_id:int}/examinations/{examination_id:int}", status_code=HTTP_200_OK)
    async def detach_examination(
        self, request: Request, consultation_id: int, examination_id: int
    ) -> list[ExamRead]:
        return await exams.detach(ctx_of(request), consultation_id, examination_id)

    @post("/{consultation_id:int}/attachments")
    async def attach(
        self, request: Request, consultation_id: int, data: Multipart
    ) -> AttachmentRead:
        upload = data.get("file")
        content = (
            await upload.read(attachments.MAX_BYTES + 1) if isinstance(upload, UploadFile) else None
        )
        name = upload.filename if isinstance(upload, UploadFile) else ""
        return await attachments.upload(ctx_of(request), consultation_id, name, content)

    @get(
        "/{consultation_id:int}/attachments/{attachment_id:int}",
        opt=phi("consultation.attachment_download", CASE, "consultation_id"),
    )
    async def download(self, request: Request, consultation_id: int, attachment_id: int) -> File:
        found = await attachments.download(ctx_of(request), consultation_id, attachment_id)
        return File(
            path=found.path,
            filename=found.name,
            media_type=found.content_type,
            content_disposition_type="attachment",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
        )

    @post("/{consultation_id:int}/report/lock", status_code=HTTP_200_OK)
    async def lock(self, request: Request, consultation_id: int) -> ReportLock:
        return await report.take_lock(ctx_of(request), consultation_id)

    @delete("/{consultation_id:int}/report/lock", status_code=HTTP_200_OK)
    async def unlock(self, request: Request, consultation_id: int) -> Done:
        return await report.release_lock(ctx_of(request), consultation_id)

    @put("/{consultation_id:int}/report")
    async def save_report(self, request: Request, consultation_id: int, data: ReportIn) -> Done:
        return await report.save(ctx_of(request), consultation_id, data)

    @post("/{consultation_id:int}/report/submit", status_code=HTTP_200_OK)
    async def submit_report(self, request: Request, consultation_id: int, data: StepIn) -> Done:
        return await report.submit(ctx_of(request), consultation_id, data)

    @get(
        "/{consultation_id:int}/report.pdf",
        opt=phi("consultation.report_print", CASE, "consultation_id"),
    )
    async def report_pdf(self, request: Request, consultation_id: int) -> Response[bytes]:
        return pdf_response(*await printing.printable(ctx_of(request), consultation_id))


class ConsultationLogController(Controller):
    """SPEC 8.10: the consultation log of the admin's hospital or alliance."""

    path = "/api/consultations/log"
    tags = ["consultation", "management"]
    guards = [require_admin]

    @get("/", opt=LOG)
    async def log(self, request: Request, q: str = "", offset: int = 0, limit: int = 50) -> LogPage:
        return await service.log(actor_of(request), q, offset, limit)
