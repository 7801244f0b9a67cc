"""Fixtures shared by the real-browser tests (headless Debian Chromium against `streamlit run`)."""

from __future__ import annotations

from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where browser tests save what they saw (gitignored: /artifacts/), for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
