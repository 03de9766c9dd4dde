"""Server-rendered pages. Each page reads through the same services as the API."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie
from litestar.response import File, Redirect, Template

from api.accounts import qr, service
from api.accounts.schemas import MeOut
from api.bounds import INT32_MAX
from kernel.errors import Forbidden
from kernel.paths import UI_DIR
from kernel.settings import get_settings
from store.uow import Actor
from store.zones import hospital_zone
from ui import i18n
from ui.labels.modules import cards_for

ALLIANCE_ADMIN = "alliance_admin"
HOSPITAL_ADMIN = "hospital_admin"


IN_MENU = frozenset({"remote_diagnosis", "consultation"})  # their pages have menu entries


def signed_in(request: Request) -> Actor | None:
    """The signed-in user behind this request, if any."""
    actor = request.scope.get("user")
    return actor if isinstance(actor, Actor) else None


async def page(request: Request, template: str, **context: Any) -> Template:
    actor = signed_in(request)
    me: MeOut | None = await service.me(actor) if actor else None
    usable = (
        cards_for(me.modules, me.permissions, me.named_in)
        if me and me.realm == service.REALM_APP
        else []
    )
    return Template(
        template_name=template,
        context={
            "me": me,
            "usable_modules": [c.module.value for c in usable],
            # the built modules the menu has no entry of its own for (ward rounds, teaching,
            # statistics, quality control): its "More" drop-down, as the home page's cards
            "more_modules": [c for c in usable if c.href and c.module.value not in IN_MENU],
            **i18n.context(request),
            **context,
        },
    )


def fragment(
    request: Request, template: str, headers: dict[str, str] | None = None, **context: Any
) -> Template:
    """A part of a page (htmx swaps it in): the words, no header's ``me``."""
    return Template(
        template_name=template, context={**i18n.context(request), **context}, headers=headers
    )


async def rows_or_page(
    request: Request, rows: str, template: str, context: dict[str, Any]
) -> Template:
    """A filtered list: its rows alone for htmx's own requests (not a history restore), else
    the whole page; either way ``Vary: HX-Request`` so a cache keeps the two apart."""
    if request.headers.get("hx-request") == "true" and not request.headers.get(
        "hx-history-restore-request"
    ):
        return fragment(request, rows, headers={"Vary": "HX-Request"}, **context)
    response = await page(request, template, **context)
    response.headers["Vary"] = "HX-Request"
    return response


def to_login(request: Request, admin: bool = False) -> Redirect:
    target = "/admin/login" if admin else "/login"
    return Redirect(f"{target}?next={quote(request.url.path)}")


class GoTo(Exception):
    """Raised by a page's check of its user: the page answers with ``redirect`` (the login
    page, or the page for this kind of user) instead of itself."""

    def __init__(self, redirect: Redirect) -> None:
        super().__init__()
        self.redirect = redirect


def _go(_: Request, exc: GoTo) -> Response:
    return exc.redirect


class PageController(Controller):
    """A controller of pages: not in the API's schema, and a ``GoTo`` raised by the checks
    below answers with its redirect."""

    include_in_schema = False
    exception_handlers = {GoTo: _go}


def user_of(request: Request, admin_login: bool = False) -> Actor:
    """The signed-in user, or on to the (administrator's) login page."""
    actor = signed_in(request)
    if actor is None:
        raise GoTo(to_login(request, admin=admin_login))
    return actor


def admin_of(request: Request, kind: str | None = None) -> Actor:
    """The admin behind a management page (of ``kind`` when given, else 403), or on to the
    administrator login."""
    actor = signed_in(request)
    if actor is None or not actor.is_admin or actor.realm != "admin":
        raise GoTo(to_login(request, admin=True))
    if kind == ALLIANCE_ADMIN and actor.kind != ALLIANCE_ADMIN:
        raise Forbidden("This page is for alliance administrators.")
    if kind == HOSPITAL_ADMIN and actor.kind != HOSPITAL_ADMIN:
        raise Forbidden(
            "This page is for hospital administrators; an alliance administrator manages "
            "hospitals and their administrators."
        )
    return actor


def int_or_none(value: str) -> int | None:
    """A filter's id, or None for anything else (also beyond what an id column holds)."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > INT32_MAX:
        return None
    return int(value)


def clock(zone: ZoneInfo, seconds: bool = False, empty: str = "") -> Callable[[str | None], str]:
    """Format ISO times in ``zone`` (to the minute, or the second); ``empty`` for none."""
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"

    def when(value: str | None) -> str:
        if not value:
            return empty
        return datetime.fromisoformat(value).astimezone(zone).strftime(pattern)

    return when


async def local_clock(actor: Actor, seconds: bool = False) -> Callable[[str | None], str]:
    """``clock`` in the time zone of the user's hospital."""
    return clock(await hospital_zone(actor.hospital_id), seconds)


def last_page(total: int, page_size: int) -> int:
    """The number of the last page of a numbered list (1 for an empty one)."""
    return max(1, -(-total // page_size))


def page_url(path: str, query: Mapping[str, Any]) -> Callable[..., str]:
    """``page_url(n)``: the list at ``path`` with ``query`` on its page ``n`` (``page_no``)."""
    return lambda n: f"{path}?" + urlencode({**query, "page_no": n})


def query_texts(request: Request, names: Iterable[str]) -> dict[str, str]:
    """A list's text filters as the query gives them ("" for a missing one)."""
    return {name: request.query_params.get(name, "") for name in names}


def given(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The filters of a list that were filled in (for its links)."""
    return {k: v for k, v in pairs if v}


def hospital_topics(hospitals: Iterable[Any]) -> list[str]:
    """The live topics of the hospitals a page shows (rows or records; at most 50)."""
    ids = [h["id"] if isinstance(h, Mapping) else h.id for h in hospitals]
    return [f"hospital:{i}" for i in ids][:50]


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


class AccountPages(PageController):
    @get("/")
    async def home(self, request: Request) -> Template | Redirect:
        actor = user_of(request)
        if actor.realm == service.REALM_ADMIN:
            return Redirect("/manage")
        me = await service.me(actor)
        topics = [f"user:{actor.user_id}"]
        if actor.hospital_id:
            topics.append(f"hospital:{actor.hospital_id}")
        cards = cards_for(me.modules, me.permissions, me.named_in)
        return await page(request, "home.html", cards=cards, topics=topics)

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
    async def password(self, request: Request, first: str | None = None) -> Template:
        user_of(request)
        return await page(request, "password.html", first=bool(first))

    @get("/qr/{token:str}")
    async def qr_confirm(self, request: Request, token: str) -> Template:
        """The phone's side of a QR login; an account's first one binds the phone number and
        sets the initial password before it confirms (SPEC 1.4)."""
        actor = user_of(request)
        return await page(
            request,
            "qr_confirm.html",
            token=token,
            steps=await qr.first_login_steps(actor.user_id),
            code_minutes=get_settings().login.reset_code_minutes,
        )

    @get("/lang/{lang:str}")
    async def set_language(self, request: Request, lang: str) -> Response:
        lang = lang if lang in i18n.LANGUAGES else "en"
        back = safe_next(request.headers.get("referer", "").split(request.url.netloc, 1)[-1], "/")
        return Redirect(
            back,
            cookies=[Cookie(key="lang", value=lang, max_age=365 * 86400, path="/", samesite="lax")],
        )
