"""A failing source becomes visible status; the dashboard and the other sources keep going."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import polars as pl
from posts import POST_TIME, frozen_clock, post_frame, small_campaign
from screen import redraw, screen_text, settle

from engmon.core.clock import WallClock
from engmon.core.recording import RecordingWriter, read_recording
from engmon.errors import SourceRateLimited, SourceUnreachable
from engmon.sources.base import PollResult, Source
from engmon.sources.playback import ReplaySource
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session


class RateLimitedSource(Source):
    """Always answers 429 with Retry-After: 20."""

    kind = "umami"

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        raise SourceRateLimited("umami: HTTP 429 (rate limited)", retry_after=20)


class BrokenSource(Source):
    """A bug: raises something that is not a SourceError."""

    kind = "x"

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        raise RuntimeError("boom")


class ListSource(Source):
    """Hands out the given frames, one per poll."""

    kind = "bluesky"

    def __init__(self, frames: list[pl.DataFrame]) -> None:
        super().__init__("bluesky", interval=0.01)
        self.frames = list(frames)

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        if not self.frames:
            return PollResult()
        return PollResult(frame=self.frames.pop(0))


async def test_source_errors_show_as_status_and_the_app_keeps_running() -> None:
    replay = ReplaySource(post_frame(), name="replay")
    sources: list[Source] = [
        RateLimitedSource("umami", interval=1.0),
        BrokenSource("x", interval=1.0),
        replay,
    ]
    app = EngmonApp(Session(small_campaign(), sources, frozen_clock(30), monotonic=lambda: 0.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(
            pilot,
            lambda: (
                app.statuses["umami"].state == "retrying"
                and app.statuses["x"].state == "retrying"
                and app.store.rows > 0
            ),
        )
        await redraw(pilot)
        text = screen_text(app)
        assert "◐ umami retry in 20s (429)" in text
        notified = [n.message for n in app._notifications]
        assert notified.count("umami: HTTP 429 (rate limited)") == 1  # the whole line, once
        assert "◐ x retry in 30s (x: RuntimeError: boom)" in text
        assert "● replay 0s ago" in text
        assert app.is_running
        assert app.view is not None and app.view.kpis.clicks > 0
        await pilot.press("c")  # still responsive
        await redraw(pilot)
        assert "cumulative on" in screen_text(app)


async def test_live_polls_are_recorded_before_merging(tmp_path: Path) -> None:
    frames = [post_frame().slice(0, 5), post_frame().slice(5, 5)]
    path = tmp_path / "watch.ndjson"
    campaign = small_campaign()
    recorder = RecordingWriter(path, campaign, started=POST_TIME)
    clock = WallClock(now=lambda: POST_TIME.replace(minute=30))
    app = EngmonApp(Session(campaign, [ListSource(frames)], clock, recorder=recorder))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.store.rows == 10)
        await redraw(pilot)
        assert "LIVE" in screen_text(app)
    recorder.close()
    recorded = read_recording(path)
    assert recorded.frame.height == 10
    assert recorded.frame.get_column("id").to_list() == post_frame().head(10)["id"].to_list()


async def test_a_paused_live_watch_holds_the_panel_still() -> None:
    moments = [POST_TIME.replace(minute=10)]
    clock = WallClock(now=lambda: moments[0])
    app = EngmonApp(Session(small_campaign(), [], clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")
        moments[0] = POST_TIME.replace(minute=20)
        await redraw(pilot)
        text = screen_text(app)
        assert "+10m · LIVE · PAUSED" in text
        await pilot.press("space")
        await redraw(pilot)
        assert "+20m · LIVE" in screen_text(app) and "PAUSED" not in screen_text(app)
        await pilot.press("left")  # seeking is for replays: a notice, no crash
        await redraw(pilot)
        assert app.is_running


class HalfAnswered(Source):
    """Its rows come back, its follow-up request fails (a partial poll)."""

    kind = "plausible"

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        error = SourceUnreachable("plausible: breakdown: HTTP 502")
        return PollResult(post_frame().slice(0, 5), summary="5 rows", partial_error=error)


async def test_a_partial_poll_shows_its_rows_and_the_source_as_retrying() -> None:
    source = HalfAnswered("plausible", interval=1.0)
    app = EngmonApp(Session(small_campaign(), [source], frozen_clock(30), monotonic=lambda: 0.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.store.rows == 5)
        await redraw(pilot)
        text = screen_text(app)
        assert "◐ plausible retry in" in text and "(502)" in text
        status = app.statuses["plausible"]
        assert status.polls >= 1 and status.errors == status.polls  # every poll half answered
        notified = [n.message for n in app._notifications]
        assert notified == ["plausible: breakdown: HTTP 502"]
