"""Clear the app's in-process caches from a bench, to time a cache miss.

The pages' figures and labs are cached with ``functools.lru_cache`` in their modules (``app/kl_figures.py``,
``app/reward_figures.py``, ...), which the page scripts import by their bare names (``streamlit run`` puts
app/ on the path), so a bench finds them in ``sys.modules`` after a first run.
"""

from __future__ import annotations

import sys


def clear_app_caches(*module_names: str) -> None:
    """``cache_clear()`` every cached function of the named app modules (those not imported yet hold none)."""
    for name in module_names:
        module = sys.modules.get(name)
        for value in vars(module).values() if module is not None else ():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
