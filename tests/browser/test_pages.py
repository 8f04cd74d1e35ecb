"""What a person sees: the API docs in a browser, and the page a non-WeChat scanner opens —
under their Content-Security-Policy (backend/web/security_headers.py): any violation, console error
or page error fails the test."""
from __future__ import annotations

import re

import pytest

from tests.browser.test_console import WATCH_VIOLATIONS
from tests.factories import create_deputy, create_region_tree, create_station


@pytest.fixture
def problems(page):
    """What went wrong in the page; the test asserts it stays empty."""
    found: list[str] = []

    def on_console(message):
        url = message.location.get("url") or ""
        if message.type not in ("error", "warning") or (
                message.text.startswith("Failed to load resource") and url.endswith("/favicon.ico")):
            return
        found.append(f"console {message.type}: {message.text} at {url}")

    page.add_init_script(WATCH_VIOLATIONS)
    page.on("console", on_console)
    page.on("pageerror", lambda error: found.append(f"page error: {error}"))
    return found


def test_api_docs_show_every_route(page, client, live_server, problems):
    document = client.get("/api/openapi.json").get_json()
    expected = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith(live_server) else None)

    page.goto(f"{live_server}/api/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    shown = set()
    for block in page.query_selector_all(".opblock-summary"):
        method = block.query_selector(".opblock-summary-method").inner_text().strip()
        path = block.query_selector(".opblock-summary-path").get_attribute("data-path")
        shown.add((method, path))
    assert shown == expected
    assert outside == []  # everything the page needs comes from our own server
    # Opening an operation renders its parameters and schemas: still nothing refused.
    page.click(".opblock-summary >> nth=0")
    page.wait_for_selector(".opblock-body", timeout=5_000)
    assert problems == []


def test_scan_landing_page_on_a_phone(page, app, live_server, problems):
    with app.app_context():
        station = create_station(create_region_tree()["township"], name="递铺街道人大代表联络站", scene="landing01")
        create_deputy(name="王芳", stations=[station])
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/s/landing01")
    assert page.locator("h1").first.inner_text().strip() == "递铺街道人大代表联络站"
    body = page.inner_text("body")
    assert "王芳" in body and "逢六" in body and "微信" in body
    image = page.locator("img").first
    image.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", image.element_handle())
    # Nothing is wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert re.search(r"\d{4}-\d{2}-\d{2}", body)  # the next reception day
    # Its inline style applied under the CSP (by nonce): the header is the brand's red.
    assert page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == "rgb(200, 16, 46)"
    assert problems == []
