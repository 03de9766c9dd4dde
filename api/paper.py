"""The printed page (SPEC 2.4 print, 3.5): one A4 layout for every report AIMIS prints.

A page carries the issuing hospital's logo, name and address line; the title under a rule;
a two-column grid of fields (or a template's header text); sections, each a heading with a
text or with label/value rows; the signature block; a watermark ("初稿 DRAFT") until the
document is final; the QR codes of the examinations (``codes``: the patient scans one to
open it in her archive, ``api.patient_archive.qr``) before the signatures; the footer text
with "page/pages". Labels are Chinese and English side by side ("影像所见 Findings"), as a
hospital's paper documents are, whoever prints them.

fpdf2 embeds a subset of Debian's Noto Sans CJK (``fonts-noto-cjk``, installed by
``scripts/setup.sh``) taken from its TrueType collection, so the PDF shows the same glyphs on
every reader, with or without Chinese fonts of its own. Rendering blocks for about a second
(mostly font parsing): call ``render`` in a worker thread.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from litestar import Response

from api.management.media import logos_dir
from kernel.errors import AppError

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
REGULAR = FONT_DIR / "NotoSansCJK-Regular.ttc"
BOLD = FONT_DIR / "NotoSansCJK-Bold.ttc"
SIMPLIFIED_CHINESE = 2  # index of "Noto Sans CJK SC" in Debian's collections
FAMILY = "NotoSansCJK"
DRAFT = "初稿 DRAFT"
QR_CAPTION = "扫码查看检查 Scan to open it"  # under a QR code of an examination
QR_SIZE = 26  # mm: a phone reads it at arm's length


class FontMissing(AppError):
    status_code = 503


@dataclass
class Section:
    """A heading with a text, or with label/value rows (the text, if any, after them)."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""


@dataclass
class Paper:
    """Everything a printed page shows, already as text; ``logo`` is a PNG/JPEG or None."""

    hospital_name: str
    hospital_line: str  # address and phone
    logo: Path | None
    title: str
    header: str = ""  # a template's header text; "" → the field grid
    fields: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    signatures: list[tuple[str, str]] = field(default_factory=list)
    footer: str = ""
    watermark: str = ""  # "" for a final document
    # QR codes before the signature block: (caption under it, URL it holds); the patient's
    # examination codes (``api.patient_archive.qr``)
    codes: list[tuple[str, str]] = field(default_factory=list)
    created: datetime | None = None  # the PDF's creation date (the same bytes when repeated)


def check_fonts() -> None:
    if not REGULAR.is_file():
        raise FontMissing(
            "The Chinese font {regular} is not installed on the server, so the "
            "report cannot be printed; install Debian's fonts-noto-cjk (make setup).",
            regular=REGULAR,
        )


def logo_file(name: str) -> Path | None:
    """A hospital's uploaded logo (``Hospital.logo_file``), or None when it has none."""
    folder = logos_dir()
    path = folder / name
    if not name or path.parent != folder or not path.is_file():
        return None
    return path


def _fonts(pdf: Any) -> None:
    """Noto Sans CJK (simplified Chinese face) as FAMILY, regular and bold."""
    pdf.add_font(FAMILY, "", str(REGULAR), collection_font_number=SIMPLIFIED_CHINESE)
    bold = BOLD if BOLD.is_file() else REGULAR
    pdf.add_font(FAMILY, "B", str(bold), collection_font_number=SIMPLIFIED_CHINESE)


def render(doc: Paper) -> bytes:
    """The PDF of ``doc`` (blocking: call it in a worker thread)."""
    check_fonts()
    from fpdf import FPDF  # imported here: it takes a second and only printing needs it

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # a line per table subset

    class Page(FPDF):
        def header(self) -> None:
            if doc.watermark:
                self.set_font(FAMILY, "B", 64)
                self.set_text_color(228, 232, 238)
                width = self.get_string_width(doc.watermark)
                self.text(self.w / 2 - width / 2, self.h / 2, doc.watermark)
                self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-16)
            self.set_draw_color(190, 198, 206)
            self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
            self.set_font(FAMILY, size=8)
            self.set_text_color(110, 120, 130)
            text = f"{doc.footer}    {self.page_no()}/{{nb}}".strip()
            self.multi_cell(0, 4.5, text, align="C")

    pdf = Page(format="A4")
    pdf.set_margins(18, 14, 18)
    pdf.set_auto_page_break(True, margin=24)
    _fonts(pdf)
    pdf.set_title(doc.title)
    pdf.set_creator("AIMIS")
    if doc.created is not None:
        pdf.set_creation_date(doc.created)
    pdf.add_page()
    _letterhead(pdf, doc)
    _fields(pdf, doc)
    for section in doc.sections:
        _section(pdf, section)
    _codes(pdf, doc.codes)
    _signatures(pdf, doc.signatures)
    return bytes(pdf.output())


def _letterhead(pdf: Any, doc: Paper) -> None:
    top = pdf.get_y()
    if doc.logo is not None:
        pdf.image(str(doc.logo), x=pdf.l_margin, y=top, h=18)
    pdf.set_font(FAMILY, "B", 18)
    pdf.set_xy(pdf.l_margin + 22, top)
    pdf.multi_cell(pdf.epw - 44, 9, doc.hospital_name, align="C", new_x="LMARGIN", new_y="NEXT")
    if doc.hospital_line:
        pdf.set_x(pdf.l_margin + 22)
        pdf.set_font(FAMILY, size=9)
        pdf.set_text_color(90, 100, 110)
        pdf.multi_cell(pdf.epw - 44, 5, doc.hospital_line, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    pdf.set_y(max(pdf.get_y(), top + 19) + 2)
    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(0, 8, doc.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(40, 60, 80)
    pdf.set_line_width(0.5)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.w - pdf.r_margin, pdf.get_y() + 1)
    pdf.set_line_width(0.2)
    pdf.ln(3)


def _fields(pdf: Any, doc: Paper) -> None:
    pdf.set_font(FAMILY, size=10)
    if doc.header:
        pdf.multi_cell(0, 5.5, doc.header, align="L", new_x="LMARGIN", new_y="NEXT")
    else:
        half = pdf.epw / 2
        widest = max((pdf.get_string_width(label) for label, _ in doc.fields), default=0)
        label_width = min(max(34, widest + 3), half * 0.5)  # the labels line up, values too
        for i, (label, value) in enumerate(doc.fields):
            if i % 2 == 0 and i:
                pdf.ln(6)
            pdf.set_x(pdf.l_margin + (half if i % 2 else 0))
            pdf.set_text_color(90, 100, 110)
            pdf.cell(label_width, 6, label)
            pdf.set_text_color(0, 0, 0)
            pdf.cell(half - label_width, 6, _fitted(pdf, value or "—", half - label_width - 1))
        pdf.ln(6)
    pdf.ln(2)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(3)


def _fitted(pdf: Any, text: str, width: float) -> str:
    """``text`` cut with "…" to fit ``width`` on one line of the grid."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _section(pdf: Any, section: Section) -> None:
    if pdf.will_page_break(20):
        pdf.add_page()
    pdf.set_font(FAMILY, "B", 12)
    pdf.cell(0, 8, section.title, new_x="LMARGIN", new_y="NEXT")
    label_width = 40
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
    if section.text or not section.rows:
        pdf.set_font(FAMILY, size=11)
        pdf.multi_cell(0, 6.5, section.text or "—", align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as a PNG (error correction M, the quiet zone of 4 modules)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=8, border=4)
    return out.getvalue()


def _codes(pdf: Any, codes: list[tuple[str, str]]) -> None:
    """The QR codes side by side, each with its caption under it."""
    if not codes:
        return
    if pdf.will_page_break(QR_SIZE + 14):
        pdf.add_page()
    top, width = pdf.get_y(), QR_SIZE + 20
    per_row = max(1, int(pdf.epw // width))
    for i, (caption, url) in enumerate(codes):
        if i and i % per_row == 0:
            top += QR_SIZE + 14
            if top + QR_SIZE + 14 > pdf.h - pdf.b_margin:
                pdf.add_page()
                top = pdf.get_y()
        x = pdf.l_margin + (i % per_row) * width
        pdf.image(io.BytesIO(qr_png(url)), x=x + 10, y=top, w=QR_SIZE, h=QR_SIZE)
        pdf.set_xy(x, top + QR_SIZE + 0.5)
        pdf.set_font(FAMILY, size=7.5)
        pdf.set_text_color(90, 100, 110)
        pdf.multi_cell(width, 3.6, caption, align="C")
        pdf.set_text_color(0, 0, 0)
    pdf.set_xy(pdf.l_margin, top + QR_SIZE + 14)


def _signatures(pdf: Any, signatures: list[tuple[str, str]]) -> None:
    if pdf.will_page_break(8 * len(signatures) + 6):
        pdf.add_page()
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(2)
    pdf.set_font(FAMILY, size=10)
    half = pdf.epw / 2
    for i, (label, value) in enumerate(signatures):
        pdf.set_x(pdf.l_margin + (half if i % 2 else 0))
        pdf.cell(half, 7, f"{label}：{value}")
        if i % 2:
            pdf.ln(7)


def pdf_response(name: str, content: bytes) -> Response[bytes]:
    """A printed page as the browser opens it: inline, named ``name``, never cached."""
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )
