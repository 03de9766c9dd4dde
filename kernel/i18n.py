"""The reader's language and the translation catalogues (gettext, compiled by Babel).

Code and templates write English; the English sentence is the message id. Chinese lives in
``locale/zh/LC_MESSAGES/messages.po`` (one msgid per phrase, however many files use it);
``locale/en`` only gives English labels to identifiers (``remote_diagnosis`` → "Remote
diagnosis"), every other English id falls back to itself.

- ``language_of(cookie, accept)``: the ``lang`` cookie (``zh``/``en``, set by the switch in
  the header), else the browser's Accept-Language (``zh…`` → Chinese), else English.
- ``use(lang)`` sets the reader's language for the current task (the composition root does it
  per request); ``current()`` reads it; ``gettext``/``_``, ``ngettext`` translate into it, or
  into ``lang=`` when given (a notification speaks its recipient's language, not the sender's).
- ``N_("…")`` marks a module-level string for extraction and returns it unchanged: the text
  is translated where it is shown (a state machine's refusal, a label table).

Placeholders: an id carries named ``{placeholders}`` (``str.format``) and the caller passes the
values as keywords — ``NotFound("No {what} with id {id} exists.", what=…, id=…)``; ``gettext``
looks the id up first, then formats, so the translation may move them. A value that is itself
an English word to translate (a field's name, a state) goes in as ``Msg(value)``.

The catalogues are compiled (``pybabel compile``) by ``make setup``; a missing or stale
``.mo`` (older than its ``.po``) is compiled here on first use, so a fresh clone still runs.
kernel imports nothing of api, ui, store or flows.
"""

from __future__ import annotations

import contextvars
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages import mofile, pofile
from babel.support import NullTranslations, Translations

LANGUAGES = ("zh", "en")
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

# What extraction (babel.cfg) reads as a message id: the gettext functions, ``Msg`` and the
# first argument of the errors (kernel.errors and the few packages' own).
KEYWORDS: dict[str, Any] = {
    **{name: None for name in ("_", "N_", "gettext", "Msg")},
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    **{
        name: None
        for name in [
            "AppError",
            "BadRequest",
            "Unauthorized",
            "Forbidden",
            "NotFound",
            "Conflict",
            "TooLarge",
            "Locked",
            "TooManyRequests",
            "unique_or_conflict",
            "Refused",
            "ConfigProblem",
            "UnsupportedType",
            "UnsupportedMediaType",
            "ViewerNotInstalled",
            "FontMissing",
            "PayloadTooLarge",
            "PasswordProblem",
        ]
    },
}

_reader: contextvars.ContextVar[str] = contextvars.ContextVar("aimis_language", default="en")


def language_of(cookie: str | None, accept: str | None) -> str:
    """The ``lang`` cookie when it names a language we have, else Accept-Language."""
    if cookie in LANGUAGES:
        return str(cookie)
    return "zh" if (accept or "").strip().lower().startswith("zh") else "en"


def use(lang: str) -> contextvars.Token[str]:
    """The reader's language for the rest of this task (request); ``reset`` with the token."""
    return _reader.set(lang if lang in LANGUAGES else "en")


def reset(token: contextvars.Token[str]) -> None:
    _reader.reset(token)


def current() -> str:
    return _reader.get()


def _compiled(lang: str) -> Path | None:
    """The ``.mo`` of ``lang``, compiled from its ``.po`` when missing or older."""
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if not po.exists():
        return mo if mo.exists() else None
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        with po.open("rb") as source:
            catalog = pofile.read_po(source, locale=lang)
        # a temporary file renamed into place: two processes compiling at once never read half
        handle, tmp = tempfile.mkstemp(dir=folder, suffix=".mo.tmp")
        with os.fdopen(handle, "wb") as target:
            mofile.write_mo(target, catalog)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from other users
        os.replace(tmp, mo)
    return mo


@cache
def translations(lang: str) -> NullTranslations:
    """The catalogue of ``lang``, loaded once per process."""
    mo = _compiled(lang) if lang in LANGUAGES else None
    if mo is None:
        return NullTranslations()
    with mo.open("rb") as source:
        return Translations(source, domain=DOMAIN)


def format(message: str, **params: Any) -> str:
    """``message`` with its named placeholders filled; unchanged when there are none."""
    return message.format(**params) if params else message


class Msg(str):
    """A placeholder's value that is itself a message id (a field's name, a state), with its
    own placeholders: it reads as English and is translated together with the sentence —
    ``BadRequest("Please enter the {what}.", what=Msg(what))``,
    ``label=Msg("The zip {name}", name=name)``. An identifier whose word depends on the
    process (``requested``, ``cancel``) names its ``context`` (gettext's msgctxt):
    ``Msg(state, context="diagnosis state")``."""

    template: str
    context: str | None
    params: dict[str, Any]

    def __new__(cls, template: str, *, context: str | None = None, **params: Any) -> Msg:
        made = super().__new__(cls, format(template, **params))
        made.template, made.context, made.params = str(template), context, params
        return made

    def translated(self, catalog: NullTranslations) -> str:
        return _fill(catalog, self.template, self.params, self.context)


class Listed(Msg):
    """Items joined by ``sep`` (", ", " or ") in English and by the language's own separator
    (、, 或) when translated."""

    items: tuple[str, ...]
    sep: str

    def __new__(cls, items: Any, sep: str = ", ") -> Listed:
        items = tuple(str(i) for i in items)
        made = str.__new__(cls, sep.join(items))
        made.template, made.context, made.params = sep.join(items), None, {}
        made.items, made.sep = items, sep
        return made

    def translated(self, catalog: NullTranslations) -> str:
        return catalog.gettext(self.sep).join(self.items)


def _fill(
    catalog: NullTranslations, message: str, params: dict[str, Any], context: str | None = None
) -> str:
    values = {k: v.translated(catalog) if isinstance(v, Msg) else v for k, v in params.items()}
    text = catalog.pgettext(context, message) if context else catalog.gettext(message)
    return format(str(text), **values)


def pgettext(context: str, message: str, *, lang: str | None = None, **params: Any) -> str:
    """``message`` as the word of ``context`` (an identifier of one process)."""
    return _fill(translations(lang or current()), message, params, context)


def gettext(message: str, *, lang: str | None = None, **params: Any) -> str:
    """``message`` in the reader's language (or ``lang``), placeholders filled from ``params``
    (``Msg`` values translated too)."""
    if not message:
        return message
    return _fill(translations(lang or current()), message, params)


def say(message: str, *, lang: str | None = None) -> str:
    """A message id, or a ``Msg`` with its placeholders (a state machine's refusal), in the
    reader's language (or ``lang``)."""
    if isinstance(message, Msg):
        return message.translated(translations(lang or current()))
    return gettext(message, lang=lang)


def ngettext(singular: str, plural: str, n: int, *, lang: str | None = None, **params: Any) -> str:
    """The singular or plural form for ``n`` (``n`` is also a placeholder)."""
    text = translations(lang or current()).ngettext(singular, plural, n)
    return format(text, n=n, **params)


def N_(message: str) -> str:
    """Marks ``message`` for extraction; it is translated where it is shown."""
    return message


_ = gettext


def translator(lang: str) -> Any:
    """A one-argument ``_`` bound to ``lang`` (templates and pages that render for a reader)."""
    catalog = translations(lang)

    def translate(message: str, **params: Any) -> str:
        return format(catalog.gettext(message), **params) if message else message

    return translate
