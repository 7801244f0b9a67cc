"""Links from one page to another: the page file of each ``url_path`` (as app/main.py registers them), and a
:class:`grpo_core.findings.Link` drawn as a link that opens its page set up as it says."""

from __future__ import annotations

import streamlit as st

from grpo_core.findings import Link

#: ``url_path`` -> the page's script, as ``st.page_link`` takes it (tests/test_page_links.py holds it to main.py).
PAGE_FILES = {"overview": "app_pages/home.py", "lessons": "app_pages/lessons.py",
              "reward-groups": "app_pages/reward_groups.py", "ratio-clipping": "app_pages/ratio_clipping.py",
              "algorithms": "app_pages/algorithms.py", "kl-beta": "app_pages/kl_beta.py",
              "training": "app_pages/training.py", "your-run": "app_pages/your_run.py"}


def draw(link: Link, prefix: str = "") -> None:
    """``link`` as a page link: its text (after ``prefix``), its page, its query (and experiment to start)."""
    st.page_link(PAGE_FILES[link.page], label=prefix + link.text, query_params=link.url_query or None,
                 icon=":material/arrow_forward:")
