"""Every dashboard key, driven by Pilot: the app's state and the screen's text both change."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from conftest import MakeApp
from posts import POST_TIME, post_frame
from screen import redraw, screen_text, settle

from engmon.core.clock import ReplayClock
from engmon.tui.screens.help import HelpScreen

SIZE = (120, 40)


def clock_of(app: object) -> ReplayClock:
    clock = getattr(app, "clock", None)
    assert isinstance(clock, ReplayClock)
    return clock


def clicks_until(minute: int) -> int:
    """Independent count: fixture clicks up to and including `minute` after the post."""
    frame = post_frame()
    cutoff = POST_TIME + timedelta(minutes=minute)
    return frame.filter((pl.col("metric") == "clicks") & (pl.col("ts") <= cutoff)).height


async def test_first_frame_shows_the_fixture_as_of_the_clock(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        text = screen_text(app)
        expected = clicks_until(30)
        assert app.view is not None and app.view.kpis.clicks == expected
        assert f"30 min after a post to 2.1k followers: {expected} clicks" in text
        assert "posted 2026-11-20 14:00 UTC · +30m · REPLAY 60x · PAUSED" in text
        assert "clicks per 1m · since post" in text


async def test_space_pauses_and_resumes(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        assert clock_of(app).paused and "PAUSED" in screen_text(app)
        await pilot.press("space")
        await redraw(pilot)
        assert not clock_of(app).paused
        assert "PAUSED" not in screen_text(app)
        await pilot.press("space")
        await redraw(pilot)
        assert clock_of(app).paused and "· PAUSED" in screen_text(app)


async def test_plus_and_minus_change_speed(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("plus")
        await redraw(pilot)
        assert clock_of(app).speed == 120
        assert "REPLAY 120x" in screen_text(app)
        await pilot.press("minus", "minus")
        await redraw(pilot)
        assert clock_of(app).speed == 30
        assert "REPLAY 30x" in screen_text(app)


async def test_speed_stops_at_the_offered_limits(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*["minus"] * 12)
        await redraw(pilot)
        assert clock_of(app).speed == 1 and "REPLAY 1x" in screen_text(app)
        await pilot.press(*["plus"] * 12)
        await redraw(pilot)
        assert clock_of(app).speed == 3600 and "REPLAY 3600x" in screen_text(app)


async def test_left_and_right_seek_one_bucket(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await pilot.press("left")
        await redraw(pilot)
        assert clock_of(app).now() == POST_TIME + timedelta(minutes=29)
        text = screen_text(app)
        assert "· +29m ·" in text
        assert f"29 min after a post to 2.1k followers: {clicks_until(29)} clicks" in text
        await pilot.press("right", "right")
        await redraw(pilot)
        assert clock_of(app).now() == POST_TIME + timedelta(minutes=31)
        assert "· +31m ·" in screen_text(app)


async def test_seek_steps_by_the_chosen_bucket_width(make_app: MakeApp) -> None:
    app = make_app(32)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b", "b")  # auto -> 1m -> 5m
        await redraw(pilot)
        await pilot.press("left")
        await redraw(pilot)
        assert clock_of(app).now() == POST_TIME + timedelta(minutes=30)
        await pilot.press("left")
        await redraw(pilot)
        assert clock_of(app).now() == POST_TIME + timedelta(minutes=25)
        assert "· +25m ·" in screen_text(app)


async def test_seeking_back_shows_the_past_although_the_store_holds_more(
    make_app: MakeApp,
) -> None:
    app = make_app(60)
    async with app.run_test(size=SIZE) as pilot:
        held = app.store.rows
        await pilot.press("home")
        await redraw(pilot)
        assert clock_of(app).now() == POST_TIME
        # paused at the post: the store holds only what is stamped up to the clock (rows of
        # the post's first second too), the rest waits for the clock
        at_post = post_frame().filter(pl.col("ts") <= POST_TIME)
        assert app.store.rows == at_post.height < held
        assert app.view is not None and app.view.kpis.clicks == clicks_until(0)
        text = screen_text(app)
        assert "· +0s ·" in text
        assert f"clicks {clicks_until(0)} " in text
        await pilot.press("right")  # a minute on, still paused: that minute's rows come back
        await redraw(pilot)
        await settle(
            pilot, lambda: app.view is not None and app.view.kpis.clicks == clicks_until(1)
        )
        assert f"clicks {clicks_until(1)} " in screen_text(app)


async def test_end_jumps_to_the_last_observation_and_loads_it(make_app: MakeApp) -> None:
    app = make_app(10)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("end")
        total = post_frame().filter(pl.col("metric") == "clicks").height
        await settle(pilot, lambda: app.store.rows == post_frame().height)
        await redraw(pilot)
        clock = clock_of(app)
        assert clock.at_end and clock.now() == clock.end
        assert app.view is not None and app.view.kpis.clicks == total
        text = screen_text(app)
        assert "· +4h00m · REPLAY 60x · PAUSED" in text
        assert f"{total} clicks" in text


async def test_m_cycles_the_curve_metric(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        assert app.view is not None
        assert app.view.metrics == ["clicks", "replies", "reposts", "quotes", "likes"]
        await pilot.press("m")
        await redraw(pilot)
        assert app.view.curve.metric == "replies"
        text = screen_text(app)
        assert "replies per 1m · since post" in text and "metric replies" in text
        await pilot.press("m", "m", "m", "m")
        await redraw(pilot)
        assert app.view.curve.metric == "clicks"
        assert "clicks per 1m · since post" in screen_text(app)


async def test_c_toggles_the_cumulative_line(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        assert "cumulative off" in screen_text(app)
        await pilot.press("c")
        await redraw(pilot)
        assert app.settings.cumulative
        assert app.view is not None and app.view.curve.cumulative is not None
        assert app.view.curve.cumulative[-1] == clicks_until(30)
        text = screen_text(app)
        assert "cumulative on" in text and "right axis: cumulative" in text
        await pilot.press("c")
        await redraw(pilot)
        assert not app.settings.cumulative and "cumulative off" in screen_text(app)


async def test_b_cycles_the_bucket_width(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        assert "bucket 1m (auto)" in screen_text(app)
        await pilot.press("b", "b")
        await redraw(pilot)
        assert app.settings.bucket_width == 5
        assert app.view is not None and app.view.curve.width == 5
        # 30 minutes in 5-minute buckets, and the one begun at the clock (+30m00s)
        assert len(app.view.curve.values) == 7
        text = screen_text(app)
        assert "bucket 5m ·" in text and "clicks per 5m · since post" in text
        await pilot.press(*["b"] * 5)  # 15m, 1h, 6h, 1d, back to auto
        await redraw(pilot)
        assert app.settings.bucket_width is None and "bucket 1m (auto)" in screen_text(app)


async def test_question_mark_opens_help_and_escape_closes_it(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "engmon keys" in text and "Seek back one bucket" in text
        assert "Cycle the bucket width" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        assert "verdict" in screen_text(app)


async def test_q_quits(make_app: MakeApp) -> None:
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_every_key_is_in_the_footer_and_the_command_palette(make_app: MakeApp) -> None:
    from engmon.tui.keys import DASHBOARD_KEYS

    app = make_app(30)
    async with app.run_test(size=(200, 40)) as pilot:
        await redraw(pilot)
        # the Footer fills in its keys a refresh after mount: on a busy machine, wait for it
        await settle(pilot, lambda: bool(screen_text(app).splitlines()[-1].strip()), tries=250)
        footer = screen_text(app).splitlines()[-1]
        assert "space pause  +- speed  ←→⇤⇥ seek m metric c cumulative b bucket" in footer
        for key in DASHBOARD_KEYS:
            assert (key.group or key.label) in footer and (key.display or key.keys) in footer
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for key in DASHBOARD_KEYS:
            if key.action != "quit":
                assert any(key.help in title for title in commands), key
        assert commands["Show or hide the cumulative line"].help == "key c"
        await commands["Show or hide the cumulative line"].callback()
        await redraw(pilot)
        assert app.settings.cumulative and "cumulative on" in screen_text(app)


async def test_b_skips_widths_too_fine_for_a_long_span_and_says_so(make_app: MakeApp) -> None:
    app = make_app(240)  # four hours in: 240 one-minute bars would not fit
    said: list[str] = []
    app.notify = lambda message, **_: said.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        await pilot.press("b")
        await redraw(pilot)
        assert app.settings.bucket_width == 5  # 1m skipped (240 bars), 5m fits (48)
        assert said and said[-1] == "1m: too many bars for 4h00m since the post"
        assert app.view is not None and app.view.curve.width == 5


def test_a_lone_wide_bucket_is_drawn_as_wide_as_its_bucket() -> None:
    from engmon.tui.viewmodel import Curve
    from engmon.tui.widgets.curve import axis_ticks

    curve = Curve("clicks", 360, False, "h", [3.0], [40.0], None, end_minute=200)
    positions, labels = axis_ticks(curve, max_ticks=8, span=360)
    assert labels[-1] == "6h" and positions[-1] == 6.0  # the labels reach the bucket's end


def test_the_comparison_line_sets_the_y_axis_so_it_stays_in_the_frame() -> None:
    from engmon.tui.viewmodel import Curve
    from engmon.tui.widgets.drillcurve import DrillCurve, Overlay

    plot = DrillCurve()
    plot.curve = Curve("clicks", 1, True, "min", [0.5, 1.5], [2.0, 3.0], None, end_minute=2)
    assert plot.extra_top() == 0.0
    plot.overlay = Overlay("last post", [9.0, 40.0, 99.0])
    assert plot.extra_top() == 40.0  # only as far as this curve's buckets reach
