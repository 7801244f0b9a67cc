"""Controls the browser tests change without knowing a page: the first usable slider, else a radio group.

Each control can be read (``value``: comparable between sessions; ``shown``: what the reader sees),
changed (``change``), and found again in another session of the same page (``twin``).
"""

from __future__ import annotations


class SliderControl:
    """The first usable slider: moved with the keyboard (End, or Home if it sits at its maximum)."""

    def __init__(self, locator):
        self.label = locator.get_attribute("aria-label")
        self.locator = locator

    @classmethod
    def find(cls, page, timeout_ms: int = 0):
        """The first visible, enabled slider; wait up to ``timeout_ms`` for one to appear (widgets can
        land in the page shortly after the script's run is reported finished)."""
        sliders = page.get_by_role("slider")
        if timeout_ms:
            from playwright.sync_api import TimeoutError as PlaywrightTimeout

            try:
                sliders.first.wait_for(state="visible", timeout=timeout_ms)
            except PlaywrightTimeout:
                return None
        for i in range(sliders.count()):
            slider = sliders.nth(i)
            if slider.is_visible() and slider.is_enabled():
                return cls(slider)
        return None

    def value(self) -> str:
        return self.locator.input_value()

    def shown(self) -> str:  # a select slider shows an option label (aria-valuetext), a slider its number
        return self.locator.get_attribute("aria-valuetext") or self.value()

    def change(self) -> None:
        before = self.value()
        self.locator.focus()
        self.locator.press("End")
        if self.value() == before:
            self.locator.press("Home")

    def twin(self, page):
        """The same slider in another session of the page (by aria-label: the accessible name that
        get_by_role matches also holds the shown value)."""
        locator = page.locator(f'input[type="range"][aria-label={css_string(self.label)}]').first
        locator.wait_for(state="attached", timeout=30_000)
        return SliderControl(locator)


class RadioControl:
    """Where a page has no slider: the first radio group, switched to another option."""

    def __init__(self, page, index: int):
        self.page, self.index = page, index
        self.group = page.locator('[data-testid="stRadio"]').nth(index)
        self.label = self.group.locator('[data-testid="stWidgetLabel"]').first.inner_text().strip()

    @classmethod
    def find(cls, page):
        groups = page.locator('[data-testid="stRadio"]')
        for i in range(groups.count()):
            if groups.nth(i).is_visible() and groups.nth(i).get_by_role("radio").count() > 1:
                return cls(page, i)
        return None

    def _checked(self) -> int:
        options = self.group.get_by_role("radio")
        return next((i for i in range(options.count()) if options.nth(i).is_checked()), -1)

    def value(self) -> str:
        return str(self._checked())

    def shown(self) -> str:
        checked = self._checked()
        return self.group.locator('label[data-testid="stRadioOption"]').nth(checked).inner_text().strip() if checked >= 0 else ""

    def change(self) -> None:
        options = self.group.get_by_role("radio")
        target = (self._checked() + 1) % options.count()
        self.group.locator('label[data-testid="stRadioOption"]').nth(target).click()

    def twin(self, page):
        page.locator('[data-testid="stRadio"]').nth(self.index).wait_for(state="attached", timeout=30_000)
        return RadioControl(page, self.index)


def first_control(page, expect_slider: bool = False):
    return SliderControl.find(page, 30_000 if expect_slider else 0) or RadioControl.find(page)


def css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
