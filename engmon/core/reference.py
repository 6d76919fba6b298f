"""How a post stands against public posts from accounts of its size, without any history.

A day-one user has no past posts to compare with. engmon ships a small table built from public
retweet cascades (`bench/build_reference.py`, constants in `data/reference.json`): for audience
bands (10-100 followers, 100-1k, 1k-10k, 10k-100k, 100k-1M) and minutes since the post (1 to
1440), the distribution of reshares per 1k followers of the poster, as the share of posts below
each value of a log grid. `public_rank` reads it: "ahead of 80% of public posts from accounts
your size at minute 20".

The posts are 3,320 Twitter posts about Australian politics (evently's auspol set, MIT); the
source's 13 largest cascades (50 reshares or more, 0.4%) are not in the file, so they count as
ahead of every post: no rank reaches past 99.6%.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

import numpy as np
import numpy.typing as npt

COMPARISON: Final = "reshares of public posts"
"""What the comparison is, for the words beside a rank."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Table:
    """The shipped table (see data/reference.json)."""

    band_edges: FloatArray
    """Follower counts bounding the bands: band i holds [edges[i], edges[i+1])."""
    minutes: FloatArray
    log_values: FloatArray
    """log10 of reshares per 1k followers at which the shares are given."""
    zero: FloatArray
    """Per band and minute: the share of posts with no reshare yet."""
    below: FloatArray
    """Per band, minute and value: the share of posts with fewer reshares per 1k."""
    missing: float
    """Share of the source's posts absent from the table because they were the largest."""
    posts: FloatArray
    """Posts per band (how much each band's ranks rest on)."""


@cache
def load_table() -> Table:
    """The shipped table (read once)."""
    text = resources.files("engmon.core").joinpath("data/reference.json").read_text()
    raw = json.loads(text)
    return Table(
        band_edges=np.asarray(raw["band_edges"], dtype=np.float64),
        minutes=np.asarray(raw["minutes"], dtype=np.float64),
        log_values=np.asarray(raw["log_values"], dtype=np.float64),
        zero=np.asarray(raw["zero"], dtype=np.float64),
        below=np.asarray(raw["below"], dtype=np.float64),
        missing=float(raw["missing"]),
        posts=np.asarray(raw["posts"], dtype=np.float64),
    )


def _rank_at(table: Table, band: int, minute: int, per_1k: float) -> float:
    """Share of the band's posts with fewer reshares per 1k at grid minute `minute`."""
    if per_1k <= 0.0:
        return 0.0
    below = table.below[band, minute]
    x = math.log10(per_1k)
    if x <= table.log_values[0]:
        # between no reshare and the first value of the grid
        return float(table.zero[band, minute])
    return float(np.interp(x, table.log_values, below))


def public_rank(
    minute: float, followers: int, reshares: float, *, table: Table | None = None
) -> float | None:
    """The share (0..1) of public posts from accounts of this size that had fewer reshares per
    1k followers than this post at `minute` since the post; None out of the table's range
    (audience under 10 or over 1M followers, before minute 1, after a day, no number)."""
    chosen = table or load_table()
    values = (minute, float(followers), reshares)
    if not all(math.isfinite(v) for v in values) or reshares < 0:
        return None
    edges = chosen.band_edges
    if (
        not edges[0] <= followers <= edges[-1]
        or not chosen.minutes[0] <= minute <= chosen.minutes[-1]
    ):
        return None
    band = min(int(np.searchsorted(edges, followers, side="right")) - 1, edges.size - 2)
    per_1k = reshares * 1000.0 / followers
    grid = chosen.minutes
    after = int(np.searchsorted(grid, minute))
    if grid[after] == minute or after == 0:
        share = _rank_at(chosen, band, after, per_1k)
    else:
        # between two minutes of the grid: interpolate in log time
        before = after - 1
        w = math.log(minute / grid[before]) / math.log(grid[after] / grid[before])
        share = (1 - w) * _rank_at(chosen, band, before, per_1k) + w * _rank_at(
            chosen, band, after, per_1k
        )
    return min(max(share, 0.0), 1.0) * (1.0 - chosen.missing)
