"""The verdict panel: the plain-words answer to "is it working?"."""

from __future__ import annotations

from rich.text import Text

from engmon.core.printable import printable
from engmon.core.verdict import Verdict
from engmon.tui.widgets.line import TextLine

TREND_STYLES = {
    "flat": "bold red",
    "just starting": "bold",
    "rising": "bold green",
    "steady": "bold green",
    "peaked and slowing": "bold yellow",
}


class VerdictPanel(TextLine):
    """A bordered sentence; the trend word is emphasised."""

    def on_mount(self) -> None:
        self.border_title = "verdict"

    def show(self, verdict: Verdict) -> None:
        """Redraw the sentence."""
        text = Text(printable(verdict.text))  # holds metric names from the feed
        text.highlight_words([f"— {verdict.trend}"], TREND_STYLES.get(verdict.trend, "bold"))
        self.show_text(text, (text.markup, self.size.width))
