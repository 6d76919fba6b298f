"""Replaying a file or a generated scenario in the dashboard, as if it were live.

The loaded frame becomes a `ReplaySource` polled like any source by a `Session` (no
recording) on a `ReplayClock` that starts at the post time plus `start` and stops at the last
observation.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from engmon.core.bounds import MAX_SPAN
from engmon.core.campaign import Campaign
from engmon.core.clock import ReplayClock
from engmon.core.metrics import parse_offset
from engmon.core.printable import printable
from engmon.core.store import ObservationStore
from engmon.errors import EmptyInputError, InputError
from engmon.sources.playback import ReplaySource
from engmon.watch.session import Session

if TYPE_CHECKING:
    from engmon.sources.files import FileSpec, LoadedFile


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


def replay_session(
    frame: pl.DataFrame,
    campaign: Campaign,
    *,
    speed: float = 60.0,
    start: timedelta = timedelta(0),
    paused: bool = False,
    name: str = "replay",
    history_dir: Path | None = None,
) -> Session:
    """A session replaying `frame` on a replay clock: no recording, no HTTP polled.

    `history_dir`: past posts to draw the expected band from (this one is kept there on exit).
    """
    campaign, source, clock, store = replay_setup(
        frame, campaign, speed=speed, start=start, paused=paused, name=name
    )
    return Session(campaign, [source], clock, store=store, history_dir=history_dir)


def parse_start(start: str | timedelta) -> timedelta:
    """`--start` text (90s, 15m, 1h) -> offset after the post; InputError when unreadable."""
    if isinstance(start, timedelta):
        return start
    try:
        offset = parse_offset(start)
    except ValueError:
        raise InputError(
            f"--start {start!r}: not an offset; use seconds or 90s, 15m, 1h, 1h30m"
        ) from None
    if offset > MAX_SPAN:  # past any post time engmon accepts: the clock could not hold it
        raise InputError(f"--start {start!r}: later than any post could be watched")
    return offset


def load_with_progress(spec: FileSpec) -> LoadedFile:
    """Load the file `spec` describes, with a progress line and its notes on stderr."""
    from engmon.sources.files import load_observations

    began = time.perf_counter()
    path = spec.path
    shown = [-1]

    tty = sys.stderr.isatty()  # a progress line only where it can be redrawn and erased

    def show(fraction: float) -> None:
        if not tty:
            return
        percent = int(fraction * 100)
        if percent != shown[0]:  # one redraw per percent, not per chunk
            shown[0] = percent
            print(
                f"\rengmon: loading {printable(path)} … {percent}%",
                end="",
                file=sys.stderr,
                flush=True,
            )

    try:
        loaded = load_observations(spec, show)
    finally:
        if shown[0] >= 0:  # erase the progress line (an error then stands alone)
            print("\r\x1b[2K", end="", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - began
    print(
        f"engmon: loaded {loaded.frame.height:,} observations from {printable(path)}"
        f" in {seconds:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    for note in loaded.notes:
        print(f"engmon: {printable(note)}", file=sys.stderr, flush=True)
    return loaded
