"""Known noise the benches silence: Streamlit's bare-mode warnings.

A bench runs ``st.*`` calls outside a script run on purpose (a cache decorator, ``st.cache_data.clear()``,
a page module imported to be measured), and Streamlit then logs "missing ScriptRunContext! This warning
can be ignored when running in bare mode" and "No runtime found, using MemoryCacheStorageManager". A filter
on each of those two loggers drops only that message; a log level would not hold, because Streamlit resets
the level of all its loggers each time its config is parsed (AppTest does that).
"""

from __future__ import annotations

import logging

#: logger name -> the known message it drops
NOISE = {
    "streamlit.runtime.scriptrunner_utils.script_run_context": "missing ScriptRunContext",
    "streamlit.runtime.caching.cache_data_api": "No runtime found, using MemoryCacheStorageManager",
}


class _DropKnownNoise(logging.Filter):
    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return self.message not in record.getMessage()


def silence_bare_mode_warning() -> None:
    """Install the filters (idempotent); call before the first ``import streamlit``."""
    for name, message in NOISE.items():
        logger = logging.getLogger(name)  # the same object Streamlit's get_logger configures later
        if not any(isinstance(f, _DropKnownNoise) for f in logger.filters):
            logger.addFilter(_DropKnownNoise(message))
