"""Print the consultation report to PDF (SPEC 3.5) with Chinese rendered correctly.

fpdf2 embeds a subset of Debian's Noto Sans CJK (``fonts-noto-cjk``, installed by
``scripts/setup.sh``) taken from its TrueType collection, so the PDF shows the same glyphs on
every reader, with or without Chinese fonts of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.errors import AppError

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
REGULAR = FONT_DIR / "NotoSansCJK-Regular.ttc"
BOLD = FONT_DIR / "NotoSansCJK-Bold.ttc"
SIMPLIFIED_CHINESE = 2  # index of "Noto Sans CJK SC" in Debian's collections
FAMILY = "NotoSansCJK"


class FontMissing(AppError):
    status_code = 503


@dataclass
class Section:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # label, value
    text: str = ""


@dataclass
class ReportDocument:
    title: str
    subtitle: str
    notice: str  # "draft" or "submitted at …"
    sections: list[Section]
    footer: str


def check_fonts() -> None:
    if not REGULAR.is_file():
        raise FontMissing(
            "The Chinese font {regular} is not installed on the server, so the "
            "report cannot be printed; install Debian's fonts-noto-cjk (make setup).",
            regular=REGULAR,
        )


def add_cjk_fonts(pdf: Any) -> None:
    """Register Noto Sans CJK (simplified Chinese face) as FAMILY, regular and bold, on an
    ``FPDF`` document: every PDF AIMIS prints uses it."""
    pdf.add_font(FAMILY, "", str(REGULAR), collection_font_number=SIMPLIFIED_CHINESE)
    bold = BOLD if BOLD.is_file() else REGULAR
    pdf.add_font(FAMILY, "B", str(bold), collection_font_number=SIMPLIFIED_CHINESE)


def render(doc: ReportDocument, page_label: Callable[[int], str]) -> bytes:
    """Blocking (about a second, mostly font parsing): call it in a worker thread."""
    check_fonts()
    from fpdf import FPDF  # imported here: it takes a second and only printing needs it

    class Printed(FPDF):
        def footer(self) -> None:
            self.set_y(-14)
            self.set_font(FAMILY, size=8)
            self.set_text_color(110, 120, 130)
            self.cell(0, 6, f"{doc.footer}    {page_label(self.page_no())}", align="C")

    pdf = Printed(format="A4")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=20)
    add_cjk_fonts(pdf)
    pdf.set_title(doc.title)
    pdf.set_creator("AIMIS")
    pdf.add_page()

    pdf.set_font(FAMILY, "B", 17)
    pdf.multi_cell(0, 9, doc.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=10)
    pdf.set_text_color(90, 100, 110)
    pdf.multi_cell(0, 6, doc.subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 6, doc.notice, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(3)

    label_width = 34
    for section in doc.sections:
        if pdf.will_page_break(24):
            pdf.add_page()
        pdf.set_font(FAMILY, "B", 12)
        pdf.set_fill_color(235, 241, 247)
        pdf.cell(0, 8, f" {section.title}", fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        pdf.set_font(FAMILY, size=10.5)
        for label, value in section.rows:
            pdf.set_text_color(90, 100, 110)
            if pdf.get_string_width(label) > label_width - 2:  # a long label gets its own line
                pdf.multi_cell(0, 6.5, label, align="L", new_x="LMARGIN", new_y="NEXT")
                pdf.set_x(pdf.l_margin + label_width)
            else:
                pdf.cell(label_width, 6.5, label)
            pdf.set_text_color(0, 0, 0)
            pdf.multi_cell(0, 6.5, value or "—", align="L", new_x="LMARGIN", new_y="NEXT")
        if section.text:
            pdf.set_font(FAMILY, size=11)
            pdf.multi_cell(0, 7, section.text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    return bytes(pdf.output())
