"""Every audit action the code writes by name has a label in both languages (issue 14.12):
the literal first argument of an audit call, a patient-data route's declared action
(``phi("exam.view", …)``) and each step of a state machine (``store.engine`` audits
"<process>.<trigger>"). A new code without its label fails here, not on a page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from kernel import i18n
from ui.labels.audit import PROCESSES, action_label

ROOT = Path(__file__).resolve().parents[2]
CALLS = {
    "audit": 0,
    "write_audit": 1,
    "audit_refusal": 1,
    "audit_alone": 2,
    "phi": 0,
    "patient_audit": 2,
}
CJK = re.compile(r"[\u4e00-\u9fff]")
SOURCES = ("aimis", "api", "flows", "imaging", "store", "ui")


def written_codes() -> set[str]:
    codes: set[str] = set()
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                at = CALLS.get(name)
                if at is None or len(node.args) <= at:
                    continue
                arg = node.args[at]
                values = [arg] if not isinstance(arg, ast.IfExp) else [arg.body, arg.orelse]
                for value in values:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        codes.add(value.value)
    for process in PROCESSES.values():
        codes.update(f"{process.name}.{t}" for t in process.triggers)
        if process.declared is not None:
            codes.add(f"{process.name}.{process.declared.created}")
    return {c for c in codes if c and " " not in c}


def test_every_written_action_has_its_words() -> None:
    codes = written_codes()
    assert {"login", "login.qr_confirm", "exam.view", "consultation.start"} <= codes
    missing = []
    for code in sorted(codes):
        words = {}
        for lang in ("en", "zh"):
            token = i18n.use(lang)
            try:
                words[lang] = action_label(code)
            finally:
                i18n.reset(token)
        en, zh = words["en"], words["zh"]
        if code in (en, zh) or en == zh or not CJK.search(zh):
            missing.append(f"{code}: en {en!r}, zh {zh!r}")
    assert not missing, "audit actions without a label in both languages:\n" + "\n".join(missing)


def test_a_refused_request_and_an_unknown_code() -> None:
    token = i18n.use("zh")
    try:
        assert action_label("POST /api/consultations") == "请求 POST /api/consultations"
        assert action_label("not.a_code") == "not.a_code"
    finally:
        i18n.reset(token)
