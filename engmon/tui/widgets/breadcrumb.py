"""The filter breadcrumb under the curve: `filters: platform=X › post=…` (literal text)."""

from __future__ import annotations

from rich.text import Text

from engmon.core.breakdown import FilterStack
from engmon.tui.widgets.line import TextLine


def breadcrumb_text(filters: FilterStack, extra: str = "") -> Text:
    """`filters: a › b` (values already escaped by `Filter.label`), or a hint when empty."""
    text = Text()
    if filters:
        text.append("filters: ", style="bold")
        for index, item in enumerate(filters.filters):
            if index:
                text.append(" › ", style="dim")
            text.append(item.label())
        text.append("   ⌫ back", style="dim")
    else:
        text.append("no filters · enter on a table row drills down", style="dim")
    if extra:
        text.append("   " + extra, style="dim")
    return text


class FilterBreadcrumb(TextLine):
    """Shows the filter stack; the app calls `show` whenever the stack changes."""

    fixed_height = True

    def show(self, filters: FilterStack, extra: str = "") -> None:
        """Redraw for `filters`."""
        text = breadcrumb_text(filters, extra)
        self.show_text(text, (str(text), self.size.width))
