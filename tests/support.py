"""Helpers shared by tests that need a real server or a real browser.

Servers are started by the tests themselves, on 127.0.0.1 only, in their own process group, and
stopped by PID (the whole group) when the test is done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "app" / "main.py"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def live_chart_frame() -> str:
    """CSS selector of app/live_chart.py's chart frames (Streamlit titles a component's iframe by its name)."""
    import live_chart

    return f'iframe[title="{live_chart.COMPONENT_NAME}"]'


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` on a user's machine; fail under ``CI=true``, where a skip would prove nothing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def require_chromium() -> None:
    require(Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
            f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers 200; fail at once if ``proc`` (the server behind it) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server behind {url} exited with {proc.returncode}")
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


@contextlib.contextmanager
def streamlit_server(port: int | None = None, *, extra_args: list[str] | None = None, env: dict | None = None,
                     log_path: Path | None = None, timeout: float = 60.0, script: Path = MAIN):
    """Run ``streamlit run app/main.py`` (or ``script``) on 127.0.0.1; yield ``(base_url, Popen)``; stop it by PID.

    The server's output goes to ``log_path`` (default: ``.pytest_cache/streamlit-<port>.log`` if that
    folder exists, else nowhere).
    """
    port = port or free_port()
    # The `streamlit` script itself, as the README runs it (`python -m streamlit` would add the cwd to
    # sys.path and hide an import that only works from the project root).
    streamlit = Path(sys.executable).with_name("streamlit")
    launcher = [str(streamlit)] if streamlit.exists() else [sys.executable, "-m", "streamlit"]
    cmd = [*launcher, "run", str(script),
           "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
           "--browser.gatherUsageStats", "false", *(extra_args or [])]
    if log_path is None and (ROOT / ".pytest_cache").exists():
        log_path = ROOT / ".pytest_cache" / f"streamlit-{port}.log"
    log = open(log_path, "wb") if log_path is not None else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/_stcore/health", timeout, proc)
        yield base, proc
    finally:
        stop(proc)
        if log is not subprocess.DEVNULL:
            log.close()


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def chromium_page(viewport=(1400, 1000)):
    """A Playwright page in Debian's headless Chromium (never a downloaded browser)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                     args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            yield context.new_page()
        finally:
            browser.close()


def wait_app_idle(page, timeout_ms: int = 30000) -> None:
    """Wait until Streamlit has finished running the script (the app's own idle marker)."""
    page.wait_for_timeout(300)  # the state flips to running after a ~200 ms debounce
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
