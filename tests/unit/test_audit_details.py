"""The details the platform writes itself are read in the reader's language on the audit
page (``ui.labels.audit.detail_label``); a detail a person wrote stays as recorded."""

from __future__ import annotations

from kernel import i18n
from ui.labels.audit import detail_label


def test_a_reminder_detail_reads_in_both_languages() -> None:
    for lang, text in (("en", "People reminded: 3"), ("zh", "已提醒人数：3")):
        token = i18n.use(lang)
        try:
            assert detail_label("consultation.reminder", "3 people reminded") == text
        finally:
            i18n.reset(token)
    assert detail_label("consultation.reminder", "three people") == ""
    assert detail_label("consultation.create", "3 people reminded") == ""
