"""The verdict panel: the plain-words answer to "is it working?"."""

from __future__ import annotations

from rich.text import Text

from engmon.core.printable import printable
from engmon.core.verdict import Verdict
from engmon.tui.widgets.line import TextLine

TREND_STYLES = {
    "ahead": "bold green",
    "on track": "bold green",
    "behind": "bold yellow",
    "flat": "bold red",
    "still growing": "bold green",
}
"""Colour of the trend words by their first word (position, else shape); the others
("slowing", "over", "just starting") are bold only: a fading curve is not a failing post."""


def trend_style(verdict: Verdict) -> str:
    """The style of the verdict's trend words."""
    key = verdict.position or verdict.shape
    return TREND_STYLES.get(key, "bold")


class VerdictPanel(TextLine):
    """A bordered sentence; the trend word is emphasised."""

    def on_mount(self) -> None:
        self.border_title = "verdict"

    def show(self, verdict: Verdict) -> None:
        """Redraw the sentence (on a short screen without the forecast: the KPI row has it)."""
        short = self.screen.has_class("-short")
        text = Text(printable(verdict.brief if short else verdict.text))  # holds feed names
        text.highlight_words([f"— {verdict.trend}"], trend_style(verdict))
        self.show_text(text, (text.markup, self.size.width))
