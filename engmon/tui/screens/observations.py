"""The observations of one curve bucket, as a table (`enter` on the time cursor).

Every feed string is drawn as literal `Text` through `printable()`. `escape` goes back to the
dashboard, keeping the filters and the cursor where they were.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final

import polars as pl
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from engmon.core.printable import printable
from engmon.core.zone import display_zone_name, local

MAX_ROWS: Final = 5000
"""Rows drawn (a bucket of a viral minute can hold more; the title says so)."""

SHOWN_COLUMNS: Final = (
    ("ts", "time (UTC)"),  # or the zone of --tz / [campaign] tz
    ("metric", "metric"),
    ("value", "value"),
    ("source", "source"),
    ("platform", "platform"),
    ("referrer", "referrer"),
    ("country", "country"),
    ("device", "device"),
    ("post", "post"),
    ("path", "path"),
    ("actor", "actor"),
    ("reach", "reach"),
)


def cell(value: object) -> Text:
    """One cell as literal text (times to the millisecond, floats short, feed text escaped)."""
    if value is None:
        return Text("")
    if isinstance(value, datetime):
        moment = local(value) if value.tzinfo is not None else value
        return Text(moment.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}")
    if isinstance(value, float):
        shown = f"{value:.0f}" if value.is_integer() else f"{value:.2f}"
        return Text(shown, justify="right")
    if isinstance(value, int):
        return Text(f"{value:,}", justify="right")
    return Text(printable(value, 60))


class ObservationsScreen(Screen[None]):
    """A table of observation rows with a one-line title saying which bucket and filters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self, rows: pl.DataFrame, title: str) -> None:
        super().__init__(id="observations")
        self.rows = rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        shown = min(self.rows.height, MAX_ROWS)
        more = f" (first {MAX_ROWS:,} shown)" if self.rows.height > MAX_ROWS else ""
        noun = "observation" if self.rows.height == 1 else "observations"
        heading = Text(printable(f"{self.title_text} · {self.rows.height:,} {noun}{more}"))
        yield Static(heading, id="observations-title")
        table: DataTable[Text] = DataTable(id="observations-table", cursor_type="row")
        names = [name for name, _ in SHOWN_COLUMNS if name in self.rows.columns]
        for name, label in SHOWN_COLUMNS:
            if name in names:
                shown_label = f"time ({display_zone_name()})" if name == "ts" else label
                table.add_column(shown_label, key=name)
        for row in self.rows.head(shown).select(names).iter_rows():
            table.add_row(*(cell(value) for value in row))
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
