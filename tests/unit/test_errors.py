"""A refusal speaks the reader's language where the catalogue has it, English otherwise."""

from __future__ import annotations

from kernel.errors import Conflict, NotFound
from kernel.i18n import Listed, Msg


def test_text_in_the_readers_language() -> None:
    both = Conflict("The study is online; it needs no retrieval.")
    assert both.text("zh") == "该影像检查在线，无需调阅。"
    assert both.text("en") == both.message == "The study is online; it needs no retrieval."
    assert str(both) == both.message  # logs and the audit keep the English
    english_only = NotFound("No such thing.")
    assert english_only.text("zh") == english_only.text("en") == "No such thing."


def test_placeholders_and_words_translated_with_the_sentence() -> None:
    err = Conflict(
        "The study is {tier}; try again in a moment.", tier=Msg("restoring", context="archive tier")
    )
    assert err.message == "The study is restoring; try again in a moment."
    assert err.text("zh") == "该影像检查当前为“恢复中”状态，请稍后重试。"
    listed = Conflict("The audience is one of: {audiences}.", audiences=Listed(["a", "b"]))
    assert listed.message == "The audience is one of: a, b."
    assert listed.text("zh") == "接收范围须为 a、b 之一。"
