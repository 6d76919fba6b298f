"""engmon.watch.replay: the pieces a replay runs on, and what it hands the dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from posts import POST_TIME, post_frame, small_campaign

import engmon.tui.app
from engmon.core.campaign import Campaign
from engmon.core.clock import ReplayClock
from engmon.core.store import ObservationStore
from engmon.errors import EmptyInputError, InputError
from engmon.sources.playback import ReplaySource
from engmon.tui import launch
from engmon.tui.viewmodel import compute_view
from engmon.watch import replay


def test_replay_setup_starts_at_the_offset_and_ends_at_the_last_row() -> None:
    frame = post_frame()
    campaign, source, clock, store = replay.replay_setup(
        frame, small_campaign(), speed=120, start=timedelta(minutes=15), paused=True
    )
    assert campaign == small_campaign()
    assert clock.now() == POST_TIME + timedelta(minutes=15)
    assert clock.end == frame.get_column("ts").max()
    assert clock.speed == 120 and clock.paused
    assert store.post_time == POST_TIME
    assert source.total == frame.height and source.interval == pytest.approx(0.1)


def test_a_campaign_without_post_time_takes_the_first_observation() -> None:
    frame = post_frame().with_columns(pl.col("ts") + timedelta(minutes=3))
    campaign, _, clock, store = replay.replay_setup(frame, Campaign("cascade"), paused=True)
    first = frame.get_column("ts").min()
    assert campaign.post_time == first and store.post_time == first
    assert clock.now() == first


def test_an_empty_frame_is_a_clear_error() -> None:
    with pytest.raises(EmptyInputError, match="no observations to replay"):
        replay.replay_setup(post_frame().clear(), small_campaign())


@pytest.mark.parametrize("text", ["soon", "1x", "-"])
def test_bad_start_offsets_name_the_option(text: str) -> None:
    with pytest.raises(InputError, match="--start"):
        replay.parse_start(text)


def test_start_offsets() -> None:
    assert replay.parse_start("90s") == timedelta(seconds=90)
    assert replay.parse_start("1h30m") == timedelta(minutes=90)


def test_run_frame_hands_one_replay_source_and_a_replay_clock_to_the_dashboard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def fake_run_dashboard(session: Any, **kw: Any) -> None:
        seen.update(sources=session.sources, clock=session.clock, store=session.store, **kw)

    monkeypatch.setattr(engmon.tui.app, "run_dashboard", fake_run_dashboard)
    launch.run_frame(post_frame(), small_campaign(), speed=30, start=timedelta(minutes=5))
    assert isinstance(seen["clock"], ReplayClock) and seen["clock"].speed == 30
    assert [type(s) for s in seen["sources"]] == [ReplaySource]
    assert isinstance(seen["store"], ObservationStore) and seen["store"].rows == 0


def test_verdict_phrases_are_appended() -> None:
    store = ObservationStore(post_time=POST_TIME)
    store.merge(post_frame())

    def forecast(store: ObservationStore, campaign: Campaign, minute: int) -> str:
        return f"Forecast at minute {minute}: more to come."

    view = compute_view(
        store,
        small_campaign(),
        POST_TIME + timedelta(minutes=20),
        phrases=[forecast, lambda *_: None],
    )
    assert view.verdict.text.endswith(". Forecast at minute 20: more to come.")
