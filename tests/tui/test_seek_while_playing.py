"""Seeking back while the replay plays: the screen shows the past, never rows the clock has
not reached (they were already merged before the seek)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from posts import POST_TIME, post_frame, small_campaign
from screen import redraw
from textual.pilot import Pilot

from engmon.core.clock import ReplayClock
from engmon.core.store import ObservationStore
from engmon.sources.playback import ReplaySource
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session


def clicks_until(seconds: float) -> int:
    frame = post_frame()
    cutoff = POST_TIME + timedelta(seconds=seconds)
    return frame.filter((pl.col("metric") == "clicks") & (pl.col("ts") <= cutoff)).height


async def until_clicks(pilot: Pilot[None], app: EngmonApp, expected: int) -> None:
    """Redraw until the poll loop has handed out the rows the clock reached (it polls on its
    own schedule); then the clicks on screen are exactly those."""
    for _ in range(100):
        await redraw(pilot)
        if app.view is not None and app.view.kpis.clicks >= expected:
            break
        await pilot.pause(0.02)
    assert app.view is not None and app.view.kpis.clicks == expected


@pytest.mark.parametrize("played_s", [4.0, 69.0, 125.0])
async def test_home_then_play_counts_only_what_the_clock_reached(played_s: float) -> None:
    wall = [0.0]
    clock = ReplayClock(
        POST_TIME + timedelta(minutes=30),
        speed=1.0,
        end=POST_TIME + timedelta(minutes=240),
        monotonic=lambda: wall[0],
    )
    campaign = small_campaign()
    source = ReplaySource(post_frame(), name="replay")
    store = ObservationStore(post_time=campaign.post_time)
    store.merge(source.take_until(clock.now()))  # thirty minutes already played
    app = EngmonApp(Session(campaign, [source], clock, store=store, monotonic=lambda: 0.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await redraw(pilot)
        await pilot.press("home")
        wall[0] += played_s  # and it plays on
        await redraw(pilot)
        await redraw(pilot)
        assert app.clock.now() == POST_TIME + timedelta(seconds=played_s)
        await until_clicks(pilot, app, clicks_until(played_s))
        assert app.store.latest is None or app.store.latest <= app.clock.now()  # no future
        wall[0] += 60.0  # a minute later the replay has handed out the next rows in time
        await until_clicks(pilot, app, clicks_until(played_s + 60.0))
