"""Scale-out, for real: Debian's nginx with deploy/nginx.conf in front of two `streamlit run` replicas.

What docker-compose.yml ships is checked here on loopback: nginx keeps each visitor on one replica, the
WebSocket goes through, and when the replica serving a browser is killed, the browser comes back through
nginx on the other replica showing the same view, because every control lives in the URL.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import urllib.parse
import urllib.request
import uuid

import psutil
import pytest

from tests.nginx_support import check_config, nginx_proxy
from tests.support import chromium_page, streamlit_server, wait_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The page the browser uses: it has sliders bound to the URL (`bind="query-params"`).
PAGE = "ratio-clipping"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two replicas on loopback ports and nginx in front; yields (nginx_url, [(port, Popen), ...])."""
    with contextlib.ExitStack() as stack:
        replicas = []
        for _ in range(2):
            base, proc = stack.enter_context(streamlit_server())
            replicas.append((urllib.parse.urlsplit(base).port, proc))
        prefix = tmp_path_factory.mktemp("nginx")
        url = stack.enter_context(nginx_proxy(prefix, [f"127.0.0.1:{port}" for port, _ in replicas]))
        yield url, replicas


def ws_connections(port: int, proc) -> set[tuple]:
    """Established TCP connections into a replica's listening port (nginx's upstream sockets), each named by
    its far end (nginx's ephemeral address), so that a new connection is told from one still closing."""
    try:
        conns = psutil.Process(proc.pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return set()
    return {tuple(c.raddr) for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port}


def serving_replica(replicas, baseline: list[set[tuple]], timeout: float = 10.0) -> int:
    """Index of the replica that holds a connection not in ``baseline``.

    Counting connections is not enough: the previous visitor's socket may still be closing on the same
    replica while the new one opens, and the count stays the same."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gained = [i for i, (port, proc) in enumerate(replicas) if ws_connections(port, proc) - baseline[i]]
        if len(gained) == 1:
            return gained[0]
        time.sleep(0.05)
    raise AssertionError(f"no single replica gained a connection (baseline {baseline})")


def test_rendered_config_is_valid_nginx(tmp_path):
    result = check_config(tmp_path, ["127.0.0.1:8501", "127.0.0.1:8502"])
    assert result.returncode == 0, result.stderr


def test_sticky_per_visitor_cookie_and_websocket_upgrade(cluster):
    from websockets.sync.client import connect

    url, replicas = cluster
    # A first visit gets the sticky cookie; a returning visitor keeps theirs.
    with urllib.request.urlopen(f"{url}/{PAGE}", timeout=10) as resp:
        cookie = resp.headers.get("Set-Cookie", "")
    assert re.match(r"grpo_replica=[0-9a-f]{32}; Path=/; HttpOnly; SameSite=Lax$", cookie), cookie
    request = urllib.request.Request(f"{url}/{PAGE}", headers={"Cookie": cookie.split(";")[0]})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.headers.get("Set-Cookie") is None

    # Streamlit's JavaScript goes out compressed.
    with urllib.request.urlopen(f"{url}/{PAGE}", timeout=10) as resp:
        bundle = re.search(r'src="\.?/?(static/js/[^"]+\.js)"', resp.read().decode())
    assert bundle, "no script in the page"
    request = urllib.request.Request(f"{url}/{bundle.group(1)}", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.headers.get("Content-Encoding") == "gzip"

    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    chosen: dict[str, set[int]] = {}
    visitors = [uuid.uuid4().hex for _ in range(12)]
    # Each visitor connects twice in a row and the first three again at the end: a balancer that
    # alternates or picks at random cannot pass this.
    for visitor in [v for v in visitors for _ in range(2)] + visitors[2::-1]:
        baseline = [ws_connections(port, proc) for port, proc in replicas]
        with connect(ws_url, subprotocols=["streamlit"], additional_headers={"Cookie": f"grpo_replica={visitor}"},
                     open_timeout=10) as ws:
            assert ws.subprotocol == "streamlit"  # the upgrade went through nginx to Streamlit
            chosen.setdefault(visitor, set()).add(serving_replica(replicas, baseline))
    assert all(len(r) == 1 for r in chosen.values()), f"a visitor moved between replicas: {chosen}"
    assert set().union(*chosen.values()) == {0, 1}, "12 visitors all landed on one replica: not spreading"


def test_plotly_js_of_the_live_charts_is_cached_by_browsers(cluster):
    from bench.load import open_page

    url, replicas = cluster
    for port, _ in replicas:  # the training page registers its chart component in each replica
        assert open_page(f"http://127.0.0.1:{port}", page="training", timeout=60).exceptions == []
    request = urllib.request.Request(f"{url}/component/live_chart.plotly_js/plotly.min.js",
                                     headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.headers.get("Cache-Control") == "public, max-age=86400"
        assert resp.headers.get("Content-Encoding") == "gzip"
        assert len(resp.read()) > 100_000
    with urllib.request.urlopen(f"{url}/component/live_chart.chart/index.html", timeout=10) as resp:
        assert "max-age" not in (resp.headers.get("Cache-Control") or "")  # the app's own files stay fresh


def _slider(page):
    return page.locator('[data-testid="stSlider"]').first.get_by_role("slider")


def _shown_value(page) -> str:
    """The first slider's value as the page shows it (its thumb label) and as its input holds it."""
    thumb = page.locator('[data-testid="stSlider"]').first.locator('[data-testid="stSliderThumbValue"]')
    return f"{thumb.inner_text()} ({_slider(page).input_value()})"


def test_browser_keeps_its_view_when_its_replica_is_killed(cluster):
    url, replicas = cluster
    with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        baseline = [ws_connections(port, proc) for port, proc in replicas]
        page.goto(f"{url}/{PAGE}")
        wait_app_idle(page)
        serving = serving_replica(replicas, baseline)
        survivor = 1 - serving

        # Change a control: the page reruns and the URL now carries the new value.
        query_before = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
        before = _shown_value(page)
        _slider(page).focus()
        for _ in range(3):
            _slider(page).press("ArrowRight")
        wait_app_idle(page)
        chosen = _shown_value(page)
        assert chosen != before, "the slider did not move"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
        changed = {k: v for k, v in query.items() if query_before.get(k) != v}
        assert changed, f"changing the slider did not reach the URL: {page.url}"

        # Kill the replica that holds this browser's session, by its PID.
        port, proc = replicas[serving]
        survivor_baseline = ws_connections(*replicas[survivor])
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        # The page reconnects through nginx on its own, to the survivor, and shows the same value.
        deadline = time.monotonic() + 45
        while not ws_connections(*replicas[survivor]) - survivor_baseline and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert ws_connections(*replicas[survivor]) - survivor_baseline, "the browser did not reconnect"
        wait_app_idle(page)
        assert _shown_value(page) == chosen

        # A reload (a new session, built from the URL alone) shows the same view.
        page.reload()
        wait_app_idle(page)
        assert _shown_value(page) == chosen
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query) == query
        assert page.locator('[data-testid="stException"]').count() == 0

        # The link alone, in a fresh browser context (no cookie, no stored session), shows the same view.
        fresh = page.context.browser.new_context().new_page()
        fresh.on("pageerror", lambda exc: errors.append(str(exc)))
        fresh.goto(page.url)
        wait_app_idle(fresh)
        assert _shown_value(fresh) == chosen
        assert not errors, errors
