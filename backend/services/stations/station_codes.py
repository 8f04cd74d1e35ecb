"""The printed station code (码上找) and its A4 poster: pure rendering, no database.

The code is a plain URL QR (`https://<domain>/s/<scene>`): WeChat opens it in the mini-program
(扫普通链接二维码打开小程序), any other scanner opens the landing web page, so one print serves both.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from functools import cache

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.colors import HexColor, black, white
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

log = logging.getLogger(__name__)

# Shipped with the code (fonts/README.md: where it comes from, its licence), so that every poster
# embeds its glyphs on any machine: a PDF naming a font it does not carry prints blanks or boxes
# wherever the reader lacks that font. TrueType outlines: ReportLab embeds no CFF ones.
BUNDLED_FONT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fonts", "wqy-microhei.ttc")
# Only when the bundled font is missing or broken (a damaged install): not embedded.
FALLBACK_FONT = "STSong-Light"

# 1.5 mm per module: a version-3 code prints at ~55 mm, easy to scan from arm's length.
SVG_BOX_SIZE = 15

RED = HexColor("#C8102E")
GOLD = HexColor("#E8B64C")
INK = HexColor("#222222")
GREY = HexColor("#6B6B6B")
PALE_RED = HexColor("#FBEFF1")
PINK_TEXT = HexColor("#FAD9DE")
RULE = HexColor("#E9C9CE")

MAX_DEPUTIES_SHOWN = 24
DEPUTY_COLUMNS = 4

HOW_TO_USE = (
    "微信扫一扫上方二维码",
    "查看本站代表和接待日",
    "在线留言反映意见建议，跟踪办理进度",
)


def station_url(base_url: str, scene: str) -> str:
    """The URL printed in a station's code."""
    return f"{base_url.rstrip('/')}/s/{scene}"


def _qr(url: str, box_size: int = 10, border: int = 4, image_factory=None) -> qrcode.QRCode:
    qr = qrcode.QRCode(
        error_correction=ERROR_CORRECT_M, box_size=box_size, border=border, image_factory=image_factory
    )
    qr.add_data(url)
    qr.make(fit=True)
    return qr


def qr_png(url: str, box_size: int = 10, border: int = 4) -> bytes:
    """The code as a black-on-white PNG."""
    img = _qr(url, box_size, border).make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def qr_svg(url: str) -> bytes:
    """The code as a standalone SVG document (one path, white background, sized in mm)."""
    img = _qr(url, box_size=SVG_BOX_SIZE, image_factory=qrcode.image.svg.SvgPathFillImage).make_image()
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()


@dataclass
class PosterContent:
    station_name: str
    address: str
    region_path: list[str]
    reception_label: str
    open_hours: str
    url: str
    deputies: list[tuple[str, str]] = field(default_factory=list)
    next_reception_date: str | None = None
    phone: str | None = None


# --- fonts -----------------------------------------------------------------------------------

_font_lock = threading.Lock()


@cache
def _register_ttf(path: str) -> str:
    # Parsing a 5 MB .ttc takes a while; lru_cache makes it once per process per file.
    name = "PosterCJK-" + hashlib.sha1(path.encode()).hexdigest()[:8]
    # subfontIndex is ignored for plain .ttf and picks the first face of a .ttc collection.
    pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
    return name


@cache
def _register_fallback() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


def poster_font_name(font_path: str | None = None) -> str:
    """Register (once) and name the CJK font for the poster.

    Order: `font_path` (POSTER_FONT_PATH), then the bundled WenQuanYi Micro Hei, then — only if
    that file is missing or broken — the non-embedded STSong-Light CID font. Anything but
    FALLBACK_FONT is embedded in the PDF.
    """
    candidates = []
    if font_path:
        if os.path.isfile(font_path):
            candidates.append(font_path)
        else:
            log.warning("poster font %s not found, using the bundled font", font_path)
    if os.path.isfile(BUNDLED_FONT):
        candidates.append(BUNDLED_FONT)
    with _font_lock:
        for path in candidates:
            try:
                return _register_ttf(os.path.realpath(path))
            except Exception:  # a corrupt or unsupported font file must not break printing
                log.warning("cannot load poster font %s", path, exc_info=True)
        # On every poster, not once: each such PDF depends on the reader having CJK glyphs.
        log.error(
            "the bundled CJK font %s is missing or broken; poster uses %s, which is not embedded "
            "(reinstall the code or configure POSTER_FONT_PATH)",
            BUNDLED_FONT, FALLBACK_FONT,
        )
        return _register_fallback()


# --- text ------------------------------------------------------------------------------------

# Kinsoku: these must not begin a line (they stay with the previous character) ...
_NO_LINE_START = set("，。、；：！？）》」』】〕…—·,.;:!?)]}%")
# ... and these must not end one.
_NO_LINE_END = set("（《「『【〔([{")
# ASCII words and numbers wrap as a unit; CJK wraps between any two characters.
_TOKEN = re.compile(r"[A-Za-z0-9_\-./:@#%+]+|\s+|.", re.DOTALL)


def _width(text: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, font, size)


def _ellipsize(text: str, font: str, size: float, width: float) -> str:
    while text and _width(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def wrap_text(text: str, font: str, size: float, width: float, max_lines: int | None = None) -> list[str]:
    """Break text into lines no wider than `width`, measured in the font; CJK-aware."""
    tokens: list[str] = []
    for tok in _TOKEN.findall(text.replace("\n", " ")):
        # A word wider than the line (a long URL) has to break inside.
        tokens.extend(tok if _width(tok, font, size) > width else [tok])
    lines: list[str] = []
    line = ""
    for tok in tokens:
        if not line:
            line = tok.lstrip()
        elif _width(line + tok, font, size) <= width:
            line += tok
        elif tok[0] in _NO_LINE_START:
            line += tok  # hanging punctuation overshoots by at most one glyph
        elif line[-1] in _NO_LINE_END and len(line) > 1:
            lines.append(line[:-1].rstrip())
            line = line[-1] + tok
        else:
            lines.append(line.rstrip())
            line = tok.lstrip()
    if line.strip():
        lines.append(line.rstrip())
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _ellipsize(lines[-1], font, size, width)
    return lines


def _clip(text: str, font: str, size: float, width: float) -> str:
    """Text cut to one line, with an ellipsis if it had to be cut."""
    return (wrap_text(text, font, size, width, 1) or [""])[0]


def _fit(text: str, font: str, width: float, sizes: range, max_lines: int) -> tuple[float, list[str]]:
    """The largest size from `sizes` at which text fits in max_lines; else the smallest, truncated."""
    for size in sizes:
        lines = wrap_text(text, font, size, width)
        if len(lines) <= max_lines:
            return size, lines
    size = sizes[-1]
    return size, wrap_text(text, font, size, width, max_lines)


def _draw(c: Canvas, x: float, y: float, text: str, font: str, size: float, color=INK,
          bold: bool = False, anchor: str = "left", spacing: float = 0) -> None:
    """One line of text with baseline at y; bold is faked by stroking the glyphs (one CJK weight)."""
    w = _width(text, font, size) + spacing * max(len(text) - 1, 0)
    if anchor == "center":
        x -= w / 2
    elif anchor == "right":
        x -= w
    c.saveState()
    t = c.beginText(x, y)
    t.setFont(font, size)
    t.setFillColor(color)
    if spacing:
        t.setCharSpace(spacing)
    if bold:
        c.setStrokeColor(color)
        c.setLineWidth(size * 0.035)
        t.setTextRenderMode(2)
    t.textOut(text)
    c.drawText(t)
    c.restoreState()


# --- poster ----------------------------------------------------------------------------------

def _draw_qr(c: Canvas, url: str, x: float, y_top: float, size: float) -> None:
    """The code as filled rectangles, one per horizontal run of dark modules.

    `size` includes the 4-module quiet zone. Merging runs keeps the PDF small and avoids the
    hairline seams some viewers show between abutting squares.
    """
    matrix = _qr(url, border=0).get_matrix()
    n = len(matrix)
    m = size / (n + 8)
    ox, oy = x + 4 * m, y_top - 4 * m
    path = c.beginPath()
    for r, row in enumerate(matrix):
        col = 0
        while col < n:
            if row[col]:
                start = col
                while col < n and row[col]:
                    col += 1
                path.rect(ox + start * m, oy - (r + 1) * m, (col - start) * m, m)
            else:
                col += 1
    c.setFillColor(black)  # pure black: the best contrast a cheap printer and a phone camera get
    c.drawPath(path, stroke=0, fill=1)


def poster_pdf(content: PosterContent, font_path: str | None = None) -> bytes:
    """An A4 portrait poster for a station's wall: name, big QR code, reception days, deputies."""
    font = poster_font_name(font_path)
    page_w, page_h = A4
    margin = 40
    inner = page_w - 2 * margin

    buf = io.BytesIO()
    # The poster's font from the start: ReportLab otherwise names Helvetica on every page, a
    # font the PDF does not carry.
    c = Canvas(buf, pagesize=A4, initialFontName=font)
    c.setTitle(f"{content.station_name} · 码上找代表")
    c.setSubject("码上找代表：扫码查看本站代表和接待日，在线留言")
    c.setAuthor("人大代表联络站")
    c.setCreator("人大代表联络站")

    # Measure everything variable first so the QR code can take whatever height remains.
    name_size, name_lines = _fit(content.station_name, font, inner, range(34, 21, -2), 2)
    if name_lines and name_lines[-1].endswith("…"):  # too long even at 22 pt: allow a third line
        name_lines = wrap_text(content.station_name, font, name_size, inner, 3)
    name_lead = name_size * 1.25
    # Top padding 34, title 16, 22 to the name, the name, region line 24 (if any), padding 14.
    header_h = 34 + 16 + 22 + name_lead * len(name_lines) + (24 if content.region_path else 4) + 14

    label_w = 78
    info_size, info_lead = 12.5, 19
    label_full = _width("开放时间", font, info_size)
    rows: list[tuple[str, list[str]]] = []

    def add_row(label: str, value: str | None, max_lines: int = 2) -> None:
        if value:
            rows.append((label, wrap_text(value, font, info_size, inner - 28 - label_w, max_lines)))

    add_row("接待日", content.reception_label)
    add_row("最近接待", content.next_reception_date, 1)
    add_row("开放时间", content.open_hours, 1)
    add_row("联系电话", content.phone, 1)
    add_row("地址", content.address, 3)
    info_h = 24 + info_lead * sum(len(lines) for _, lines in rows)

    steps_h = 76
    footer_h = 30
    caption_h = 54
    fixed = header_h + 6 + caption_h + info_h + steps_h + footer_h
    min_gap, min_qr, max_qr = 10.0, 170.0, 300.0

    # The deputy list is what gives way on a crowded page: the code must stay scannable.
    deputies = content.deputies
    dep_lead = 20
    room_rows = int((page_h - fixed - min_qr - 5 * min_gap - 30) // dep_lead)
    max_cells = max(1, min(MAX_DEPUTIES_SHOWN // DEPUTY_COLUMNS, room_rows)) * DEPUTY_COLUMNS
    shown = deputies if len(deputies) <= max_cells else deputies[: max_cells - 1]
    cells = len(shown) + (len(shown) < len(deputies))
    dep_rows = max(1, -(-cells // DEPUTY_COLUMNS))
    deputies_h = 30 + dep_lead * dep_rows
    fixed += deputies_h

    # Five gaps between six blocks; the code takes the slack first, the gaps what it leaves.
    qr_size = max(min_qr, min(max_qr, page_h - fixed - 5 * 14))
    gap = max(min_gap, (page_h - fixed - qr_size) / 5)

    # Header band: red with a thin gold rule, as on congress notices.
    y = page_h
    c.setFillColor(RED)
    c.rect(0, y - header_h, page_w, header_h, stroke=0, fill=1)
    c.setFillColor(GOLD)
    c.rect(0, y - header_h - 6, page_w, 6, stroke=0, fill=1)
    y -= 34 + 16
    _draw(c, page_w / 2, y, "人大代表联络站", font, 16, PINK_TEXT, anchor="center", spacing=6)
    # Short gold rules either side of the title frame it without another colour.
    title_half = (_width("人大代表联络站", font, 16) + 36) / 2 + 14
    c.setStrokeColor(GOLD)
    c.setLineWidth(1.2)
    c.line(page_w / 2 - title_half - 60, y + 5, page_w / 2 - title_half, y + 5)
    c.line(page_w / 2 + title_half, y + 5, page_w / 2 + title_half + 60, y + 5)
    y -= 22
    for line in name_lines:
        y -= name_size
        _draw(c, page_w / 2, y, line, font, name_size, white, bold=True, anchor="center")
        y -= name_lead - name_size
    if content.region_path:
        y -= 20
        _draw(c, page_w / 2, y, _clip("・".join(content.region_path), font, 12, inner), font, 12, PINK_TEXT,
              anchor="center")
    y = page_h - header_h - 6 - gap

    # The code, framed, with its call to action.
    frame_x = (page_w - qr_size) / 2
    c.setStrokeColor(RULE)
    c.setLineWidth(1)
    c.setFillColor(white)
    c.roundRect(frame_x, y - qr_size, qr_size, qr_size, 10, stroke=1, fill=1)
    _draw_qr(c, content.url, frame_x, y, qr_size)
    y -= qr_size + 26
    _draw(c, page_w / 2, y, "微信扫一扫・码上找代表", font, 20, RED, bold=True, anchor="center", spacing=2)
    y -= 18
    _draw(c, page_w / 2, y, _clip(content.url, font, 9, inner), font, 9, GREY, anchor="center")
    y -= caption_h - 44 + gap

    # Reception facts on a pale panel.
    c.setFillColor(PALE_RED)
    c.roundRect(margin, y - info_h, inner, info_h, 8, stroke=0, fill=1)
    c.setFillColor(RED)
    c.rect(margin, y - info_h, 4, info_h, stroke=0, fill=1)
    ty = y - 12
    for label, lines in rows:
        for i, line in enumerate(lines):
            ty -= info_lead
            if i == 0:
                # Labels are justified to one width, the way printed forms align 地址 with 开放时间.
                spread = (label_full - _width(label, font, info_size)) / max(len(label) - 1, 1)
                _draw(c, margin + 18, ty + 5, label, font, info_size, RED, bold=True, spacing=spread)
            _draw(c, margin + 18 + label_w, ty + 5, line, font, info_size, INK)
    y -= info_h + gap

    # The deputies, in columns.
    y -= 16
    c.setFillColor(RED)
    c.rect(margin, y - 1, 4, 15, stroke=0, fill=1)
    _draw(c, margin + 12, y, "本站人大代表", font, 14, INK, bold=True)
    if deputies:
        _draw(c, margin + inner, y, f"共{len(deputies)}位", font, 10, GREY, anchor="right")
    c.setStrokeColor(RULE)
    c.setLineWidth(0.8)
    c.line(margin, y - 8, margin + inner, y - 8)
    y -= 14
    col_w = inner / DEPUTY_COLUMNS
    if not deputies:
        _draw(c, margin + 12, y - dep_lead + 5, "代表名单请扫码查看", font, 12, GREY)
    for i, (name, level) in enumerate(shown):
        cx = margin + 12 + (i % DEPUTY_COLUMNS) * col_w
        cy = y - (i // DEPUTY_COLUMNS + 1) * dep_lead + 5
        name = _clip(name, font, 13, col_w - 20)
        _draw(c, cx, cy, name, font, 13, INK)
        room = col_w - 8 - _width(name, font, 13) - 5
        if level and room > 20:
            _draw(c, cx + _width(name, font, 13) + 5, cy, _clip(level, font, 9, room), font, 9, GREY)
    if len(shown) < len(deputies):
        i = len(shown)
        cx = margin + 12 + (i % DEPUTY_COLUMNS) * col_w
        cy = y - (i // DEPUTY_COLUMNS + 1) * dep_lead + 5
        _draw(c, cx, cy, f"等{len(deputies)}位代表", font, 12, RED)
    y -= dep_lead * dep_rows + gap

    # How to use, three numbered steps, anchored just above the footer.
    y = footer_h + gap + steps_h - 2
    y -= 16
    c.setFillColor(RED)
    c.rect(margin, y - 1, 4, 15, stroke=0, fill=1)
    _draw(c, margin + 12, y, "使用方法", font, 14, INK, bold=True)
    y -= 30
    step_w = inner / len(HOW_TO_USE)
    for i, text in enumerate(HOW_TO_USE):
        sx = margin + i * step_w
        c.setFillColor(RED)
        c.circle(sx + 13, y, 11, stroke=0, fill=1)
        _draw(c, sx + 13, y - 4.5, str(i + 1), font, 12, white, bold=True, anchor="center")
        for j, line in enumerate(wrap_text(text, font, 11, step_w - 48, 2)):
            _draw(c, sx + 30, y - 4 - j * 15, line, font, 11, INK)
        if i < len(HOW_TO_USE) - 1:
            _draw(c, sx + step_w - 10, y - 5, "→", font, 14, RED, anchor="center")

    # Footer band.
    c.setFillColor(RED)
    c.rect(0, 0, page_w, footer_h, stroke=0, fill=1)
    _draw(c, page_w / 2, footer_h / 2 - 4, "有事找代表・扫码即可留言，办理进度随时可查", font, 10, PINK_TEXT,
          anchor="center", spacing=1)

    c.showPage()
    c.save()
    return buf.getvalue()
