"""Station code and poster rendering: the QR images must scan as qrcode meant them, the poster
must print on one A4 page with the code as vectors and Chinese text that survives the printer."""
from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import qrcode
from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import IndirectObject

from backend.services.stations import station_codes as sc

URL = "https://lianluozhan.example.cn/s/yh0001"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"),
                    os.path.expanduser("~/.local/share/fonts"))
TEMPLATES = Path(__file__).resolve().parents[2] / "backend" / "web" / "templates"


def matrix(url: str, border: int) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    qr.add_data(url)
    qr.make(fit=True)
    return qr.get_matrix()


def content(**overrides) -> sc.PosterContent:
    fields = dict(
        station_name="粤海街道人大代表联络站",
        address="深圳市南山区粤海街道高新南七道18号",
        region_path=["广东省", "深圳市", "南山区", "粤海街道"],
        reception_label="逢六（每月6日、16日、26日）",
        open_hours="09:00-17:00",
        url=URL,
        deputies=[("张三", "市人大代表"), ("李四", "区人大代表"), ("欧阳娜娜", "全国人大代表")],
        next_reception_date="2025年6月16日",
        phone="0755-26661234",
    )
    fields.update(overrides)
    return sc.PosterContent(**fields)


def resolve(obj):
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def fonts(page) -> list:
    """Every font dictionary the page uses, descendant CID fonts included."""
    out = []
    for ref in resolve(page["/Resources"]).get("/Font", {}).values():
        font = resolve(ref)
        out.append(font)
        out.extend(resolve(d) for d in font.get("/DescendantFonts", []))
    return out


def embedded(font) -> bool:
    desc = resolve(font.get("/FontDescriptor", {}))
    return any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def lines_by_y(page) -> list[tuple[float, str]]:
    """Text grouped into visual lines, top first: subset fonts split one line over many Tj."""
    chunks: dict[float, list[tuple[float, str]]] = {}

    def visit(text, cm, tm, font_dict, font_size):
        if text.strip():
            chunks.setdefault(round(tm[5], 1), []).append((tm[4], text))

    page.extract_text(visitor_text=visit)
    return [(y, "".join(t for _, t in sorted(parts))) for y, parts in sorted(chunks.items(), reverse=True)]


def y_of(lines: list[tuple[float, str]], needle: str) -> float:
    return next(y for y, text in lines if needle in text)


# --- URL, PNG, SVG -------------------------------------------------------------------------------

def test_station_url_joins_without_double_slash():
    assert sc.station_url("https://a.example.cn/", "abc") == "https://a.example.cn/s/abc"
    assert sc.station_url("https://a.example.cn", "abc") == "https://a.example.cn/s/abc"


@pytest.mark.parametrize("box_size,border", [(10, 4), (7, 2)])
def test_png_modules_match_qrcode_matrix(box_size, border):
    img = Image.open(io.BytesIO(sc.qr_png(URL, box_size=box_size, border=border)))
    assert img.format == "PNG"
    img = img.convert("L")
    expected = matrix(URL, border)
    n = len(expected)
    assert img.size == (n * box_size, n * box_size)
    got = [[img.getpixel((c * box_size + box_size // 2, r * box_size + box_size // 2)) < 128 for c in range(n)]
           for r in range(n)]
    assert got == expected
    assert img.getpixel((0, 0)) == 255 and img.getextrema() == (0, 255)  # black on white


def test_svg_is_a_standalone_document_with_viewbox():
    data = sc.qr_svg(URL)
    assert data.startswith(b"<?xml")
    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    n = len(matrix(URL, 4))
    x, y, w, h = (float(v) for v in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0) and w == h == pytest.approx(n * sc.SVG_BOX_SIZE / 10)
    # Physical size for print: at least 1 mm per module.
    assert root.attrib["width"].endswith("mm") and float(root.attrib["width"][:-2]) >= n
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1 and paths[0].attrib["d"].count("z") > 100


# --- wrapping ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def any_font() -> str:
    return sc.poster_font_name()


def test_wrap_breaks_cjk_by_measured_width(any_font):
    text = "深圳市南山区粤海街道科技园社区高新南七道18号深圳湾科技生态园三期10栋B座一楼，党群服务中心东侧"
    lines = sc.wrap_text(text, any_font, 12, 120)
    assert len(lines) > 3
    assert "".join(lines) == text
    for line in lines:
        # Only a hanging closing mark may overshoot.
        assert sc._width(line.rstrip("，。、）"), any_font, 12) <= 120
        assert line[0] not in "，。、）"
    # Numbers and Latin words move to the next line whole; only CJK breaks anywhere.
    assert sc.wrap_text("联络站20250616", any_font, 12, sc._width("联络站2025", any_font, 12)) == ["联络站", "20250616"]
    assert sc.wrap_text("接待（每月", any_font, 12, sc._width("接待（", any_font, 12)) == ["接待", "（每月"]


def test_wrap_truncates_with_ellipsis(any_font):
    lines = sc.wrap_text("代表" * 100, any_font, 12, 100, max_lines=2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert sc._width(lines[-1], any_font, 12) <= 100


# --- poster ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def poster():
    return PdfReader(io.BytesIO(sc.poster_pdf(content())))


def test_poster_is_one_a4_portrait_page_with_title(poster):
    assert len(poster.pages) == 1
    box = poster.pages[0].mediabox
    assert float(box.width) == pytest.approx(595, abs=1) and float(box.height) == pytest.approx(842, abs=1)
    assert "粤海街道人大代表联络站" in poster.metadata.title


def test_poster_has_no_raster_images(poster):
    page = poster.pages[0]
    xobjects = resolve(resolve(page["/Resources"]).get("/XObject", {}))
    assert not [k for k, v in xobjects.items() if resolve(v).get("/Subtype") == "/Image"]
    assert b"BI" not in {op for _, op in page.get_contents().operations}  # no inline images either


def test_poster_qr_rectangles_rebuild_the_matrix(poster):
    """The code is drawn as one rectangle per horizontal run of dark modules; rasterising those
    rectangles back onto the grid must give qrcode's matrix exactly."""
    ops = poster.pages[0].get_contents().operations
    rects = [[float(v) for v in operands] for operands, op in ops if op == b"re"]
    expected = matrix(URL, 0)
    n = len(expected)
    dark = sum(map(sum, expected))
    # Module rectangles all share one height, the module size; other boxes on the page do not.
    module = Counter(round(h, 3) for *_, h in rects).most_common(1)[0][0]
    qr = [r for r in rects if round(r[3], 3) == module]
    runs = sum(1 for row in expected for i, v in enumerate(row) if v and (i == 0 or not row[i - 1]))
    assert len(qr) == runs and round(sum(w for _, _, w, _ in qr) / module) == dark
    left, top = min(x for x, *_ in qr), max(y + h for _, y, _, h in qr)
    grid = [[False] * n for _ in range(n)]
    for x, y, w, h in qr:
        row, col = round((top - y - h) / module), round((x - left) / module)
        for c in range(col, col + round(w / module)):
            grid[row][c] = True
    assert grid == expected
    assert module * n >= 150 * n / (n + 8)  # the code is printed large: 150 pt is about 5 cm


def test_poster_text_contains_the_station_facts(poster):
    text = poster.pages[0].extract_text()
    for needle in ("粤海街道人大代表联络站", "逢六", "09:00-17:00", "高新南七道18号", "张三", "欧阳娜娜",
                   "码上找代表", "在线留言反映意见建议"):
        assert needle in text


@pytest.fixture
def no_system_fonts(monkeypatch, tmp_path):
    """A fresh machine: no font installed where the code or poppler would look. The code's
    file checks see nothing under the system's font folders; poppler's fontconfig reads an
    empty configuration."""
    real_isfile = os.path.isfile

    def isfile(path) -> bool:
        return not os.path.realpath(path).startswith(SYSTEM_FONT_DIRS) and real_isfile(path)

    monkeypatch.setattr(os.path, "isfile", isfile)
    config = tmp_path / "fonts.conf"
    config.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                      f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>")
    return {**os.environ, "FONTCONFIG_FILE": str(config), "FONTCONFIG_PATH": str(tmp_path)}


def ink(pdf: bytes, env: dict, box: tuple[float, float, float, float], tmp_path) -> int:
    """Pixels of the page (rendered by poppler's pdftoppm at 72 dpi, one pixel a point) inside
    `box` (left, top, right, bottom, in points from the top left) unlike the box's commonest
    colour: the glyphs drawn there."""
    source = tmp_path / "page.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "72", "-png", "-singlefile", str(source), str(tmp_path / "page")],
                   env=env, check=True, capture_output=True, timeout=60)
    with Image.open(tmp_path / "page.png") as image:
        area = image.convert("RGB").crop(tuple(round(v) for v in box))
        colours = area.getcolors(maxcolors=area.width * area.height)
    _, background = max(colours)
    return sum(n for n, colour in colours
               if sum(abs(a - b) for a, b in zip(colour, background, strict=True)) > 60)


def test_poster_embeds_the_bundled_font():
    data = sc.poster_pdf(content())
    page_fonts = fonts(PdfReader(io.BytesIO(data)).pages[0])
    assert page_fonts and all(embedded(f) for f in page_fonts)
    assert any("WenQuanYi" in str(f.get("/BaseFont")) for f in page_fonts)
    assert b"/FontFile2" in data  # TrueType outlines, which every reader draws


@pytest.mark.skipif(shutil.which("pdftoppm") is None and not os.environ.get("REQUIRE_PDFTOPPM"),
                    reason="poppler-utils (pdftoppm) not installed (apt-get install poppler-utils)")
def test_poster_prints_chinese_on_a_machine_without_cjk_fonts(no_system_fonts, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=sc.__name__):
        data = sc.poster_pdf(content())
    page = PdfReader(io.BytesIO(data)).pages[0]
    # The station's name, the poster's title, in its own lines at the top.
    top = 842 - y_of(lines_by_y(page), "粤海街道人大代表联络站")
    title = (40, top - 34, 555, top + 6)
    # The same page without the name, for the ink of the title's area without its glyphs.
    blank = ink(sc.poster_pdf(content(station_name="\u3000" * len("粤海街道人大代表联络站"))), no_system_fonts, title,
                tmp_path)
    drawn = ink(data, no_system_fonts, title, tmp_path)
    assert drawn > blank + 500, (drawn, blank)  # eleven characters at 34 pt, not blanks or a missing font
    assert all(embedded(f) for f in fonts(page)) and b"/FontFile2" in data
    assert not caplog.records


@pytest.mark.skipif(not os.path.isfile(DEJAVU), reason=f"{DEJAVU} absent")
def test_configured_font_path_is_used_and_embedded(caplog):
    with caplog.at_level(logging.WARNING, logger=sc.__name__):
        pdf = PdfReader(io.BytesIO(sc.poster_pdf(content(), font_path=DEJAVU)))
    page_fonts = fonts(pdf.pages[0])
    assert all(embedded(f) for f in page_fonts) and any("DejaVu" in str(f.get("/BaseFont")) for f in page_fonts)
    assert "09:00-17:00" in pdf.pages[0].extract_text()
    assert not caplog.records


def test_a_missing_configured_font_falls_back_to_the_bundled_one(tmp_path, caplog):
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font" * 100)
    for bad in ("/nonexistent/font.ttf", str(broken)):
        with caplog.at_level(logging.WARNING, logger=sc.__name__):
            pdf = PdfReader(io.BytesIO(sc.poster_pdf(content(), font_path=bad)))
        assert any(bad in r.getMessage() for r in caplog.records)
        page_fonts = fonts(pdf.pages[0])
        assert all(embedded(f) for f in page_fonts) and any("WenQuanYi" in str(f.get("/BaseFont")) for f in page_fonts)
        caplog.clear()


@pytest.mark.parametrize("bad", ["/nonexistent/font.ttf", None, "corrupt"])
def test_without_the_bundled_font_the_fallback_is_not_embedded_and_logged(bad, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(sc, "BUNDLED_FONT", str(tmp_path / "gone.ttc"))
    if bad == "corrupt":
        bad = tmp_path / "broken.ttf"
        bad.write_bytes(b"not a font" * 100)
        bad = str(bad)
    with caplog.at_level(logging.WARNING, logger=sc.__name__):
        pdf = PdfReader(io.BytesIO(sc.poster_pdf(content(), font_path=bad)))
    assert any(sc.FALLBACK_FONT in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    page_fonts = fonts(pdf.pages[0])
    assert any(sc.FALLBACK_FONT in str(f.get("/BaseFont")) for f in page_fonts)
    assert not any(embedded(f) for f in page_fonts)
    assert len(pdf.pages) == 1


@pytest.mark.parametrize("bundled", [True, False])
def test_crowded_poster_still_fits_one_page_in_order(bundled, monkeypatch, tmp_path):
    if not bundled:
        monkeypatch.setattr(sc, "BUNDLED_FONT", str(tmp_path / "gone.ttc"))
    long_name = "广东省深圳市南山区粤海街道科技园社区高新技术产业园区人大代表之家暨代表联络站" * 2
    deputies = [(f"代表{i:02d}", "区人大代表") for i in range(60)]
    data = sc.poster_pdf(content(station_name=long_name, deputies=deputies, address="高新南七道" * 40))
    pdf = PdfReader(io.BytesIO(data))
    assert len(pdf.pages) == 1
    lines = lines_by_y(pdf.pages[0])
    assert all(0 < y < 842 for y, _ in lines)
    # The name wrapped over several lines of the header instead of running off the page.
    assert sum(1 for _, t in lines if "人大代表之家" in t or "粤海街道科技" in t) >= 2
    # Blocks keep their order top to bottom, so none was drawn over another.
    order = ["人大代表联络站", "微信扫一扫", "接待日", "地址", "本站人大代表", "等60位代表", "使用方法"]
    ys = [y_of(lines, needle) for needle in order]
    assert ys == sorted(ys, reverse=True) and len(set(ys)) == len(ys)
    assert ys[-2] - ys[-1] > 20  # the last row of deputies is clear of the steps heading
    assert "共60位" in "".join(t for _, t in lines)


def test_no_deputies_is_fine():
    text = PdfReader(io.BytesIO(sc.poster_pdf(content(deputies=[], phone=None, next_reception_date=None))))
    text = text.pages[0].extract_text()
    assert "代表名单请扫码查看" in text and "联系电话" not in text and "最近接待" not in text


# --- landing pages -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jinja() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals["csp_nonce"] = lambda: "test-nonce"  # the app's (backend/web/security_headers.py)
    return env


def test_landing_page_shows_station_and_how_to_open_in_wechat(jinja):
    station = {
        "name": "粤海街道<人大>联络站",
        "address": "高新南七道18号",
        "region": {"path": ["广东省", "深圳市", "南山区"]},
        "reception_rule": {"label": "逢六（每月6日、16日、26日）"},
        "open_hours": "09:00-17:00",
    }
    html = jinja.get_template("landing.html").render(
        station=station,
        deputies=[{"name": "张三", "level_label": "市人大代表"}],
        next_reception_day={"date": "2025-06-16"},
        qr_url="/s/yh0001/qr.png",
    )
    assert '<html lang="zh-CN">' in html and 'name="viewport"' in html
    assert "粤海街道&lt;人大&gt;联络站" in html  # escaped
    for needle in ("广东省", "南山区", "高新南七道18号", "逢六", "2025-06-16", "09:00-17:00", "张三", "市人大代表",
                   "微信", '<img src="/s/yh0001/qr.png"'):
        assert needle in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "external assets"


def test_landing_page_without_next_reception_or_deputies(jinja):
    html = jinja.get_template("landing.html").render(
        station={"name": "站", "address": "", "region": {"path": []}, "reception_rule": {"label": "逢六"},
                 "open_hours": "09:00-17:00"},
        deputies=[], next_reception_day=None, qr_url="/qr.png",
    )
    assert "下次接待" not in html and "逢六" in html


def test_not_found_page(jinja):
    html = jinja.get_template("landing_not_found.html").render()
    assert "未找到该联络站" in html and 'lang="zh-CN"' in html
