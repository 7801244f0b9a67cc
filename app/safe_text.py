"""Text from outside (a link, an upload, a registry note with symbols) shown as typed in Markdown."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md(text: object) -> str:
    """``text`` escaped for ``st.markdown`` and friends: no emphasis, links, LaTeX or badges are made of it
    (Streamlit never renders HTML there)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
