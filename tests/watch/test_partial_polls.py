"""A poll that got part of its answer keeps that part: recorded, merged, shown as retrying, and
asked again soon (the source answered, so its backoff starts over)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.clock import WallClock
from engmon.core.recording import RecordingWriter, read_recording
from engmon.errors import SourceUnreachable
from engmon.sources.base import PollResult, Source
from engmon.watch.plain import poll_line
from engmon.watch.session import Session

POST = datetime(2026, 11, 25, 14, tzinfo=UTC)
NOW = POST + timedelta(minutes=10)


def clicks(minute: int, value: float) -> pl.DataFrame:
    """One one-minute bucket of clicks."""
    return pl.DataFrame(
        {
            "ts": [POST + timedelta(minutes=minute)],
            "metric": ["clicks"],
            "value": [value],
            "kind": ["bucket"],
            "width_s": [60],
            "source": ["s"],
        }
    )


class HalfAnswered(Source):
    """Its time series comes back; its breakdown request fails for the first `failing` polls."""

    kind = "scripted"

    def __init__(self, failing: int) -> None:
        super().__init__("s", interval=2.0, timeout=1.0)
        self.failing = failing
        self.polls = 0

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        self.polls += 1
        frame = clicks(self.polls, 3.0)
        if self.polls <= self.failing:
            error = SourceUnreachable("s: referrer breakdown: HTTP 502")
            return PollResult(frame, summary="1 bucket", partial_error=error)
        return PollResult(frame, summary="1 bucket")


def session_on(source: Source, record: Path) -> Session:
    campaign = Campaign("partial", post_time=POST)
    recorder = RecordingWriter(record, campaign, started=POST)
    return Session(campaign, [source], WallClock(lambda: NOW), recorder=recorder)


async def test_a_partial_poll_is_recorded_merged_and_shown_as_retrying(tmp_path: Path) -> None:
    record = tmp_path / "partial.ndjson"
    session = session_on(HalfAnswered(failing=1), record)
    poller = session.pollers["s"]
    event = await session.poll_turn(poller)
    assert event.merged is not None and event.merged.changed == 1  # the part that came
    assert event.status.state == "retrying"
    assert event.status.last_error == "s: referrer breakdown: HTTP 502"
    assert event.status.polls == 1 and event.status.errors == 1
    assert 2.0 <= event.delay <= 4.0  # soon: the first step of the backoff
    line = poll_line(session, event, NOW)
    assert "retrying" in line and "1 bucket (1 changed)" in line
    assert "HTTP 502; next try in" in line
    assert read_recording(record).frame.height == 1  # on disk before the retry
    again = await session.poll_turn(poller)
    assert again.status.state == "ok" and again.status.last_error is None
    await session.aclose(save_history=False)
    assert read_recording(record).frame.height == 2
    assert session.store.minutes().get_column("value").sum() == 6.0


async def test_partial_polls_in_a_row_do_not_push_the_source_back(tmp_path: Path) -> None:
    session = session_on(HalfAnswered(failing=6), tmp_path / "partial.ndjson")
    poller = session.pollers["s"]
    delays = []
    for _ in range(6):
        event = await session.poll_turn(poller)
        assert event.status.state == "retrying"
        delays.append(event.delay)
    await session.aclose(save_history=False)
    assert all(2.0 <= delay <= 4.0 for delay in delays), delays  # never the long backoff
    assert session.store.minutes().get_column("value").sum() == 18.0  # every part kept


async def test_check_fails_a_source_that_answered_only_in_part(tmp_path: Path) -> None:
    import io

    from engmon.config import CampaignConfig
    from engmon.watch.check import check_sources

    campaign = Campaign("partial", post_time=POST)
    config = CampaignConfig(tmp_path / "c.toml", campaign, [HalfAnswered(failing=1)])
    out = io.StringIO()
    assert await check_sources(config, out) == 1
    assert out.getvalue() == "FAIL s (scripted): referrer breakdown: HTTP 502 (got 1 bucket)\n"
