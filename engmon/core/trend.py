"""The trend words: where a post stands against expectations and what shape its curve is in.

Two small state machines walk the post's minutes from the start to the clock, so the word at
a moment depends only on the data up to it (a replay seeked back, `report --at` and the live
dashboard agree) and a word changes only when the evidence is clear (hysteresis):

- **shape** of the headline's curve: `just starting` until there is a minimum of evidence,
  `flat` when almost nothing came in, then `still growing` / `slowing` / `over`. The rate over
  the last W minutes (W grows with the post's age: a quarter of it, 5 to 60 minutes) is
  compared with the best W minutes so far; the comparison allows for Poisson noise, and
  entering a word needs a clearer margin than staying in it.
- **position** against expectations, when there is something to compare with (your own past
  posts, or public posts from accounts your size): `ahead`, `on track` or `behind` from the
  share of those posts the current one beats, with the same kind of margins.

Pure numpy over per-minute counts (one small loop over the checkpoints, not over events).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

Shape = Literal["just starting", "flat", "still growing", "slowing", "over"]
Position = Literal["ahead", "on track", "behind"]

MIN_MINUTES: Final = 5
"""Before this many whole minutes every post is "just starting"."""
MIN_EVENTS: Final = 10
"""Fewer headline events than this: no shape word yet ("just starting", or "flat" later)."""
FLAT_AFTER: Final = 10
"""From this minute on, a post with almost nothing is "flat"."""
FLAT_EVENTS: Final = 3
"""Fewer headline events than this after `FLAT_AFTER` minutes: flat."""
FLAT_PER_1K: Final = 0.05
"""Engagement per 1k followers below which a post `FLAT_AFTER` minutes old is flat."""
LITTLE_AFTER: Final = 30
"""From this minute on, a post with a few events (under MIN_EVENTS) is judged all the same."""
MIN_WINDOW: Final = 5
MAX_WINDOW: Final = 60
NOISE_Z: Final = 2.0
"""Poisson margin (standard deviations) the recent count must clear to change a word."""
SLOWING_IN: Final = 0.5
"""The recent rate is clearly below this share of the best window so far: slowing."""
GROWING_IN: Final = 0.75
"""The recent rate is clearly above this share of the best window: still growing again."""
OVER_IN: Final = 0.04
"""The recent rate is clearly below this share of the best window: over."""
OVER_OUT: Final = 0.3
"""An over post whose rate is clearly back above this share is slowing again."""
AHEAD_IN: Final = 0.8
"""Beats at least this share of the compared posts: ahead (stays ahead down to AHEAD_OUT)."""
AHEAD_OUT: Final = 0.65
BEHIND_IN: Final = 0.2
"""Beats less than this share: behind (stays behind up to BEHIND_OUT)."""
BEHIND_OUT: Final = 0.35


def window(minute: int) -> int:
    """Minutes of the "recent" window at `minute` since the post: a quarter of its age."""
    return max(MIN_WINDOW, min(MAX_WINDOW, minute // 4))


def checkpoints(minutes: int) -> list[int]:
    """The whole minutes at which the words are re-judged: every minute for three hours, then
    every 5 (to a day), then every 30; the last whole minute always."""
    points = [m for m in range(1, minutes + 1) if m <= 180 or m % (5 if m <= 1440 else 30) == 0]
    if minutes >= 1 and (not points or points[-1] != minutes):
        points.append(minutes)
    return points


@dataclass(frozen=True)
class Evidence:
    """The numbers behind a shape word at one checkpoint (for tests and the docs)."""

    minute: int
    window: int
    recent: float
    best: float


def _best_windows(cum: FloatArray, points: Sequence[int]) -> dict[int, FloatArray]:
    """Per window width used at `points`: the running best W-minute count ending at each
    minute (index m: the best window inside minutes [0, m))."""
    out: dict[int, FloatArray] = {}
    for width in sorted({window(m) for m in points}):
        sums = np.zeros(len(cum), dtype=np.float64)
        if len(cum) > width:
            sums[width:] = cum[width:] - cum[:-width]
        # a window shorter than W at the start counts what it holds
        sums[1 : min(width, len(cum))] = cum[1 : min(width, len(cum))]
        out[width] = np.maximum.accumulate(sums)
    return out


def _below(count: float, share: float, best: float) -> bool:
    """`count` is clearly (beyond Poisson noise) below `share` of `best`."""
    return count + NOISE_Z * math.sqrt(count) + 1.0 < share * best


def _above(count: float, share: float, best: float) -> bool:
    """`count` is clearly above `share` of `best`."""
    return count - NOISE_Z * math.sqrt(count) > share * best


def shape_path(
    per_minute: FloatArray,
    engaged_per_1k: FloatArray | None = None,
) -> list[tuple[int, Shape]]:
    """The shape word at every checkpoint from the headline's counts per whole minute since
    the post (`per_minute[i]`: minute i). `engaged_per_1k[i]`: the engagement per 1k
    followers by the end of minute i, when the audience is known (a big account with a
    handful of clicks is flat, not growing)."""
    minutes = len(per_minute)
    cum = np.concatenate([[0.0], np.cumsum(per_minute, dtype=np.float64)])
    points = checkpoints(minutes)
    best = _best_windows(cum, points)
    state: Shape = "just starting"
    path: list[tuple[int, Shape]] = []
    for m in points:
        total = float(cum[m])
        tiny = total < FLAT_EVENTS or (
            engaged_per_1k is not None and float(engaged_per_1k[m - 1]) < FLAT_PER_1K
        )
        early = total < MIN_EVENTS and m < LITTLE_AFTER
        if m < MIN_MINUTES or (early and not (tiny and m >= FLAT_AFTER)):
            state = "just starting" if state in ("just starting", "flat") else state
            path.append((m, state))
            continue
        if tiny and m >= FLAT_AFTER and state in ("just starting", "flat"):
            state = "flat"
            path.append((m, state))
            continue
        width = window(m)
        recent = float(cum[m] - cum[max(0, m - width)])
        top = float(best[width][m])
        if state in ("just starting", "flat"):
            state = "still growing"
            if _below(recent, OVER_IN, top):
                state = "over"
            elif _below(recent, SLOWING_IN, top):
                state = "slowing"
        elif state == "still growing":
            if _below(recent, OVER_IN, top):
                state = "over"
            elif _below(recent, SLOWING_IN, top):
                state = "slowing"
        elif state == "slowing":
            if _below(recent, OVER_IN, top):
                state = "over"
            elif _above(recent, GROWING_IN, top):
                state = "still growing"
        elif state == "over":
            if _above(recent, GROWING_IN, top):
                state = "still growing"
            elif _above(recent, OVER_OUT, top):
                state = "slowing"
        path.append((m, state))
    return path


def shape_at(per_minute: FloatArray, engaged_per_1k: FloatArray | None = None) -> Shape:
    """The shape word after the last whole minute of `per_minute` (see `shape_path`)."""
    path = shape_path(per_minute, engaged_per_1k)
    return path[-1][1] if path else "just starting"


RankAt = Callable[[int], "float | None"]
"""The share (0..1) of compared posts the current one beats at a whole minute, None when
there is nothing to compare with at that minute."""


def position_path(points: Sequence[int], rank_at: RankAt) -> list[tuple[int, Position | None]]:
    """The position word at each checkpoint from `rank_at` (None where nothing compares)."""
    state: Position | None = None
    path: list[tuple[int, Position | None]] = []
    for m in points:
        rank = rank_at(m) if m >= MIN_MINUTES else None
        if rank is None:
            state = None
        elif state is None:
            state = "ahead" if rank >= AHEAD_IN else "behind" if rank < BEHIND_IN else "on track"
        elif state == "ahead" and rank < AHEAD_OUT:
            state = "behind" if rank < BEHIND_IN else "on track"
        elif state == "behind" and rank >= BEHIND_OUT:
            state = "ahead" if rank >= AHEAD_IN else "on track"
        elif state == "on track":
            state = "ahead" if rank >= AHEAD_IN else "behind" if rank < BEHIND_IN else state
        path.append((m, state))
    return path
