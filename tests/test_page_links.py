"""app/page_links.py's map of pages is the one app/main.py registers (every page, the same scripts)."""

from tests import page_catalog as pc

import page_links


def test_page_files_are_main_pys_pages():
    assert page_links.PAGE_FILES == {page.url_path: page.script for page in pc.pages()}
