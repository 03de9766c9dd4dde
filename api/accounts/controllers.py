"""Accounts API: thin handlers over the services of ``api.accounts`` (sessions, passwords, QR)."""

from __future__ import annotations

import segno
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from api.accounts import passwords, qr, service
from api.accounts.schemas import (
    Done,
    FirstLoginOut,
    FirstPasswordIn,
    ForgotIn,
    LoginIn,
    LoginOut,
    MeOut,
    PasswordChangeIn,
    PhoneBindIn,
    PhoneIn,
    QrOut,
    ResetIn,
)
from api.auth import SESSION_COOKIE, actor_of, ctx_of, require_login
from kernel.i18n import gettext
from kernel.settings import get_settings


def session_cookie(session: service.NewSession) -> Cookie:
    settings = get_settings()
    return Cookie(
        key=SESSION_COOKIE,
        value=session.token,
        httponly=True,
        samesite="lax",
        secure=settings.server.secure_cookies,
        path="/",
        max_age=settings.login.session_max_hours * 3600,
    )


def _logged_in(session: service.NewSession, must_change: bool) -> Response[LoginOut]:
    return Response(
        LoginOut(session.user_id, session.realm, must_change),
        cookies=[session_cookie(session)],
        status_code=HTTP_200_OK,
    )


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post("/login")
    async def login(self, request: Request, data: LoginIn) -> Response[LoginOut]:
        session = await service.login(
            ctx_of(request), data.identifier, data.password, service.REALM_APP
        )
        return _logged_in(session, await service.must_change(session.user_id))

    @post("/admin-login")
    async def admin_login(self, request: Request, data: LoginIn) -> Response[LoginOut]:
        session = await service.login(
            ctx_of(request), data.identifier, data.password, service.REALM_ADMIN
        )
        return _logged_in(session, await service.must_change(session.user_id))

    @post("/logout", guards=[require_login], status_code=HTTP_200_OK)
    async def logout(self, request: Request) -> Response[Done]:
        await service.logout(ctx_of(request))
        return Response(Done(), cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")])

    @get("/me", guards=[require_login])
    async def me(self, request: Request) -> MeOut:
        return await service.me(actor_of(request))

    @post("/password", guards=[require_login], status_code=HTTP_200_OK)
    async def change_password(self, request: Request, data: PasswordChangeIn) -> Done:
        await passwords.change_password(ctx_of(request), data.old_password, data.new_password)
        return Done(message=gettext("Password changed."))

    @post("/forgot", status_code=HTTP_202_ACCEPTED)
    async def forgot(self, request: Request, data: ForgotIn) -> Done:
        await passwords.request_reset(ctx_of(request), data.identifier)
        return Done(
            message=gettext(
                "If the account exists, a 6-digit code is on its way to its bound channel."
            )
        )

    @post("/reset", status_code=HTTP_200_OK)
    async def reset(self, request: Request, data: ResetIn) -> Done:
        await passwords.reset_password(
            ctx_of(request), data.identifier, data.code, data.new_password
        )
        return Done(message=gettext("Password changed. Log in with the new password."))

    @post("/qr", status_code=HTTP_200_OK)
    async def new_qr(self, request: Request) -> QrOut:
        token, expires = await qr.new_qr(ctx_of(request))
        url = f"{get_settings().base_url}/qr/{token}"
        svg = segno.make(url, error="m").svg_inline(scale=5)
        return QrOut(token, qr.qr_topic(token), expires.isoformat(), svg, url)

    @post("/qr/{token:str}/confirm", guards=[require_login], status_code=HTTP_200_OK)
    async def confirm_qr(self, request: Request, token: str) -> Done:
        await qr.confirm_qr(ctx_of(request), token)
        return Done(message=gettext("The other screen is now logged in."))

    @get("/first-login", guards=[require_login])
    async def first_login(self, request: Request) -> FirstLoginOut:
        steps = await qr.first_login_steps(actor_of(request).user_id)
        return FirstLoginOut(steps.phone, steps.password)

    @post("/first-login/phone", guards=[require_login], status_code=HTTP_202_ACCEPTED)
    async def phone_code(self, request: Request, data: PhoneIn) -> Done:
        await qr.request_phone_code(ctx_of(request), data.phone)
        return Done(message=gettext("A 6-digit code is on its way."))

    @post("/first-login/phone/verify", guards=[require_login], status_code=HTTP_200_OK)
    async def bind_phone(self, request: Request, data: PhoneBindIn) -> Done:
        await qr.bind_phone(ctx_of(request), data.phone, data.code)
        return Done(message=gettext("Your phone number is bound."))

    @post("/qr/{token:str}/first-password", guards=[require_login], status_code=HTTP_200_OK)
    async def confirm_first_qr(self, request: Request, token: str, data: FirstPasswordIn) -> Done:
        await qr.confirm_first_qr(ctx_of(request), token, data.new_password)
        return Done(message=gettext("The other screen is now logged in."))

    @post("/qr/{token:str}/complete")
    async def complete_qr(self, request: Request, token: str) -> Response[LoginOut]:
        session = await qr.complete_qr(ctx_of(request), token)
        return _logged_in(session, await service.must_change(session.user_id))
