"""Server-rendered pages. Each page reads through the same services as the API."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie
from litestar.response import File, Redirect, Template

from api.accounts import service
from api.accounts.schemas import MeOut
from kernel.paths import UI_DIR
from store.uow import Actor
from ui import i18n


def _actor(request: Request) -> Actor | None:
    actor = request.scope.get("user")
    return actor if isinstance(actor, Actor) else None


async def page(request: Request, template: str, **context: Any) -> Template:
    actor = _actor(request)
    me: MeOut | None = await service.me(actor) if actor else None
    return Template(template_name=template, context={"me": me, **i18n.context(request), **context})


def to_login(request: Request, admin: bool = False) -> Redirect:
    target = "/admin/login" if admin else "/login"
    return Redirect(f"{target}?next={quote(request.url.path)}")


def _unsafe_char(text: str) -> bool:
    """Control and format characters (browsers drop tabs and newlines inside a URL, so a
    tab between two slashes leaves ``//evil.example``), line separators, and the backslash
    (browsers read it as a slash)."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") or c == "\\" for c in text)


def safe_next(value: str | None, default: str) -> str:
    """Only a path of this site: a single leading slash (no second slash or backslash), no
    scheme, no host, no control characters; the same after percent-decoding (twice, for a
    value encoded twice). Anything else goes to ``default``."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return default
    for text in (value, unquote(value), unquote(unquote(value))):
        if _unsafe_char(text) or text.startswith("//"):
            return default
        parts = urlsplit(text)
        if parts.scheme or parts.netloc:
            return default
    return value


class AccountPages(Controller):
    include_in_schema = False

    @get("/")
    async def home(self, request: Request) -> Template | Redirect:
        actor = _actor(request)
        if actor is None:
            return to_login(request)
        if actor.realm == service.REALM_ADMIN:
            return Redirect("/manage")
        me = await service.me(actor)
        topics = [f"user:{actor.user_id}"]
        if actor.hospital_id:
            topics.append(f"hospital:{actor.hospital_id}")
        return await page(request, "home.html", modules=me.modules, topics=topics)

    @get("/favicon.ico", cache=86400)
    async def favicon(self) -> File:
        """Asked for by browsers on pages that name no icon (OHIF's, files): not a 404."""
        return File(UI_DIR / "static" / "favicon.svg", media_type="image/svg+xml")

    @get("/login")
    async def login(
        self, request: Request, next: str | None = None, hospital: str | None = None
    ) -> Template:
        """``?hospital=CODE`` comes from the hospital's printed QR code: the page names the
        hospital (an unknown or deactivated code is ignored)."""
        return await page(
            request,
            "login.html",
            hospital_name=await service.hospital_name_by_code(hospital),
            api="/api/auth/login",
            next=safe_next(next, "/"),
            other_url="/admin/login",
            other_label="Administrator login",
        )

    @get("/admin/login")
    async def admin_login(self, request: Request, next: str | None = None) -> Template:
        return await page(
            request,
            "login.html",
            api="/api/auth/admin-login",
            next=safe_next(next, "/manage"),
            other_url="/login",
            other_label="Doctor login",
        )

    @get("/forgot")
    async def forgot(self, request: Request) -> Template:
        return await page(request, "forgot.html")

    @get("/account/password")
    async def password(self, request: Request, first: str | None = None) -> Template | Redirect:
        if _actor(request) is None:
            return to_login(request)
        return await page(request, "password.html", first=bool(first))

    @get("/qr/{token:str}")
    async def qr_confirm(self, request: Request, token: str) -> Template | Redirect:
        if _actor(request) is None:
            return to_login(request)
        return await page(request, "qr_confirm.html", token=token)

    @get("/lang/{lang:str}")
    async def set_language(self, request: Request, lang: str) -> Response:
        lang = lang if lang in i18n.LANGUAGES else "en"
        back = safe_next(request.headers.get("referer", "").split(request.url.netloc, 1)[-1], "/")
        return Redirect(
            back,
            cookies=[Cookie(key="lang", value=lang, max_age=365 * 86400, path="/", samesite="lax")],
        )
