"""Measuring the page's layout in Chromium: where its first picture lies, how wide it is, its
text sizes and its tap targets, looking inside every shadow root (each Panel component draws
in its own)."""

from __future__ import annotations

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 740}
PICTURES = "canvas, figure, .ace_editor"  # Bokeh's figures, the HTML pictures, the editor
READING = ".narration, .question, .explain, .note, .tour-count"  # text a reader reads

_WALK = """
const all = (selector) => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.matches(selector)) found.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return found;
};
const shown = (el) => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
};
"""

FIRST_PICTURE = _WALK + """
(selector) => {
  const boxes = all(selector).filter(shown).map((el) => el.getBoundingClientRect())
    .sort((a, b) => a.top - b.top);
  if (!boxes.length) return null;
  const r = boxes[0];
  return { top: r.top + scrollY, bottom: r.bottom + scrollY, height: r.height };
}
"""

SMALLEST_TEXT = _WALK + """
(selector) => {
  const sizes = all(selector).filter(shown).filter((el) => el.textContent.trim())
    .map((el) => [parseFloat(getComputedStyle(el).fontSize), el.textContent.trim().slice(0, 40)]);
  sizes.sort((a, b) => a[0] - b[0]);
  return sizes.length ? sizes[0] : null;
}
"""

SMALLEST_TARGET = _WALK + """
(labels) => {
  const heights = all('button').filter(shown)
    .filter((el) => el.classList.contains('choice') || labels.includes(el.textContent.trim()))
    .map((el) => [el.getBoundingClientRect().height, el.textContent.trim()]);
  heights.sort((a, b) => a[0] - b[0]);
  return heights.length ? heights[0] : null;
}
"""


def first_picture(page) -> dict | None:
    """The topmost picture shown: its top and bottom in page pixels (0 is the page's top)."""
    return page.evaluate(FIRST_PICTURE, PICTURES)


def on_first_screen(page, height: int, at_least: int = 200) -> bool:
    """Whether the first picture starts on the first screen with `at_least` pixels of it
    (or all of it, if it is shorter) inside that screen."""
    box = first_picture(page)
    return box is not None and box["top"] >= 0 and \
        box["top"] + min(box["height"], at_least) <= height


def smallest_text(page) -> tuple[float, str] | None:
    """The smallest font size (px) of the reading text shown, and a piece of that text."""
    return page.evaluate(SMALLEST_TEXT, READING)


# the tour's and the page's controls a finger must hit (each at least 44 px high)
TOUR_TARGETS = ["‹ Back", "Next ›", "Leave the tour", "More of this view", "☰ Controls",
                "▶ Take the tour"]

def smallest_target(page, labels: list[str]) -> tuple[float, str] | None:
    """The lowest height (px) of the answer buttons and the buttons labelled `labels`."""
    return page.evaluate(SMALLEST_TARGET, labels)


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")
