"""Over HTTP a refusal speaks the reader's language: a state machine's guard (``states/``) and
a service's error come out Chinese with ``Accept-Language: zh`` and English with ``en``."""

from __future__ import annotations

from typing import Any

from tests.fixtures.exams import make_exam
from tests.fixtures.reports import make_hospital, submitted, url


async def test_a_guard_refusal_and_an_api_error_in_both_languages(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    seen = await submitted(h, exam_id)

    async def detail(lang: str, method: str, path: str, **kw: Any) -> tuple[int, str]:
        res = await h.reviewer.request(method, path, headers={"accept-language": lang}, **kw)
        return res.status_code, res.json()["detail"]

    # the machine's guard (states/exam_report.py): returning needs a reason
    body = {"version": seen["version"], "reason": "  "}
    assert await detail("zh-CN,zh;q=0.9", "POST", url(exam_id, "/return"), json=body) == (
        409,
        "退回报告时须向书写医生说明理由。",
    )
    assert await detail("en", "POST", url(exam_id, "/return"), json=body) == (
        409,
        "Returning a report needs a reason for its author.",
    )
    # a service's error with a placeholder: the consultation that does not exist
    status, zh = await detail("zh", "GET", "/api/consultations/999999999")
    status_en, en = await detail("en", "GET", "/api/consultations/999999999")
    assert status == status_en == 404
    assert en.isascii() and "999999999" in en
    assert not zh.isascii() and "999999999" in zh
