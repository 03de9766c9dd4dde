"""Every page of the main menu and the detail pages behind them (an examination with its
diagnosis request, a report, a consultation room, a migration run, a user), for a doctor, a
hospital admin and a consultation's applicant, in English and in Chinese (the header's
language switch, kernel/i18n.py), in real Chromium (issue 14): an English page shows no
Chinese except data (names stored in the database and the switch's own "中文"); a Chinese
page shows no English message id of the catalogue left untranslated and no English word
except data, codes and the acronyms of ``WORDS_OF_BOTH``."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from api.consultations.reminders import send_reminder
from api.ingest.steps import create_run
from store.tables import (
    ApiToken,
    Consultation,
    Department,
    DiagnosisRequest,
    Hospital,
    MigrationRun,
    Patient,
    Timer,
    User,
)
from store.uow import Ctx, now, unit_of_work
from tests.e2e.conftest import login
from tests.fixtures.consultations import simple_case
from tests.fixtures.exams import make_exam
from tests.fixtures.hospitals import DEMO_PASSWORD, PASSWORD, Staff, hospital_of, make_hospital

pytestmark = pytest.mark.e2e

LOCALE = Path(__file__).resolve().parents[2] / "locale"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
# words of the page that are Chinese in both languages by design: the language switch
SWITCH = {"中文"}
# English words a Chinese page shows by design: names of products, standards and units, the
# language switch's "EN", and the data the test made (patients, descriptions)
WORDS_OF_BOTH = {
    # products, standards, file types and units
    "AIMIS",
    "DICOM",
    "DICOMweb",
    "FHIR",
    "PDF",
    "CSV",
    "Excel",
    "XLSX",
    "API",
    "URL",
    "HIS",
    "PACS",
    "OHIF",
    "WeChat",
    "WeCom",
    "SMS",
    "SMTP",
    "HTTP",
    "HTTPS",
    "JSON",
    "Jitsi",
    "Prefect",
    "JPEG",
    "PNG",
    "ZIP",
    "zip",
    "STOW",
    "STORE",
    "UID",
    "Study",
    "UTC",
    "Asia",
    "Shanghai",
    "AET",
    "SCP",
    "SCU",
    "MRI",
    "DSA",
    "PET",
    "ECG",
    # the WeChat and WeCom settings as their consoles spell them, and an example account
    "openid",
    "AppID",
    "AppSecret",
    "Webhook",
    "key",
    "CorpID",
    "AgentId",
    "Secret",
    "ZhangSan",
    # the language switch's other language, and the data the test made
    "English",
    "CHEST",
    "WALK",
    "PATIENT",
}
# the texts of every element without element children, trimmed, skipping scripts and codes
TEXTS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const p = n.parentElement;
    // not shown (noscript with scripts on), codes, and the audit log's recorded details
    // (a detail the platform wrote itself, data-said, is read in the page's language)
    const skip = "script,style,template,noscript,[hidden],code,kbd,pre,.detail:not([data-said])";
    if (!p || p.closest(skip)) continue;
    const t = n.textContent.trim();
    if (t) out.push(t);
  }
  for (const e of document.querySelectorAll("[placeholder],[title],[aria-label]")) {
    for (const a of ["placeholder", "title", "aria-label"]) {
      if (e.hasAttribute("data-code")) continue;  // a code's tooltip, a field asking for codes
      const v = e.getAttribute(a);
      if (v && v.trim()) out.push(v.trim());
    }
  }
  return out;
}"""


def untranslated_ids() -> set[str]:
    """Message ids whose Chinese differs from them: seen verbatim on a zh page, a leftover."""
    with (LOCALE / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        zh = read_po(f)
    found = set()
    for m in zh:
        text = m.id if isinstance(m.id, str) else ""
        plain = "{" not in text and "%(" not in text
        if plain and m.string and m.string != text and re.search(r"[A-Za-z]{3}", text):
            found.add(text)
    return found


async def walk(page, base: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The main menu's pages (the home page first), each once."""
    hrefs = await page.locator("header nav.main-nav a, header details.account a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    seen: list[str] = []
    for h in hrefs:
        if h and h.startswith("/") and h not in seen:
            seen.append(h)
    return seen


# an English word: three letters or more, not part of a code with digits ("580ddc4b")
ENGLISH = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z']{2,}(?![A-Za-z0-9])")


async def stored_names() -> set[str]:
    """What the pages show as data: the names of hospitals, departments, people and
    patients, codes, a consultation's texts; each part of a bilingual name ("Radiology
    放射科") also on its own."""
    names: set[str] = set()
    for table, column in (
        (Hospital, Hospital.name),
        (Department, Department.name),
        (User, User.display_name),
        (User, User.username),
        (Patient, Patient.name),
        (Patient, Patient.patient_id),
        (Consultation, Consultation.topic),
        (Consultation, Consultation.clinical_summary),
        (Consultation, Consultation.patient_name),
        (Hospital, Hospital.code),
        (DiagnosisRequest, DiagnosisRequest.clinical_info),
        (MigrationRun, MigrationRun.source_detail),
        (ApiToken, ApiToken.name),
    ):
        for row in await table.select(column):
            value = str(row[column._meta.name] or "")
            names.add(value)
            names.update(CJK.split(value))
            names.update(CJK.findall(value))
    return {n.strip() for n in names if len(n.strip()) > 1}


@functools.lru_cache(maxsize=4)
def _known(data: frozenset[str]) -> re.Pattern[str]:
    """The data as whole words: a short name ("ST") never eats into a word ("CHEST")."""
    words = "|".join(re.escape(d) for d in sorted(data, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{words})(?![A-Za-z0-9])")


def leftover(text: str, lang: str, data: set[str], ids: set[str]) -> bool:
    """Whether ``text`` on a page in ``lang`` holds words of the other language."""
    if lang == "zh" and (text in ids or text.rstrip(":") in ids):
        return True
    rest = _known(frozenset(data | SWITCH)).sub(" ", text)
    if lang == "en":
        return bool(CJK.search(rest))
    return any(w not in WORDS_OF_BOTH for w in ENGLISH.findall(rest))


async def check(  # type: ignore[no-untyped-def]
    page, base: str, lang: str, data: set[str], details: list[str], menu: bool = True
) -> list[str]:
    await page.goto(f"{base}/lang/{lang}")
    ids = untranslated_ids() if lang == "zh" else set()
    problems = []
    for path in (await walk(page, base) if menu else []) + details:
        await page.goto(f"{base}{path}")
        await page.wait_for_load_state("networkidle")
        for text in await page.evaluate(TEXTS):
            if leftover(text, lang, data, ids):
                problems.append(f"{path} [{lang}]: {text!r}")
    return sorted(set(problems))


async def send_a_reminder(new_api, uniq) -> int:  # type: ignore[no-untyped-def]
    """A consultation of dr.li's (CITY) whose "starts soon" reminder went out, as the timer
    sweep sends it (``send_reminder``): its audit row and notice are on City's pages."""
    _, cid = await simple_case(new_api, uniq)
    timer = (
        await Timer.select(Timer.id)
        .where(Timer.case_type == "consultation", Timer.case_id == cid, Timer.kind == "reminder")
        .first()
    )
    async with unit_of_work(Ctx()) as uow:
        assert await send_reminder(uow, cid, timer["id"])
    return cid


@pytest.mark.parametrize("who", ["doctor", "admin", "applicant", "reminded"])
async def test_every_page_in_both_languages(browser, app_url, new_api, uniq, who) -> None:
    made = await make_hospital(
        None,
        uniq,
        prefix="LW-",
        name="Walk {code}",
        department="Radiology",
        staff={
            "doctor": Staff(role="Senior radiologist", prefix="lw.", login=False),
            "admin": Staff(admin=True, prefix="lw.", login=False),
        },
    )
    doctor = made["doctor"]
    exam_id = await make_exam(made.id, name="WALK^PATIENT")
    # an examination sent for remote diagnosis to the leading hospital: its page shows it
    await DiagnosisRequest.insert(
        DiagnosisRequest(
            examination=exam_id,
            hospital=made.id,
            target_hospital=(await hospital_of("CITY"))["id"],
            requested_by=doctor.id,
            clinical_info="walk",
            created_at=now(),
            updated_at=now(),
        )
    )
    run_id = await create_run(Ctx(), made.id, "import", "walk run")
    username, password, details, menu = {
        "doctor": (
            doctor.username,
            PASSWORD,
            [f"/exams/{exam_id}", f"/exams/{exam_id}/report"],
            True,
        ),
        "admin": (
            made["admin"].username,
            PASSWORD,
            [f"/manage/migrations/{run_id}", f"/manage/doctors?q={doctor.username}"],
            True,
        ),
        # the room of a consultation dr.li (demo) applied for: its hint waits for a department
        "applicant": ("dr.li", DEMO_PASSWORD, [], False),
        # City's administrator after a consultation reminder went out (issue 14.12)
        "reminded": (
            "admin.city",
            DEMO_PASSWORD,
            ["/manage/audit?action=consultation.reminder", "/manage/notifications/log"],
            False,
        ),
    }[who]
    if who == "applicant":
        _, cid = await simple_case(new_api, uniq)
        details = [f"/consultations/{cid}"]
    if who == "reminded":
        await send_a_reminder(new_api, uniq)
    data = await stored_names()
    ctx = await browser.new_context(locale="en-US")
    try:
        page = await ctx.new_page()
        await login(page, app_url, username, password, admin=who in ("admin", "reminded"))
        problems = await check(page, app_url, "en", data, details, menu)
        problems += await check(page, app_url, "zh", data, details, menu)
        assert not problems, "\n".join(problems)
        if who == "applicant":  # the page is Chinese now: the start waits, in Chinese words
            await page.goto(f"{app_url}{details[0]}")
            hint = await page.locator("[data-blocked=start]").inner_text()
            assert "必选科室" in hint and "尚未同意" in hint, hint
            diagram = await page.locator("#diagram").evaluate("e => e.textContent")
            assert "审核中" in diagram and "开始会诊" in diagram, diagram
        if who == "reminded":  # the reminder's audit row, in Chinese
            await page.goto(f"{app_url}{details[0]}")
            said = page.locator("#audit-table .detail[data-said]").first
            assert "已提醒人数：" in await said.inner_text()
    finally:
        await ctx.close()


def test_the_check_tells_leftovers_from_data() -> None:
    """What the walk counts as a leftover: the other language's words, not data or codes."""
    ids = {"Waiting:"}
    assert leftover("会诊 reminder 已发送", "zh", set(), ids)
    assert leftover("Waiting:", "zh", set(), ids)
    assert leftover("完成时间", "en", set(), ids)
    assert not leftover("AIMIS 医学影像协同平台", "zh", set(), ids)
    assert not leftover("Radiology 放射科 · 580ddc4bfd0c", "zh", {"Radiology"}, ids)
    assert not leftover("Radiology 放射科", "en", {"放射科"}, ids)
    assert not leftover("中文 / EN", "en", set(), ids)
    assert not leftover("CHEST", "zh", {"ST", "HE"}, ids)  # data is replaced as whole words
    assert leftover("Waiting for WALK", "zh", {"WALK"}, set())
