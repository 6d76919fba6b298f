"""A Static that redraws only when its text changed, and relayouts only when its height may."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType
from rich.text import Text
from textual.widgets import Static

from engmon.core.printable import printable


class TextLine(Static):
    """Base of the dashboard's text widgets: every render tick calls `show`, and a relayout of
    the whole screen (what `Static.update` asks for by default) costs tens of ms at 120x40.

    Text reaches the screen as `rich.text.Text` only (a plain `str` is turned into one
    through `printable`): feed strings are never parsed as markup."""

    fixed_height = False
    """True for a widget whose height never changes (one line): no relayout at all."""
    _shown: object = None
    _rows = 0

    def show_text(
        self, content: RenderableType | Callable[[], RenderableType], key: object
    ) -> None:
        """Show `content` (or what it builds, when a function) unless `key` says it is what
        is shown already."""
        if key == self._shown:
            return
        self._shown = key
        if callable(content):
            content = content()
        if isinstance(content, str):  # never markup: `[@click=app.quit]` stays text
            content = Text(printable(content))
        rows = self._rows_for(content)
        layout = not self.fixed_height and rows != self._rows
        self._rows = rows
        self.update(content, layout=layout)

    def _rows_for(self, content: RenderableType) -> int:
        """Lines `content` takes at the current width (a rough count; it only gates relayout)."""
        width = max(1, self.content_region.width)
        if isinstance(content, Text):
            return sum(1 + len(line) // width for line in content.plain.split("\n"))
        return -1  # unknown: relayout on every change
