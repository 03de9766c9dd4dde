"""Every page of the main menu, for a doctor and a hospital admin, in English and in Chinese
(the header's language switch, kernel/i18n.py), in real Chromium (issue 14): an English page
shows no Chinese except data (names the test made and the switch's own "中文"); a Chinese
page shows no text that is an English message id of the catalogue left untranslated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.e2e.conftest import login
from tests.fixtures.hospitals import PASSWORD, Staff, make_hospital

pytestmark = pytest.mark.e2e

LOCALE = Path(__file__).resolve().parents[2] / "locale"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
# words of the page that are Chinese in both languages by design: the language switch
SWITCH = {"中文"}
# the texts of every element without element children, trimmed, skipping scripts
TEXTS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest("script,style,template,[hidden]")) continue;
    const t = n.textContent.trim();
    if (t) out.push(t);
  }
  for (const e of document.querySelectorAll("[placeholder],[title],[aria-label]")) {
    for (const a of ["placeholder", "title", "aria-label"]) {
      if (a === "title" && e.hasAttribute("data-code")) continue;  // a code's tooltip: the code
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


async def check(page, base: str, lang: str, data: set[str]) -> list[str]:  # type: ignore[no-untyped-def]
    await page.goto(f"{base}/lang/{lang}")
    ids = untranslated_ids() if lang == "zh" else set()
    problems = []
    for path in await walk(page, base):
        await page.goto(f"{base}{path}")
        await page.wait_for_load_state("networkidle")
        for text in await page.evaluate(TEXTS):
            if lang == "en":
                rest = text
                for d in data | SWITCH:
                    rest = rest.replace(d, "")
                if CJK.search(rest):
                    problems.append(f"{path} [en]: {text!r}")
            elif text in ids or text.rstrip(":") in ids:
                problems.append(f"{path} [zh]: {text!r}")
    return sorted(set(problems))


@pytest.mark.parametrize("who", ["doctor", "admin"])
async def test_every_page_in_both_languages(browser, app_url, uniq, who) -> None:
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
    ctx = await browser.new_context(locale="en-US")
    try:
        page = await ctx.new_page()
        await login(page, app_url, made[who].username, PASSWORD, admin=who == "admin")
        problems = await check(page, app_url, "en", set())
        problems += await check(page, app_url, "zh", set())
        assert not problems, "\n".join(problems)
    finally:
        await ctx.close()
