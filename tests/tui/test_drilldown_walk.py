"""A full drilldown by keyboard (and one by mouse), asserting the screen at each step (#6).

platform -> post -> minute -> observations -> back out; expected figures are counted here
independently from the fixture rows with plain Python.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from drillposts import POST_TIME, POSTS, drill_app, drill_frame
from polars.testing import assert_frame_equal
from screen import redraw, settle
from screen import screen_text as raw_screen_text

from engmon.core.export import read_export
from engmon.core.printable import spreadsheet_safe_column
from engmon.tui import drilldown
from engmon.tui.app import EngmonApp
from engmon.tui.drilldown import cursor_numbers, tail_text
from engmon.tui.screens.compare import CompareScreen
from engmon.tui.screens.help import HelpScreen
from engmon.tui.screens.observations import ObservationsScreen
from engmon.tui.widgets.breakdown import BreakdownTable
from engmon.tui.widgets.drillcurve import DrillCurve

SIZE = (120, 40)
NOW_MIN = 40


def screen_text(app: EngmonApp) -> str:
    """The screen as text with non-breaking spaces as plain ones."""
    return raw_screen_text(app).replace("\xa0", " ")


def rows_until(minute: int = NOW_MIN) -> list[dict[str, Any]]:
    cut = POST_TIME + timedelta(minutes=minute)
    return [r for r in drill_frame().iter_rows(named=True) if r["ts"] <= cut]


def is_x(row: dict[str, Any]) -> bool:
    return str(row["referrer"]).startswith("https://t.co/")


def clicks(rows: list[dict[str, Any]]) -> int:
    return sum(1 for r in rows if r["metric"] == "clicks")


def table_values(app: EngmonApp, dimension: str) -> list[str]:
    table = app.screen.query_one(f"#table-{dimension}", BreakdownTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def kpi_line(app: EngmonApp) -> str:
    return next(line for line in screen_text(app).splitlines() if "replies" in line)


async def focus_table(pilot: Any, app: EngmonApp, dimension: str) -> BreakdownTable:
    table = app.screen.query_one(f"#table-{dimension}", BreakdownTable)
    table.focus()
    await pilot.pause()
    return table


async def test_full_drilldown_by_keyboard() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        everything = rows_until()
        assert app.view is not None and app.view.kpis.clicks == clicks(everything)
        assert f"clicks {clicks(everything)}" in kpi_line(app)
        assert table_values(app, "platform")[0] == "X"
        assert "no filters" in screen_text(app)

        # 1. platform: enter on X filters the whole dashboard
        await focus_table(pilot, app, "platform")
        await pilot.press("enter")
        await redraw(pilot)
        on_x = [r for r in everything if is_x(r)]
        assert "filters: platform=X" in screen_text(app)
        assert app.view.kpis.clicks == clicks(on_x)
        assert f"clicks {clicks(on_x)}" in kpi_line(app)
        assert table_values(app, "platform") == ["X"]
        top_post = max(
            POSTS, key=lambda p: sum(1 for r in on_x if r["post"] == p and r["metric"] == "clicks")
        )

        # 2. post: the top post of X (post and path values keep their end)
        await focus_table(pilot, app, "post")
        await pilot.press("enter")
        await redraw(pilot)
        on_post = [r for r in on_x if r["post"] == top_post]
        assert "platform=X › post=" + top_post in screen_text(app)
        assert app.view.kpis.clicks == clicks(on_post)
        assert len(table_values(app, "post")) == 1

        # 3. minute: the cursor on the curve, its numbers under it
        curve = app.screen.query_one(DrillCurve)
        curve.focus()
        # first press: the latest bucket (+40m, begun at the clock), then +39m, +38m
        await pilot.press("left", "left", "left")
        await redraw(pilot)
        in_bucket = [
            r
            for r in on_post
            if POST_TIME + timedelta(minutes=38) <= r["ts"] < POST_TIME + timedelta(minutes=39)
        ]
        assert app.cursor_start == 38
        cursor_line = next(line for line in screen_text(app).splitlines() if "cursor" in line)
        assert "cursor +38m–+39m" in cursor_line
        if clicks(in_bucket):
            assert f"clicks {clicks(in_bucket)}" in cursor_line

        # 4. observations of that bucket
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ObservationsScreen)
        assert app.screen.rows.height == len(in_bucket)
        text = screen_text(app)
        assert "bucket +38m (14:38–14:39 UTC) · platform=X › post=" in text
        assert f" {len(in_bucket)} observation" in text

        # 5. back out: observations -> cursor -> post -> platform -> everything
        await pilot.press("escape")
        await redraw(pilot)
        assert not isinstance(app.screen, ObservationsScreen)
        assert "platform=X › post=" in screen_text(app)
        await pilot.press("escape")  # hides the cursor first
        await redraw(pilot)
        assert app.cursor_start is None and len(app.filters) == 2
        await pilot.press("backspace")
        await redraw(pilot)
        assert "filters: platform=X " in screen_text(app)
        assert app.view.kpis.clicks == clicks(on_x)
        await pilot.press("escape")
        await redraw(pilot)
        assert "no filters" in screen_text(app)
        assert app.view.kpis.clicks == clicks(everything)


async def test_drilldown_by_mouse() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        table = app.screen.query_one("#table-country", BreakdownTable)
        first = table_values(app, "country")[0]
        await pilot.click("#table-country", offset=(3, 1))  # first data row, under the header
        await pilot.click("#table-country", offset=(3, 1))  # a second click selects it
        await redraw(pilot)
        assert f"filters: country={first}" in screen_text(app)
        assert table.has_focus


async def test_hosts_expand_and_filter_by_host() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await focus_table(pilot, app, "platform")
        await pilot.press("right")
        await redraw(pilot)
        values = table_values(app, "platform")
        assert values[:2] == ["X", "  └ t.co"]
        await pilot.press("down", "enter")
        await redraw(pilot)
        assert "filters: host=t.co" in screen_text(app)


async def test_slash_finds_rows_and_sort_keys_reorder() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await focus_table(pilot, app, "country")
        await pilot.press("slash", "u", "s")
        await redraw(pilot)
        assert table_values(app, "country") == ["US"]
        assert "country (1) · “us”" in screen_text(app)
        await pilot.press("escape")
        await redraw(pilot)
        await pilot.press("s", "s", "s", "s")  # count -> share -> /min -> /1k -> name
        await redraw(pilot)
        assert table_values(app, "country")[:3] == ["DE", "RO", "US"]
        assert app.sorts["country"] == ("value", False)


async def test_feed_strings_are_shown_literally_on_screen() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=(160, 50)) as pilot:
        await redraw(pilot)
        await focus_table(pilot, app, "path")
        await pilot.press("slash", "r", "e", "d", "enter")
        await redraw(pilot)
        shown = table_values(app, "path")
        assert len(shown) == 1 and shown[0].startswith("…")  # cut: the end is kept
        assert "\x07" not in shown[0] and "\\x07" in shown[0]
        await pilot.press("enter")
        await redraw(pilot)
        text = screen_text(app)
        # the breadcrumb shows the markup as characters and the escapes as \x1b, \x07
        assert "path=/[red]x[/]\\x1b[2J\\x1b]8;;http://e.vil\\x07y" in text
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg
        assert 'href="http://e.vil' not in svg
        spans = app.screen._compositor.render_strips()
        for strip in spans:
            for segment in strip:
                assert segment.style is None or segment.style.link is None


async def test_export_writes_the_filtered_observations_and_a_screenshot(tmp_path: Path) -> None:
    app = drill_app(NOW_MIN)
    app.export_dir = tmp_path / "exports"
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await focus_table(pilot, app, "platform")
        await pilot.press("enter")
        await redraw(pilot)
        await pilot.press("e")
        await pilot.pause()
        files = sorted((tmp_path / "exports").iterdir())
        assert [f.suffix for f in files] == [".csv", ".svg"]
        assert files[0].name.startswith("spring-launch-") and "-platform-x" in files[0].name
        written = read_export(files[0])
        audience = written.filter(pl.col("metric") == "followers")  # carries the per-1k numbers
        assert audience.height == 1 and audience["kind"].to_list() == ["total"]
        assert audience["value"].to_list() == [float(app.campaign.followers or 0)]
        exported = written.filter(pl.col("metric") != "followers")
        cut = POST_TIME + timedelta(minutes=NOW_MIN)
        expected = drill_frame().filter(
            pl.col("referrer").cast(pl.String).str.starts_with("https://t.co/")
            & (pl.col("ts") <= cut)
        )
        # CSV is for spreadsheets: formula starts and control characters are neutralised
        texts = [
            name for name, dtype in expected.schema.items() if dtype in (pl.String, pl.Categorical)
        ]
        safe = expected.with_columns(
            spreadsheet_safe_column(name).cast(expected.schema[name]) for name in texts
        )
        assert_frame_equal(exported.sort("ts", "id"), safe.sort("ts", "id"))
        assert "platform=X" in files[1].read_text()
        messages = [n.message for n in app._notifications]
        assert any(f"exported {written.height:,} observations to {files[0]}" in m for m in messages)
        # the palette offers the other formats
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Export as CSV", "Export as PARQUET", "Export as NDJSON"} <= set(titles)
        app.action_export("parquet")
        parquet = next((tmp_path / "exports").glob("*.parquet"))
        from_parquet = read_export(parquet).filter(pl.col("metric") != "followers")
        assert_frame_equal(from_parquet.sort("ts", "id"), expected.sort("ts", "id"))


async def test_export_to_an_unwritable_place_notifies_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    app = drill_app(NOW_MIN)
    app.export_dir = blocker / "sub"
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await pilot.press("e")
        await pilot.pause()
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "cannot write exports to" in errors[0].message


async def test_compare_overlays_another_post_aligned_at_its_start() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("down", "enter")
        await redraw(pilot)
        rows = list(drill_frame().iter_rows(named=True))
        starts = {post: min(r["ts"] for r in rows if r["post"] == post) for post in POSTS}
        second = sorted(POSTS, key=lambda p: starts[p])[1]  # the list is in order of start
        assert app.comparison is not None and app.comparison.label == second
        curve = app.screen.query_one(DrillCurve)
        assert curve.overlay is not None
        start = starts[second]
        expected_first = sum(
            1
            for r in drill_frame().iter_rows(named=True)
            if r["post"] == second
            and r["metric"] == "clicks"
            and r["ts"] < start + timedelta(minutes=1)
        )
        assert curve.overlay.values[0] == expected_first
        assert f"vs …{second[-29:]}" in screen_text(app)
        await pilot.press("v")  # again: stop comparing
        await redraw(pilot)
        assert app.comparison is None and curve.overlay is None


async def test_compare_with_a_file_that_is_not_there_says_so() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await pilot.press("v")
        await pilot.pause()
        app.screen.query_one("#compare-path").focus()
        await pilot.press(*"/nope/missing.ndjson", "enter")
        await pilot.pause()
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert errors and "missing.ndjson" in errors[0]
        assert app.comparison is None


async def test_every_drilldown_key_is_in_footer_help_and_palette() -> None:
    from engmon.tui.keys import CONTEXT_KEYS, DASHBOARD_KEYS

    app = drill_app(NOW_MIN)
    async with app.run_test(size=(220, 40)) as pilot:
        await redraw(pilot)
        # the Footer fills in its keys a refresh after mount: on a busy machine, wait for it
        await settle(pilot, lambda: bool(screen_text(app).splitlines()[-1].strip()), tries=250)
        footer = screen_text(app).splitlines()[-1]
        for label in ("⏎ drill", "⌫ back", "/ find", "v compare", "e export"):
            assert label in footer
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for key in DASHBOARD_KEYS:
            if key.action != "quit":
                assert any(key.help in t for t in titles), key
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = screen_text(app)
        for shown, text in CONTEXT_KEYS:
            assert shown in help_text
            assert text in help_text


async def test_tables_follow_the_replay_live() -> None:
    app = drill_app(10)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)

        def x_count() -> str:
            table = app.screen.query_one("#table-platform", BreakdownTable)
            row = table.get_row_at(table_values(app, "platform").index("X"))
            return str(row[1])

        assert x_count() == str(
            sum(1 for r in rows_until(10) if is_x(r) and r["metric"] == "clicks")
        )
        app.clock.seek(POST_TIME + timedelta(minutes=NOW_MIN))  # type: ignore[union-attr]
        expected = str(sum(1 for r in rows_until() if is_x(r) and r["metric"] == "clicks"))

        def caught_up() -> bool:
            app.refresh_dashboard()
            return x_count() == expected

        await settle(pilot, caught_up)
        assert x_count() == expected


async def test_tables_pause_between_data_ticks_then_catch_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """New data alone refreshes the curve and KPIs at once, the tables at most every
    TABLES_EVERY_S: the next tick must not rescan the store, and no data may be left out."""
    monkeypatch.setattr(drilldown, "TABLES_EVERY_S", 0.3)
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        table = app.screen.query_one("#table-platform", BreakdownTable)
        before = str(table.get_row_at(table_values(app, "platform").index("X"))[1])
        early = next(r for r in rows_until(5) if is_x(r) and r["metric"] == "clicks")
        extra = pl.DataFrame([{**early, "id": "extra-click"}], schema=drill_frame().schema)
        app.store.merge(extra)
        app._tables_at = time.monotonic()  # the tables were just drawn
        app.refresh_dashboard()
        assert str(table.get_row_at(table_values(app, "platform").index("X"))[1]) == before
        assert f"clicks {clicks(rows_until()) + 1}" in kpi_line(app)  # the KPIs did move

        def caught_up() -> bool:  # by the app's own timer: no refresh_dashboard here
            row = table.get_row_at(table_values(app, "platform").index("X"))
            return str(row[1]) == str(int(before) + 1)

        await settle(pilot, caught_up)


def test_cursor_numbers_and_tail_text() -> None:
    minutes = pl.DataFrame(
        {
            "metric": ["clicks", "clicks", "likes", "replies"],
            "minute": [4, 5, 5, 9],
            "value": [2.0, 3.0, 1.0, 0.0],
        }
    )
    assert cursor_numbers(minutes, 5, 5) == "cursor +5m–+10m: clicks 3 · likes 1"
    assert cursor_numbers(minutes, 0, 1) == "cursor +0m–+1m: nothing"
    assert tail_text("https://bsky.app/profile/a/post/3k", 12) == "…e/a/post/3k"
    assert tail_text("a\x1bb", 12) == "a\\x1bb"


async def test_palette_commands_run_the_table_and_cursor_actions() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        commands = {c.title: c.callback for c in app.get_system_commands(app.screen)}
        commands["Show the hosts of the platform"]()
        await redraw(pilot)
        assert table_values(app, "platform")[1] == "  └ t.co"
        commands["Sort the table by the next column"]()
        await redraw(pilot)
        assert app.sorts["platform"] == ("share", True)
        commands["Open the cursor bucket's observations"]()
        await pilot.pause()
        assert isinstance(app.screen, ObservationsScreen)


async def test_compare_reaches_the_path_field_by_keyboard_and_back() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await pilot.press(*["down"] * (len(screen.posts) + 1))
        await pilot.pause()
        assert screen.query_one("#compare-path").has_focus
        await pilot.press("up")
        await pilot.pause()
        assert screen.query_one("#compare-posts").has_focus


async def test_compare_never_offers_the_post_on_screen() -> None:
    app = drill_app(NOW_MIN)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        shown = sorted(POSTS)[0]
        app.push_filter("post", shown)
        await redraw(pilot)
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert shown not in screen.posts and len(screen.posts) == len(POSTS) - 1
