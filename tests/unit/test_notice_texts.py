"""Message headlines name the case as the reader knows it, in the recipient's language."""

from __future__ import annotations

from notifiers.base import Channel
from notifiers.texts import case_message


def headline(payload: dict, language: str) -> str:
    message = case_message(
        payload, channel=Channel.wecom_app, address="u", language=language, base_url="https://h"
    )
    return message.title


def test_a_report_step_is_not_called_a_remote_diagnosis() -> None:
    report = {
        "business_type": "diagnosis",
        "case_type": "exam_report",
        "case_id": 7,
        "event": "review",
        "link": "/exams/3/report",
    }
    assert headline(report, "zh") == "检查报告 #7：报告已审核"
    assert headline(report, "en") == "Examination report #7: the report was reviewed"
    request = {**report, "case_type": "diagnosis_request", "event": "accept"}
    assert headline(request, "en") == "Remote diagnosis #7: was accepted"
    assert headline(request, "zh") == "远程诊断 #7：已接受"


def test_long_channels_carry_both_languages_and_the_link() -> None:
    report = {
        "business_type": "diagnosis",
        "case_type": "exam_report",
        "case_id": 2,
        "event": "submit_report",
        "link": "/exams/1/report",
    }
    message = case_message(
        report, channel=Channel.email, address="a@b.c", language="en", base_url="https://h"
    )
    assert message.link == "https://h/exams/1/report"
    assert "检查报告 #2：报告已提交" in message.body
    assert "Examination report #2: the report was submitted" in message.body
