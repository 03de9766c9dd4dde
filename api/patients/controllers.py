"""The patient realm's API (``/api/patient``): thin handlers over ``api.patients``.

Every route but the two of the login runs behind ``require_patient`` (the patient cookie
alone); none of them reads a staff session.
"""

from __future__ import annotations

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import Cookie
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from api.bounds import Id
from api.patients import codes, persons, service, wechat
from api.patients.realm import PATIENT_COOKIE, acting_of, patient_of, require_patient
from api.patients.schemas import (
    AccountOut,
    CodeIn,
    CodeOut,
    PatientDone,
    PatientLoginIn,
    PatientLoginOut,
    PersonIn,
    PersonOut,
    SettingsIn,
    WechatStartOut,
)
from kernel.i18n import gettext
from kernel.settings import get_settings


def patient_cookie(token: str) -> Cookie:
    settings = get_settings()
    return Cookie(
        key=PATIENT_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=settings.server.secure_cookies,
        path="/",
        max_age=settings.patient.session_max_hours * 3600,
    )


class PatientAuthController(Controller):
    path = "/api/patient"
    tags = ["patients"]

    @post("/code", status_code=HTTP_202_ACCEPTED)
    async def send_code(self, request: Request, data: CodeIn) -> CodeOut:
        await codes.send_code(acting_of(request), data.phone)
        settings = get_settings().patient
        return CodeOut(
            gettext("A 6-digit code is on its way to your phone."),
            settings.code_interval_seconds,
            settings.code_minutes * 60,
        )

    @post("/login", status_code=HTTP_200_OK)
    async def login(self, request: Request, data: PatientLoginIn) -> Response[PatientLoginOut]:
        token, account_id = await codes.login(acting_of(request), data.phone, data.code)
        verified = await persons.has_self(account_id)
        return Response(PatientLoginOut(account_id, verified), cookies=[patient_cookie(token)])


class PatientController(Controller):
    path = "/api/patient"
    tags = ["patients"]
    guards = [require_patient]

    @post("/logout", status_code=HTTP_200_OK)
    async def logout(self, request: Request) -> Response[PatientDone]:
        await service.logout(acting_of(request))
        return Response(
            PatientDone(), cookies=[Cookie(key=PATIENT_COOKIE, value="", max_age=0, path="/")]
        )

    @get("/me")
    async def me(self, request: Request) -> AccountOut:
        return await persons.account(patient_of(request))

    @post("/persons", status_code=HTTP_200_OK)
    async def add_person(self, request: Request, data: PersonIn) -> PersonOut:
        return await persons.add_person(acting_of(request), data)

    @delete("/persons/{person_id:int}", status_code=HTTP_200_OK)
    async def remove_person(self, request: Request, person_id: Id) -> PatientDone:
        await persons.remove_person(acting_of(request), person_id)
        return PatientDone(message=gettext("The family member was removed."))

    @patch("/settings")
    async def settings(self, request: Request, data: SettingsIn) -> PatientDone:
        await service.update_settings(acting_of(request), data)
        return PatientDone(message=gettext("Saved."))

    @post("/wechat/start", status_code=HTTP_200_OK)
    async def wechat_start(self, request: Request) -> WechatStartOut:
        return WechatStartOut(await wechat.start(acting_of(request)))

    @post("/wechat/unbind", status_code=HTTP_200_OK)
    async def wechat_unbind(self, request: Request) -> PatientDone:
        await wechat.unbind(acting_of(request))
        return PatientDone(message=gettext("WeChat is no longer bound."))
