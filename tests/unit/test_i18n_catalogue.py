"""The catalogue and the code agree: extraction (babel.cfg, kernel.i18n.KEYWORDS) finds no
message without its Chinese, the Chinese keeps the placeholders of its id, and the catalogue
holds no id the code no longer has."""

from __future__ import annotations

import re
import string
from pathlib import Path

from babel.messages import pofile
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo

from kernel import i18n

ROOT = Path(__file__).resolve().parents[2]
# An id that is an identifier (``remote_diagnosis``, ``target:user``, ``mstep.bill``), one with
# a msgctxt (a process's state or step), or one the catalogue marks as looked up with a
# computed key (a label passed on in a variable) cannot be seen by extraction.
COMPUTED = "computed key"


def _extracted(tmp_path: Path) -> Catalog:
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = Catalog(domain=i18n.DOMAIN)
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=i18n.KEYWORDS
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.add(msgid, locations=[(filename, lineno)], context=context)
    with (tmp_path / "messages.mo").open("wb") as out:  # the extraction compiles
        write_mo(out, found)
    return found


def _zh() -> Catalog:
    with (ROOT / "locale" / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return pofile.read_po(po, locale="zh")


def _fields(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return set()


def test_every_extracted_message_has_its_chinese(tmp_path: Path) -> None:
    zh = _zh()
    missing = []
    for message in _extracted(tmp_path):
        if not message.id:
            continue
        entry = zh.get(message.id, context=message.context)
        if entry is None or not entry.string or entry.fuzzy:
            where = ", ".join(f"{f}:{n}" for f, n in message.locations)
            missing.append(f"{where}: {message.id!r}")
    assert not missing, "\n".join(missing)


def test_the_chinese_keeps_the_placeholders() -> None:
    """Every ``{name}`` of the Chinese is one of its id (it may leave one out: the Chinese of
    "The API host {shown}" names the host without the English "(it resolves to …)")."""
    wrong = []
    for entry in _zh():
        if not entry.id or not isinstance(entry.id, str) or "{{" in entry.id:
            continue  # a page's text with literal braces is not formatted
        if not _fields(entry.string) <= _fields(entry.id) or (
            _fields(entry.id) and not _fields(entry.string)
        ):
            wrong.append(f"{entry.id!r} -> {entry.string!r}")
        if entry.id and "%(" in str(entry.id):
            ids = set(re.findall(r"%\((\w+)\)", str(entry.id)))
            if ids != set(re.findall(r"%\((\w+)\)", str(entry.string))):
                wrong.append(f"{entry.id!r} -> {entry.string!r}")
    assert not wrong, "\n".join(wrong)


def test_the_catalogue_holds_no_obsolete_id(tmp_path: Path) -> None:
    found = {(m.context, m.id) for m in _extracted(tmp_path) if m.id}
    obsolete = [
        entry.id
        for entry in _zh()
        if entry.id
        and " " in str(entry.id)
        and entry.context is None
        and COMPUTED not in " ".join(entry.auto_comments)
        and (None, entry.id) not in found
    ]
    assert not obsolete, "\n".join(map(str, obsolete))


def test_a_placeholder_value_is_translated_with_its_sentence() -> None:
    text = i18n.gettext(
        "The {what} has at most {max_len} characters.",
        lang="zh",
        what=i18n.Msg("address"),
        max_len=300,
    )
    assert text == "地址最多 300 个字符。"
    assert i18n.gettext("No such id.", lang="zh") == "No such id."  # English falls back


def test_default_role_names_are_message_ids() -> None:
    from kernel.domain import DEFAULT_ROLES
    from ui.labels.roles import DEFAULT_ROLE_NAMES

    assert set(DEFAULT_ROLE_NAMES) == set(DEFAULT_ROLES)
