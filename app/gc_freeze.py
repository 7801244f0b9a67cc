"""Keep the server's long-lived objects out of the garbage collector's full passes (issue 11).

Python's full (generation 2) collection walks every object the collector tracks. In this server, with torch,
plotly, pandas and Streamlit loaded, that is about 270,000 objects and 130-170 ms a pass, during which no
session runs (the collector holds the GIL); a class's load set one off every 2-3 s. Nearly all of those
objects are modules, classes and functions that live as long as the process. ``gc.freeze()`` moves every
object alive now into a permanent generation that collections skip; what is made later, cycles included, is
collected as before.
"""

import gc
import sys
import threading

_lock = threading.Lock()
_modules_at_freeze = 0


def freeze_what_is_loaded() -> bool:
    """Called after each script run. When modules were imported since the last freeze (a first visit to a
    page imports its own), collect once and freeze what is alive; otherwise only compare a count. Returns
    whether it froze."""
    global _modules_at_freeze
    if len(sys.modules) == _modules_at_freeze:
        return False
    with _lock:
        if len(sys.modules) == _modules_at_freeze:
            return False
        _modules_at_freeze = len(sys.modules)
        gc.collect()  # garbage alive now would otherwise be frozen for good
        gc.freeze()
        return True
