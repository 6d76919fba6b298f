"""Build engmon/core/data/reference.json: reshares per 1k followers of public posts, by minute
since the post and audience band (read by engmon.core.reference.public_rank).

Reads /work/shared/data/cascades/train/evently_auspol_train.csv only (3,320 Twitter posts about
Australian politics with every retweet's time; MIT, behavioral-ds/evently d3e6a693, see
bench/_cascades.py). Its source had 3,333 cascades: the 13 with 50 events or more were kept out
for evaluation; the table records them as a missing top share (they count as ahead of every
post). The 72 large TiDeH cascades are not used: they were picked for being large, so they are
no sample of public posts. Run by hand, never by tests:

    python -m bench.build_reference [--write]
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from bench._cascades import TRAIN, read_flat

OUT = Path(__file__).resolve().parent.parent / "engmon/core/data/reference.json"
BAND_EDGES = (10, 100, 1_000, 10_000, 100_000, 1_000_000)
MINUTES = (1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1440)
LOG_VALUES = np.round(np.arange(-3.0, 3.01, 0.1), 2)
SOURCE_CASCADES = 3333
"""Cascades in evently's auspol data set; the file holds all but its largest."""


def build() -> dict[str, object]:
    """The table, from the auspol cascades."""
    cascades = read_flat(TRAIN / "evently_auspol_train.csv", "small")
    followers = np.array([c.poster_followers for c in cascades])
    missing = (SOURCE_CASCADES - len(cascades)) / SOURCE_CASCADES
    zero, below, posts = [], [], []
    for lo, hi in itertools.pairwise(BAND_EDGES):
        members = [c for c, f in zip(cascades, followers, strict=True) if lo <= f < hi]
        posts.append(len(members))
        band_zero, band_below = [], []
        for minute in MINUTES:
            counts = np.array([np.count_nonzero(c.times_s <= minute * 60) for c in members])
            per_1k = counts * 1000.0 / np.array([c.poster_followers for c in members])
            band_zero.append(round(float(np.mean(per_1k == 0)), 4))
            values = 10.0**LOG_VALUES
            band_below.append([round(float(np.mean(per_1k < v)), 4) for v in values])
        zero.append(band_zero)
        below.append(band_below)
    return {
        "about": (
            "Reshares per 1k followers of public posts by minute since the post and audience "
            "band, from evently's auspol retweet cascades (MIT, behavioral-ds/evently d3e6a693), "
            "built by bench/build_reference.py."
        ),
        "band_edges": list(BAND_EDGES),
        "minutes": list(MINUTES),
        "log_values": LOG_VALUES.tolist(),
        "posts": posts,
        "missing": round(missing, 5),
        "zero": zero,
        "below": below,
    }


def main_build(argv: list[str]) -> None:
    """Print what the table says for a few posts; write it with --write."""
    table = build()
    print(
        f"   posts per band {table['posts']} (edges {BAND_EDGES}), missing top {table['missing']}"
    )
    if "--write" in argv:
        OUT.write_text(json.dumps(table, separators=(",", ":")) + "\n")
        print(f"   wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main_build(sys.argv[1:])
