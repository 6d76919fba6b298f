"""Breakdown panels on their own: enter filters, / finds, sort, expand, literal text (#6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from textual.app import App, ComposeResult

from engmon.core.breakdown import FilterStack
from engmon.core.drill import Drilldown
from engmon.core.store import ObservationStore
from engmon.tui.screens.observations import ObservationsScreen
from engmon.tui.widgets.breakdown import BreakdownPanel, BreakdownTable, FilterChosen, SortChanged

POST = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
HOSTILE = "[bold red]pwn[/]\x1b[2J\x1b]8;;https://evil.example\x07link"


def store() -> ObservationStore:
    held = ObservationStore(POST)
    referrers: list[str | None] = ["https://t.co/a", "https://t.co/b", "https://x.com/s"]
    referrers += ["https://lnkd.in/q"]
    referrers += [HOSTILE, None]
    held.merge(
        pl.DataFrame(
            {
                "ts": [POST + timedelta(minutes=m) for m in range(len(referrers))],
                "metric": ["clicks"] * len(referrers),
                "referrer": referrers,
                "country": ["RO", "RO", "US", "DE", "RO", None],
            }
        )
    )
    return held


class Harness(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[tuple[str, str | None]] = []
        self.sorts: list[tuple[str, str, bool]] = []

    def compose(self) -> ComposeResult:
        yield BreakdownPanel("platform")
        yield BreakdownPanel("country")

    def on_mount(self) -> None:
        self.refresh_tables()

    def refresh_tables(self) -> None:
        tables = Drilldown(store()).tables(FilterStack(), now_minute=10, metric_names=["clicks"])
        for panel in self.query(BreakdownPanel):
            panel.table.show(tables.tables[panel.dimension], tables.tables["host"])

    def on_filter_chosen(self, event: FilterChosen) -> None:
        self.chosen.append((event.dimension, event.value))

    def on_sort_changed(self, event: SortChanged) -> None:
        self.sorts.append((event.dimension, event.sort_by, event.descending))


def cells(app: Harness, dimension: str) -> list[str]:
    table = app.query_one(f"#table-{dimension}")
    return [str(row[0]) for row in (table.get_row_at(i) for i in range(table.row_count))]  # type: ignore[attr-defined]


async def test_enter_posts_the_highlighted_value() -> None:
    app = Harness()
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#table-platform").focus()
        assert cells(app, "platform")[0] == "X"
        await pilot.press("enter")
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.chosen == [("platform", "X"), ("platform", cells(app, "platform")[1])]


async def test_expand_shows_hosts_and_enter_on_a_host_filters_by_host() -> None:
    app = Harness()
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#table-platform").focus()
        await pilot.press("right")
        assert cells(app, "platform")[:3] == ["X", "  └ t.co", "  └ x.com"]
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.chosen == [("host", "t.co")]
        await pilot.press("left")
        assert "  └ t.co" not in cells(app, "platform")


async def test_slash_narrows_rows_and_escape_clears() -> None:
    app = Harness()
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#table-country").focus()
        await pilot.press("slash", "r", "o")
        assert cells(app, "country") == ["RO"]
        await pilot.press("enter")
        assert app.focused is app.query_one("#table-country")
        await pilot.press("slash", "escape")
        assert cells(app, "country") == ["RO", "DE", "US", "(none)"]


async def test_s_cycles_the_sort_column() -> None:
    app = Harness()
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#table-country").focus()
        await pilot.press("s", "s", "S")
        await pilot.pause()
        assert app.sorts == [
            ("country", "share", True),
            ("country", "velocity", True),
            ("country", "velocity", False),
        ]


async def test_hostile_referrer_is_drawn_literally() -> None:
    app = Harness()
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        shown = cells(app, "platform")
        assert "[bold red]pwn[" in shown
        table = app.query_one("#table-platform")
        row = [str(c) for c in table.get_row_at(shown.index("[bold red]pwn["))]  # type: ignore[attr-defined]
        assert row[0] == "[bold red]pwn["
        app.query_one("#table-platform").focus()
        await pilot.press("right")  # not a known platform: nothing to expand, nothing breaks
        screen_text = app.export_screenshot()
        assert "[bold red]pwn[" in screen_text.replace("&#160;", " ")
        assert "\x1b[2J" not in screen_text


async def test_observations_screen_shows_rows_literally() -> None:
    app = Harness()
    rows = Drilldown(store()).bucket(FilterStack(), 4, 1)
    async with app.run_test(size=(160, 30)) as pilot:
        app.push_screen(ObservationsScreen(rows, "bucket +4m"))
        await pilot.pause()
        table = app.screen.query_one("#observations-table")
        first = [str(c) for c in table.get_row_at(0)]  # type: ignore[attr-defined]
        assert "14:04:00.000" in first
        assert HOSTILE.replace("\x1b", "\\x1b").replace("\x07", "\\x07") in first
        await pilot.press("escape")
        assert not isinstance(app.screen, ObservationsScreen)


def country_frame(order: list[str]) -> pl.DataFrame:
    counts = [float(100 - i) for i in range(len(order))]
    return pl.DataFrame(
        {
            "value": order,
            "parent": [None] * len(order),
            "count": counts,
            "share": [c / sum(counts) for c in counts],
            "velocity": [0.0] * len(order),
            "per_1k": [None] * len(order),
        },
        schema_overrides={"per_1k": pl.Float64, "parent": pl.String},
    )


async def test_an_unfocused_table_keeps_its_top_rows_in_view() -> None:
    app = Harness()
    many = [f"C{i:02d}" for i in range(14)]
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one("#table-country", BreakdownTable)
        table.show(country_frame(["IN", "US"]))
        await pilot.pause()
        table.show(country_frame(["US", *many, "IN"]))  # the first row fell to the bottom
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_y == 0
        assert cells(app, "country")[0] == "US"


async def test_a_focused_table_keeps_the_row_under_the_cursor() -> None:
    app = Harness()
    many = [f"C{i:02d}" for i in range(14)]
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one("#table-country", BreakdownTable)
        table.focus()
        table.show(country_frame(["IN", "US"]))
        await pilot.pause()
        table.show(country_frame(["US", *many, "IN"]))
        await pilot.pause()
        assert table.target() == ("country", "IN")
