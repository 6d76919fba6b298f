"""Breakdown tables: referrer platform, utm source, country, device, browser, OS, post, path,
live beside the curve.

Each panel shows one `engmon.core.breakdown` table: value, count, share, velocity now and
count per 1k followers. `enter` on a row posts `FilterChosen` (the app pushes it on the
filter stack); `/` narrows the rows by text; `s` cycles the sort column and `S` flips its
order; on the referrer table `→` shows a platform's raw hosts and `←` hides them, on the
utm table `→` shows a source's campaigns.

Values come from feeds, so every cell is a `rich.text.Text` built from `printable()`: markup
like `[bold]` and escape sequences are shown as the characters they are, never interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, cast

import polars as pl
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input

from engmon.core.breakdown import CHILDREN, NONE_LABEL, SORT_COLUMNS, host_children
from engmon.core.printable import printable

TITLES: Final = {
    "platform": "referrer",
    "utm_source": "utm source › campaign",
    "country": "country",
    "device": "device",
    "browser": "browser",
    "os": "OS",
    "post": "post",
    "path": "path",
}
"""Panel title per breakdown dimension."""

MAX_ROWS: Final = 200
"""Rows drawn per table (the text filter finds the rest)."""

VALUE_CHARS: Final = 18
"""Longest value drawn before it is cut with an ellipsis (posts and paths keep their end)."""

TAIL_FIRST: Final = ("post", "path")
"""Dimensions whose values differ at the end (post URLs, paths): cut from the left."""


@dataclass
class FilterChosen(Message):
    """The user picked a row: filter the dashboard to `dimension` = `value` (None: missing)."""

    dimension: str
    value: str | None


def value_text(value: str | None, depth: int = 0, *, tail: bool = False) -> Text:
    """A feed value as literal text: control characters escaped, `(none)` dimmed for null.

    Long values are cut with an ellipsis, keeping the end when `tail` (post URLs, paths).
    """
    if value is None:
        return Text(NONE_LABEL, style="dim")
    if depth:
        return Text("  └ " + (printable(value, VALUE_CHARS - 4) or "(empty)"), style="italic")
    safe = printable(value)
    if tail and len(safe) > VALUE_CHARS:
        return Text("…" + safe[-(VALUE_CHARS - 1) :])
    return Text(printable(value, VALUE_CHARS))


def number_text(value: float | None, kind: str) -> Text:
    """Right-aligned figure: counts whole where whole, shares in %, rates with 2 decimals."""
    if value is None:
        return Text("–", justify="right", style="dim")
    if kind == "share":
        shown = f"{value * 100:.0f}%"
    elif kind == "count":
        shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    elif abs(value) >= 100:
        shown = f"{value:,.0f}"
    elif abs(value) >= 0.01 or value == 0:
        shown = f"{value:.2f}"
    else:
        shown = f"{value:.4f}"
    return Text(shown, justify="right")


ShownRow = tuple[str | None, str | None, float, float, float, float | None, int]
"""value, parent, count, share, velocity, per 1k, depth (1: a host under its platform, a
campaign under its utm source)."""

COLUMNS: Final = (
    ("value", "name"),
    ("count", "count"),
    ("share", "share"),
    ("velocity", "/min"),
    ("per_1k", "/1k"),
)


class BreakdownTable(DataTable[Text]):
    """One breakdown as a row-cursor table; redraws only when its rows change."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # shown first in the Footer while the table has focus: what enter does here
        Binding("enter", "select_cursor", "filter", key_display="⏎", tooltip="Filter by the row"),
        Binding("s", "cycle_sort", "sort", tooltip="Sort by the next column (S: flip)"),
        Binding("S", "flip_sort", "Flip sort", show=False),
        Binding("right", "expand", "Expand", show=False),
        Binding("left", "collapse", "Collapse", show=False),
    ]

    def __init__(self, dimension: str, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.dimension = dimension
        self.sort_by = "count"
        self.descending = True
        self.text = ""
        self.expanded: set[str] = set()
        self._frame: pl.DataFrame | None = None
        self._hosts: pl.DataFrame | None = None
        self._shown: list[ShownRow] = []
        self._targets: list[tuple[str, str | None]] = []

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    # --- data in ---------------------------------------------------------------------------
    def show(self, frame: pl.DataFrame, hosts: pl.DataFrame | None = None) -> None:
        """Draw a breakdown frame (and, for referrers and utm sources, the child rows to
        expand)."""
        self._frame = frame
        self._hosts = hosts
        self._redraw()

    def total_rows(self) -> int:
        """Rows of the breakdown before the text filter."""
        return 0 if self._frame is None else self._frame.height

    def visible_rows(self) -> pl.DataFrame:
        """The rows drawn now: text-filtered, expanded, cut at MAX_ROWS."""
        if self._frame is None:
            return pl.DataFrame()
        frame = self._frame
        if self.text:
            needle = self.text.lower()
            match = pl.col("value").fill_null(NONE_LABEL).str.to_lowercase()
            frame = frame.filter(match.str.contains(needle, literal=True))
        if self._hosts is not None and self.expanded:
            frame = host_children(frame, self._hosts, sorted(self.expanded))
        else:
            frame = frame.with_columns(depth=pl.lit(0, dtype=pl.Int8))
        return frame.head(MAX_ROWS)

    def _redraw(self) -> None:
        if isinstance(self.parent, BreakdownPanel):
            self.parent.refresh_title()
        rows = self.visible_rows()
        if rows.is_empty():
            shown: list[ShownRow] = []
        else:
            columns = ("value", "parent", "count", "share", "velocity", "per_1k", "depth")
            shown = cast(list[ShownRow], rows.select(columns).rows())
        if shown == self._shown:
            return
        highlighted = self.target()
        self._shown = shown
        self._targets = []
        self.clear()
        for value, _parent, count, share, velocity, per_1k, depth in shown:
            child = CHILDREN.get(self.dimension, self.dimension)
            self._targets.append((child if depth else self.dimension, value))
            self.add_row(
                value_text(value, depth, tail=self.dimension in TAIL_FIRST),
                number_text(count, "count"),
                number_text(share, "share"),
                number_text(velocity, "velocity"),
                number_text(per_1k, "per_1k"),
            )
        if self.has_focus and highlighted in self._targets:
            # the user is on this row: it stays under the cursor when the order changes
            self.move_cursor(row=self._targets.index(highlighted), animate=False)
        else:
            # unfocused, nobody chose a row: the table shows its top rows, never scrolls itself
            self.move_cursor(row=0, animate=False)
            self.scroll_to(y=0, animate=False)

    # --- the row under the cursor ------------------------------------------------------------
    def target(self) -> tuple[str, str | None] | None:
        """(dimension, value) of the highlighted row, or None when the table is empty."""
        if not self._targets or not 0 <= self.cursor_row < len(self._targets):
            return None
        return self._targets[self.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """`enter` or a click on the highlighted row: filter the dashboard to its value."""
        event.stop()
        chosen = self.target()
        if chosen is not None:
            self.post_message(FilterChosen(*chosen))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column header sorts by it (again: flips the order)."""
        event.stop()
        column = str(event.column_key.value)
        if column == self.sort_by:
            self.descending = not self.descending
        else:
            self.sort_by = column
            self.descending = column != "value"
        self.post_message(SortChanged(self.dimension, self.sort_by, self.descending))

    def action_cycle_sort(self) -> None:
        """Sort by the next column (count, share, /min, /1k, name)."""
        order = list(SORT_COLUMNS)
        self.sort_by = order[(order.index(self.sort_by) + 1) % len(order)]
        self.descending = self.sort_by != "value"
        self.notify(f"{TITLES.get(self.dimension, self.dimension)}: sorted by {self.sort_by}")
        self.post_message(SortChanged(self.dimension, self.sort_by, self.descending))

    def action_flip_sort(self) -> None:
        """Reverse the sort order."""
        self.descending = not self.descending
        self.post_message(SortChanged(self.dimension, self.sort_by, self.descending))

    def action_expand(self) -> bool:
        """Show the raw referrer hosts under the highlighted platform (the campaigns under
        the highlighted utm source); False when there is nothing to show."""
        chosen = self.target()
        expandable = self.dimension in CHILDREN
        if expandable and chosen and chosen[0] == self.dimension and chosen[1]:
            self.expanded.add(chosen[1])
            self._redraw()
            if self._hosts is None:  # children are computed only once something is expanded
                self.post_message(SortChanged(self.dimension, self.sort_by, self.descending))
            return True
        return False

    def action_collapse(self) -> bool:
        """Hide the children of the highlighted row (or of the child's parent); False when
        none were shown."""
        if self.dimension not in CHILDREN or not self._shown:
            return False
        row = self._shown[self.cursor_row] if self.cursor_row < len(self._shown) else None
        if row is None:
            return False
        value, parent, depth = row[0], row[1], row[6]
        platform = parent if depth else value
        if not (isinstance(platform, str) and platform in self.expanded):
            return False
        self.expanded.discard(platform)
        self._redraw()
        if platform in [t[1] for t in self._targets]:
            self.move_cursor(row=[t[1] for t in self._targets].index(platform))
        return True

    def set_text(self, text: str) -> None:
        """Narrow the rows to values containing `text` (case-insensitive)."""
        self.text = text
        self._redraw()


@dataclass
class SortChanged(Message):
    """A table's sort column or order changed: the app asks core for the table sorted so."""

    dimension: str
    sort_by: str
    descending: bool


class FindInput(Input):
    """The `/` text filter of a panel; `escape` clears it and returns to the table."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Clear find", show=False),
    ]

    def action_dismiss(self) -> None:
        """Clear the text, hide, focus the table again."""
        self.value = ""
        self.display = False
        panel = self.parent
        if isinstance(panel, BreakdownPanel):
            panel.table.set_text("")
            panel.table.focus()


class BreakdownPanel(Vertical):
    """A titled breakdown table with a `/` text filter above it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "find", "find", tooltip="Filter this table's rows by text"),
    ]

    def __init__(self, dimension: str) -> None:
        super().__init__(id=f"breakdown-{dimension}", classes="breakdown")
        self.dimension = dimension
        self.border_title = TITLES.get(dimension, dimension)

    def compose(self) -> ComposeResult:
        finder = FindInput(placeholder="filter rows…", id=f"find-{self.dimension}", classes="find")
        finder.display = False
        yield finder
        yield BreakdownTable(self.dimension, id=f"table-{self.dimension}")

    @property
    def table(self) -> BreakdownTable:
        """The panel's table."""
        return self.query_one(BreakdownTable)

    def action_find(self) -> None:
        """`/`: show the text filter for this table."""
        finder = self.query_one(FindInput)
        finder.display = True
        finder.focus()

    @on(Input.Changed)
    def _narrow(self, event: Input.Changed) -> None:
        event.stop()
        self.table.set_text(event.value)

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        event.stop()
        finder = self.query_one(FindInput)
        if not finder.value:
            finder.display = False
        self.table.focus()

    @on(Input.Blurred)
    def _left(self, event: Input.Blurred) -> None:
        event.stop()
        if not self.query_one(FindInput).value:
            self.query_one(FindInput).display = False

    def refresh_title(self) -> None:
        """Border title: the dimension, its row count, and the active text filter."""
        name = TITLES.get(self.dimension, self.dimension)
        table = self.table
        rows = len(table.visible_rows()) if table.text else table.total_rows()
        suffix = f" · “{printable(table.text, 20)}”" if table.text else ""
        self.border_title = Text(f"{name} ({rows}){suffix}")  # typed text is never markup
