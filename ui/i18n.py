"""The pages' side of ``kernel.i18n``: the reader's language of a request and the template context.

Templates write English and call ``_()`` (or ``{% trans %}``, the ``jinja2.ext.i18n``
extension); the Chinese comes from the catalogue ``locale/zh/LC_MESSAGES/messages.po``.
Unknown strings fall back to English, so a missing entry never breaks a page.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from kernel import i18n as kernel_i18n
from kernel.i18n import LANGUAGES, language_of
from kernel.i18n import translator as translator

__all__ = [
    "LANGUAGES",
    "context",
    "dicom_date",
    "install",
    "language",
    "sex_label",
    "translator",
]


def language(request: Request) -> str:
    """The ``lang`` cookie (set by the switch in the header), else Accept-Language."""
    return language_of(request.cookies.get("lang", ""), request.headers.get("accept-language", ""))


def sex_label(translate: Any) -> Any:
    """DICOM's M / F / O as the reader's word (男 / 女 / 其他); anything else as stored."""
    return lambda value: translate(f"sex:{value}") if value in ("M", "F", "O") else value or ""


def dicom_date(value: str | None) -> str:
    """A DICOM date (YYYYMMDD) as 1985-12-01; anything else as stored."""
    value = (value or "").strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def context(request: Request) -> dict[str, Any]:
    lang = language(request)
    translate = translator(lang)
    return {"lang": lang, "_": translate, "sex": sex_label(translate), "ymd": dicom_date}


def install(engine: Any) -> None:
    """``TemplateConfig(engine_callback=…)``: ``jinja2.ext.i18n`` with the kernel's gettext, so
    ``{% trans %}`` and ``_()`` speak the request's language (autoescape unchanged)."""
    env = engine.engine
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext=_gettext, ngettext=_ngettext, newstyle=False)


def _gettext(message: str) -> str:
    return kernel_i18n.gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return kernel_i18n.translations(kernel_i18n.current()).ngettext(singular, plural, n)
