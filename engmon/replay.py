"""Replaying a file or a generated scenario in the dashboard, as if it were live.

The loaded frame becomes a `ReplaySource` polled like any source, on a `ReplayClock` that
starts at the post time plus `start` and stops at the last observation.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.clock import ReplayClock
from engmon.core.metrics import parse_offset
from engmon.core.store import ObservationStore
from engmon.errors import EmptyInputError, InputError
from engmon.sources.replay import ReplaySource

if TYPE_CHECKING:
    from engmon.scenarios import Scenario
    from engmon.sources.files import FileSpec


def replay_setup(
    frame: pl.DataFrame,
    campaign: Campaign,
    *,
    speed: float = 60.0,
    start: timedelta = timedelta(0),
    paused: bool = False,
    name: str = "replay",
) -> tuple[Campaign, ReplaySource, ReplayClock, ObservationStore]:
    """The pieces a replay runs on: campaign with a post time, source, clock, anchored store.

    A campaign without a post time takes the first observation's time.
    """
    source = ReplaySource(frame, name=name)
    first, last = source.first_ts, source.last_ts
    if first is None or last is None:
        raise EmptyInputError(f"{name}: no observations to replay")
    post_time = campaign.post_time or first
    if campaign.post_time is None:
        campaign = Campaign(campaign.name, campaign.link, post_time, campaign.followers)
    clock = ReplayClock(post_time + start, speed=speed, end=max(last, post_time), paused=paused)
    store = ObservationStore(post_time=post_time)
    return campaign, source, clock, store


def run_frame(
    frame: pl.DataFrame,
    campaign: Campaign,
    *,
    speed: float = 60.0,
    start: timedelta = timedelta(0),
    paused: bool = False,
    name: str = "replay",
    history: bool = True,
) -> None:
    """Replay an in-memory observation frame in the dashboard (`history`: compare with, and
    keep it among, your past posts)."""
    from engmon.core.history import default_history_dir
    from engmon.tui.app import run_dashboard

    campaign, source, clock, store = replay_setup(
        frame, campaign, speed=speed, start=start, paused=paused, name=name
    )
    history_dir = default_history_dir() if history else None
    run_dashboard(campaign, [source], clock, store=store, history_dir=history_dir)


def parse_start(start: str | timedelta) -> timedelta:
    """`--start` text (90s, 15m, 1h) -> offset after the post; InputError when unreadable."""
    if isinstance(start, timedelta):
        return start
    try:
        return parse_offset(start)
    except ValueError:
        raise InputError(
            f"--start {start!r}: not an offset; use seconds or 90s, 15m, 1h, 1h30m"
        ) from None


def run_replay(
    spec: FileSpec,
    *,
    speed: float = 60.0,
    start: str | timedelta = "0",
    paused: bool = False,
) -> None:
    """Load the file `spec` describes (progress on stderr), then replay it in the dashboard."""
    from engmon.sources.files import load_observations

    offset = parse_start(start)
    began = time.perf_counter()
    path = spec.path
    shown = [-1]

    def show(fraction: float) -> None:
        percent = int(fraction * 100)
        if percent != shown[0]:  # one redraw per percent, not per chunk
            shown[0] = percent
            print(f"\rengmon: loading {path} … {percent}%", end="", file=sys.stderr, flush=True)

    try:
        loaded = load_observations(spec, show)
    finally:
        if shown[0] >= 0:  # end the progress line (also before an error line)
            print(file=sys.stderr, flush=True)
    seconds = time.perf_counter() - began
    print(
        f"engmon: loaded {loaded.frame.height:,} observations from {path} in {seconds:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    for note in loaded.notes:
        print(f"engmon: {note}", file=sys.stderr, flush=True)
    run_frame(
        loaded.frame,
        loaded.campaign,
        speed=speed,
        start=offset,
        paused=paused,
        name=loaded.path.stem or "replay",
    )


def run_scenario(scenario: Scenario, *, speed: float = 60.0) -> None:
    """Replay a generated scenario (`engmon demo`) from the post onwards."""
    # generated posts are not the user's: kept out of the history the band is drawn from
    run_frame(scenario.frame, scenario.campaign, speed=speed, name=scenario.name, history=False)
