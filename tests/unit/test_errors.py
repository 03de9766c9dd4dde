"""A refusal speaks the reader's language where its Chinese is given, English otherwise."""

from __future__ import annotations

from kernel.errors import Conflict, NotFound


def test_text_in_the_readers_language() -> None:
    both = Conflict("The report changed; reload the page.", zh="报告已被修改，请刷新页面。")
    assert both.text("zh") == "报告已被修改，请刷新页面。"
    assert both.text("en") == both.message == "The report changed; reload the page."
    assert str(both) == both.message  # logs and the audit keep the English
    english_only = NotFound("No such thing.")
    assert english_only.text("zh") == english_only.text("en") == "No such thing."
