"""The Footer says what the keys do here: the focused area's keys first, no replay keys on a
live watch, and `? help` / `q quit` on screen even at 80x24."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from conftest import MakeApp
from posts import POST_TIME, post_frame, small_campaign
from screen import redraw, screen_text, settle

from engmon.core.clock import WallClock
from engmon.core.store import ObservationStore
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session


def footer(app: EngmonApp) -> str:
    return screen_text(app).rstrip("\n").splitlines()[-1]


async def settled_footer(pilot: Any, app: EngmonApp, *, starts: str = "") -> str:
    """The Footer once it shows its keys (it fills in a refresh after a change, late on a busy
    machine), starting with `starts` when given."""
    await settle(
        pilot, lambda: footer(app).strip().startswith(starts) and bool(footer(app).strip()), 250
    )
    return footer(app)


def live_app() -> EngmonApp:
    campaign = small_campaign()
    store = ObservationStore(post_time=campaign.post_time)
    store.merge(post_frame())
    clock = WallClock(now=lambda: POST_TIME + timedelta(minutes=30))
    return EngmonApp(Session(campaign, [], clock, store=store, monotonic=lambda: 0.0))


async def test_80x24_shows_help_and_quit(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=(80, 24)) as pilot:
        await redraw(pilot)
        line = await settled_footer(pilot, app)
        assert "? help" in line and "q quit" in line, line
        assert "+- speed" in line and "space pause" in line
        assert "e export" not in line  # in the help screen and the palette instead


async def test_a_wide_terminal_shows_every_key(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=(120, 40)) as pilot:
        await redraw(pilot)
        line = await settled_footer(pilot, app)
        assert "e export" in line and "c cumulative" in line and "q quit" in line, line
        await pilot.resize_terminal(80, 24)
        await redraw(pilot)
        await settle(pilot, lambda: "e export" not in footer(app), 250)
        assert "q quit" in footer(app)


async def test_a_live_watch_does_not_offer_replay_keys() -> None:
    app = live_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await redraw(pilot)
        line = await settled_footer(pilot, app)
        assert "speed" not in line and "seek" not in line and "⇤" not in line, line
        assert "space pause" in line and "q quit" in line
        await pilot.press("plus", "home")  # ignored, not an error
        await redraw(pilot)
        assert "LIVE" in screen_text(app)


async def test_the_focused_area_shows_its_keys_first(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=(120, 40)) as pilot:
        await redraw(pilot)
        await pilot.press("tab")  # the curve
        await redraw(pilot)
        assert (
            (await settled_footer(pilot, app, starts="←→")).lstrip().startswith("←→ cursor ⏎ open")
        ), footer(app)
        await pilot.press("tab")  # the first table
        await redraw(pilot)
        assert (
            (await settled_footer(pilot, app, starts="⏎ filter"))
            .lstrip()
            .startswith("⏎ filter s sort")
        ), footer(app)


async def test_80x24_a_focused_table_leaves_the_curve_its_bars(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=(80, 24)) as pilot:
        await redraw(pilot)
        await pilot.press("tab", "tab")
        await redraw(pilot)
        curve = app.screen.query_one("#curve")
        assert curve.size.height >= 6  # border + axis + at least three rows of bars
        assert "q quit" in await settled_footer(pilot, app)


async def test_palette_entries_do_not_repeat_their_title(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=(120, 40)) as pilot:
        await redraw(pilot)
        commands = list(app.get_system_commands(app.screen))
        assert commands
        for command in commands:
            assert command.help != command.title, command.title
        titles = [c.title for c in commands]
        assert "Pause or resume the clock" in titles


async def test_palette_drill_and_hosts_say_what_to_do_without_focus(make_app: MakeApp) -> None:
    app = make_app(30)
    said: list[str] = []
    app.notify = lambda message, **_: said.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await redraw(pilot)
        app.action_drill()
        assert said and "tab to a table" in said[-1]
        app._table_action("collapse", "platform")
        assert "no platform's hosts are shown" in said[-1]


async def test_palette_drill_on_a_focused_table_filters(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=(120, 40)) as pilot:
        await redraw(pilot)
        await pilot.press("tab", "tab")
        await redraw(pilot)
        app.action_drill()
        await redraw(pilot)
        assert app.filters


async def test_80x24_header_keeps_the_link_readable() -> None:
    from datetime import datetime

    from engmon.core.campaign import Campaign
    from engmon.tui.state import ClockState
    from engmon.tui.widgets.header import header_parts, short_link

    assert short_link("https://www.example.com/blog/launch") == "example.com/blog/launch"
    post = datetime(2026, 3, 10, 14, 0, tzinfo=POST_TIME.tzinfo)
    clock = ClockState(now=post + timedelta(minutes=8), live=False, speed=120.0, paused=False)
    campaign = Campaign("taking-off", "https://example.com/blog/launch", post, 15000)
    left, right = header_parts(campaign, post, clock, narrow=True)
    assert left == "taking-off · example.com/blog/launch"
    assert right == "posted 14:00 UTC · +8m · REPLAY 120x"
    assert len(left) + len(right) + 4 <= 80
    later = ClockState(now=post + timedelta(days=2), live=True, speed=1.0, paused=False)
    assert header_parts(campaign, post, later, narrow=True)[1].startswith("posted 10 Mar 14:00")


async def test_the_exported_screenshot_keeps_the_footer(make_app: MakeApp, tmp_path: Path) -> None:
    import html
    import re

    app = make_app(30)
    app.export_dir = tmp_path
    async with app.run_test(size=(80, 24)) as pilot:
        await redraw(pilot)
        await pilot.press("e")
        await pilot.pause(0.3)
    (svg,) = tmp_path.glob("*.svg")
    text = html.unescape("".join(re.findall(r"<text[^>]*>(.*?)</text>", svg.read_text())))
    assert "q quit" in text.replace("\xa0", " ")


async def test_120x40_with_the_curve_focused_still_shows_quit(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=(120, 40)) as pilot:
        await redraw(pilot)
        await pilot.press("tab")
        await redraw(pilot)
        line = await settled_footer(pilot, app, starts="←→")
        assert line.lstrip().startswith("←→ cursor ⏎ open") and "q quit" in line, line
        await pilot.press("escape", "shift+tab", "shift+tab")  # focus back on nothing
