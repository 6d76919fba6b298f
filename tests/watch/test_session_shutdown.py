"""A watch that stops (its --duration ran out, Ctrl-C) lets a poll in flight finish and
records what it fetched; it starts no new poll and does not wait out a source's interval."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.clock import WallClock
from engmon.core.recording import RecordingWriter, read_recording
from engmon.sources.base import PollResult, Source

POST = datetime(2026, 11, 25, 14, tzinfo=UTC)
NOW = POST + timedelta(minutes=10)


class SlowFeed(Source):
    """Answers one event per poll after `seconds` (a slow API, a big first chunk)."""

    kind = "scripted"

    def __init__(self, seconds: float) -> None:
        super().__init__("slow", interval=60.0, timeout=10.0)
        self.seconds = seconds
        self.polls = 0

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        self.polls += 1
        await asyncio.sleep(self.seconds)
        frame = pl.DataFrame(
            {"ts": [NOW], "metric": ["clicks"], "value": [1.0], "id": [f"e{self.polls}"]}
        )
        return PollResult(frame, summary="1 event")


async def test_a_poll_in_flight_when_the_watch_stops_is_recorded(tmp_path: Path) -> None:
    from engmon.watch.session import Session

    record = tmp_path / "slow.ndjson"
    campaign = Campaign("slow", post_time=POST)
    source = SlowFeed(0.4)
    session = Session(
        campaign,
        [source],
        WallClock(lambda: NOW),
        recorder=RecordingWriter(record, campaign, started=POST),
    )
    began = time.monotonic()
    await session.run(duration=0.05)  # stops while the first poll is still out
    took = time.monotonic() - began
    await session.aclose()
    assert source.polls == 1
    assert read_recording(record).frame.height == 1  # what the poll fetched is kept
    assert took < 5  # not the 60 s interval: the watch stops once the poll is in
