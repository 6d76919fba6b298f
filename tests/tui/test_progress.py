"""Jumping to the end of a big replay: rows arrive in chunks and the screen says so."""

from __future__ import annotations

from posts import frozen_clock, post_frame, small_campaign
from screen import redraw, screen_text, settle

from engmon.sources.playback import ReplaySource
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session


async def test_end_of_a_big_replay_loads_in_chunks_with_progress() -> None:
    frame = post_frame()
    source = ReplaySource(frame, name="replay", max_rows=10)  # a long window to observe
    app = EngmonApp(Session(small_campaign(), [source], frozen_clock(0), monotonic=lambda: 0.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.statuses["replay"].polls >= 1)
        await pilot.press("end")
        await settle(pilot, lambda: bool(app.progress_text()))
        await redraw(pilot)
        text = screen_text(app)
        assert f"/{frame.height} rows" in text and "loading replay" in text
        assert 0 < app.store.rows < frame.height  # part of it merged, part still coming
        await settle(pilot, lambda: app.store.rows == frame.height, tries=400)
        await redraw(pilot)
        assert "loading replay" not in screen_text(app)
        assert "● replay done" in screen_text(app)
