"""The share links' API: the patient's (``/api/patient/shares``, the patient cookie only)
and the recipient's (``/s/<token>/...``, no account: the link session's cookie, whose path
is the link's own)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.status_codes import HTTP_200_OK

from api.auth import client_ip
from api.bounds import Id
from api.patient_shares import images, service
from api.patient_shares.schemas import PasswordIn, ShareDone, ShareIn, ShareMade, ShareRow
from api.patients.realm import acting_of, patient_of, require_patient
from kernel.errors import NotFound, Unauthorized
from kernel.i18n import gettext
from kernel.settings import get_settings
from store.uow import Ctx, now


class PatientShareController(Controller):
    path = "/api/patient/shares"
    tags = ["patients"]
    guards = [require_patient]

    @post("/", status_code=HTTP_200_OK)
    async def create(self, request: Request, data: ShareIn) -> ShareMade:
        return await service.create(acting_of(request), patient_of(request), data)

    @get("/")
    async def mine(self, request: Request) -> list[ShareRow]:
        return await service.list_shares(patient_of(request))

    @post("/{share_id:int}/revoke", status_code=HTTP_200_OK)
    async def revoke(self, request: Request, share_id: Id) -> ShareDone:
        await service.revoke(acting_of(request), patient_of(request), share_id)
        return ShareDone(gettext("The link was revoked; it opens no more."))


def recipient_ctx(connection: ASGIConnection) -> Ctx:
    """A recipient acts for nobody: no user, his address and browser."""
    return Ctx(
        actor=None, ip=client_ip(connection), user_agent=connection.headers.get("user-agent", "")
    )


async def viewing(request: Request, token: str) -> dict:
    """The link behind a recipient's request with a live link session; 401 without."""
    share = await service.session_share(token, request.cookies.get(service.COOKIE, ""))
    if share is None:
        raise Unauthorized("Enter the password of this share link first.")
    return share


class RecipientController(Controller):
    path = "/s/{token:str}"
    tags = ["patients"]

    @post("/open", status_code=HTTP_200_OK)
    async def open(self, request: Request, token: str, data: PasswordIn) -> Response[ShareDone]:
        session, ends = await service.open_link(recipient_ctx(request), token, data.password)
        cookie = Cookie(
            key=service.COOKIE,
            value=session,
            httponly=True,
            samesite="lax",
            secure=get_settings().server.secure_cookies,
            path=service.link_of(token),
            max_age=max(1, int((ends - now()).total_seconds())),
        )
        return Response(ShareDone(gettext("Opened.")), cookies=[cookie])

    @get("/view")
    async def view(self, request: Request, token: str) -> dict:
        share = await viewing(request, token)
        exam = await service.examination_view(share["examination"])
        report = exam["report"]
        return {
            **exam,
            "report": (
                {**report, "reviewed_at": report["reviewed_at"].isoformat()} if report else None
            ),
            "images": await images.image_list(exam["study_id"]) if exam["study_id"] else [],
        }

    @get("/images/{study_uid:str}/{series_uid:str}/{sop_uid:str}/{frame:int}")
    async def frame(
        self,
        request: Request,
        token: str,
        study_uid: str,
        series_uid: str,
        sop_uid: str,
        frame: int,
        thumbnail: bool = False,
    ) -> Response[bytes]:
        share = await viewing(request, token)
        exam = await service.examination_view(share["examination"])
        if not exam["study_id"]:
            raise NotFound("No such image is part of this shared examination.")
        stored = await images.one(exam["study_id"], study_uid, series_uid, sop_uid)
        data = await images.picture(stored, frame, thumbnail)
        return Response(
            data, media_type=images.JPEG, headers={"Cache-Control": "private, no-store"}
        )
