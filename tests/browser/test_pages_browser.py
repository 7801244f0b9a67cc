"""Every page in a real browser (issue 3): headless Debian Chromium against `streamlit run` on 127.0.0.1.

For each page of app/main.py's navigation, opened by its URL (``/<url_path>``; the default page at ``/``,
where Streamlit serves it): the script finishes without an exception element, no NaN/inf is printed,
every Plotly chart is drawn (an SVG with trace marks), and the page's first slider (a radio group where
it has no slider) is changed: the page reruns cleanly, the URL carries the new value, and that URL opened
in a fresh browser session shows the same value. Screenshots go to artifacts/screenshots/ (gitignored)
for a person to look at. One server and one browser serve the whole module.
"""

from __future__ import annotations

import math
import re
import urllib.parse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests import page_catalog as pc
from tests.browser.controls import first_control
from tests.support import chromium_page, live_chart_frame, require_chromium, streamlit_server, wait_app_idle

pytestmark = pytest.mark.browser

PAGES = pc.pages()
FIRST_LOAD_MS = 120_000  # the first session imports torch and the pages on a loaded 2-core machine
EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stPlotlyChart"]'
LIVE_CHART = live_chart_frame()
NONFINITE = re.compile(r"(?<![A-Za-z])[-+]?(?:nan|NaN|inf|Infinity)(?![A-Za-z])")


@pytest.fixture(scope="module")
def server():
    require_chromium()
    with streamlit_server() as (base, _proc):
        yield base


@pytest.fixture(scope="module")
def page(server):
    with chromium_page() as browser_page:
        yield browser_page


def open_url(page, url: str) -> None:
    page.goto(url)
    wait_app_idle(page, FIRST_LOAD_MS)


def assert_clean(page, where: str) -> None:
    errors = page.locator(EXCEPTION)
    assert errors.count() == 0, f"{where}: exception shown: {errors.first.inner_text()[:500]}"
    shown = page.locator('[data-testid="stAppViewContainer"]').inner_text()
    assert not (bad := NONFINITE.findall(shown)), f"{where}: the page prints {bad}"
    # Streamlit answers an unknown URL path with this dialog and runs the default page instead
    lost = page.get_by_text("Page not found", exact=True)
    assert lost.count() == 0, f"{where}: Streamlit says 'Page not found' for this URL path"


def assert_charts_drawn(page, info: pc.PageInfo, where: str) -> int:
    charts = page.locator(f"{CHART}, {LIVE_CHART}")
    if "plotly_chart" in info.source:  # st.plotly_chart or app/live_chart.py's live_plotly_chart
        # Streamlit loads its Plotly component lazily: the chart elements can land after the script's run
        try:
            charts.first.wait_for(state="attached", timeout=30_000)
        except PlaywrightTimeout:
            pytest.fail(f"{where}: the page draws Plotly charts but none is on screen")
    count = charts.count()
    for i in range(count):
        chart = charts.nth(i)
        if chart.evaluate("e => e.tagName") == "IFRAME":  # an in-place chart draws inside its own frame
            chart = chart.content_frame
        chart.locator(".js-plotly-plot svg.main-svg").first.wait_for(state="attached", timeout=20_000)
        # Plotly draws its traces asynchronously after the SVG appears: wait for a drawn mark of any trace
        marks = chart.locator("g.trace path, g.trace image, g.trace text, g.hm image")
        try:
            marks.first.wait_for(state="attached", timeout=20_000)
        except PlaywrightTimeout:
            pytest.fail(f"{where}: chart {i + 1} of {count} has an SVG but no trace drawn")
    return count


def screenshot(page, path) -> None:
    """The whole page: Streamlit scrolls inside its main container, so grow the viewport to its height."""
    size = page.viewport_size
    height = page.evaluate(
        "Math.max(...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer], "
        "[data-testid=stSidebarContent]')].map(e => e.scrollHeight), 0)")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
    page.wait_for_timeout(500)  # Plotly charts resize to the new layout
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def query(url: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)


def same_value(shown: str, in_url: str) -> bool:
    try:
        return math.isclose(float(shown), float(in_url), rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return shown == in_url


@pytest.mark.parametrize("info", PAGES, ids=lambda p: p.url_path)
def test_page_draws_and_moves_a_slider(server, page, info, screenshot_dir):
    url = f"{server}/{info.browser_path}"
    open_url(page, url)
    try:
        assert_clean(page, url)
        assert_charts_drawn(page, info, url)
    finally:
        screenshot(page, screenshot_dir / f"{info.url_path}.png")

    control = first_control(page, expect_slider="slider" in pc.first_kinds(info))
    if control is None:
        assert not any(f"{w}(" in info.source for w in ("slider", "radio")), (
            f"{url}: the page creates sliders or radios but none is usable on screen")
        return
    label = control.label
    before_value, before_query = control.value(), query(page.url)
    control.change()
    wait_app_idle(page)
    after_value = control.value()
    assert after_value != before_value, f"{url}: control {label!r} did not change"
    assert_clean(page, f"{url} after changing {label!r}")
    assert_charts_drawn(page, info, f"{url} after changing {label!r}")
    screenshot(page, screenshot_dir / f"{info.url_path}-moved.png")

    # the URL now carries the new value
    shown = control.shown()
    after_query = query(page.url)
    changed = {k: v for k, v in after_query.items() if before_query.get(k) != v}
    assert changed, f"{url}: changing {label!r} to {shown!r} left the URL unchanged ({page.url})"
    assert any(len(v) == 1 and (same_value(after_value, v[0]) or same_value(shown, v[0]) or v[0] in shown)
               for v in changed.values()), f"{url}: the URL changed to {changed}, not to {label!r}'s new value {shown!r}"

    # the link opens the same view in a fresh session (a new browser context: no shared cookies/storage)
    shared_url = page.url
    context = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = context.new_page()
        open_url(fresh, shared_url)
        assert_clean(fresh, shared_url)
        try:
            twin = control.twin(fresh)
        except PlaywrightTimeout:
            pytest.fail(f"{shared_url}: control {label!r} missing in a fresh session")
        assert twin.value() == after_value, (
            f"{shared_url}: a fresh session shows {label!r} = {twin.shown()!r}, the link said {shown!r}")
        assert_charts_drawn(fresh, info, f"{shared_url} (fresh session)")
    finally:
        context.close()
