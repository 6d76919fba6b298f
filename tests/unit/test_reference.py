"""The public reference: ranks read from a literal table by hand, and the shipped table's shape."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from engmon.core import reference as ref

# one band (100 to 1,000 followers), two minutes (10 and 40), values 0.1, 1 and 10 per 1k
TOY = ref.Table(
    band_edges=np.array([100.0, 1000.0]),
    minutes=np.array([10.0, 40.0]),
    log_values=np.array([-1.0, 0.0, 1.0]),
    zero=np.array([[0.5, 0.25]]),
    below=np.array([[[0.5, 0.7, 0.9], [0.25, 0.5, 0.8]]]),
    missing=0.0,
    posts=np.array([100.0]),
)


def test_rank_by_hand() -> None:
    # 1 reshare on 1,000 followers = 1 per 1k: 70% of posts had fewer at minute 10
    assert ref.public_rank(10, 999, 0.999, table=TOY) == pytest.approx(0.7)
    assert ref.public_rank(40, 500, 0.5, table=TOY) == pytest.approx(0.5)
    # no reshare: ahead of nobody
    assert ref.public_rank(10, 500, 0, table=TOY) == 0.0
    # half way between two values of the grid (log scale)
    assert ref.public_rank(10, 500, 0.5 * math.sqrt(10), table=TOY) == pytest.approx(0.8)
    # 20 minutes: half way between 10 and 40 in log time
    assert ref.public_rank(20, 500, 0.5, table=TOY) == pytest.approx(0.6)


def test_out_of_range_is_none() -> None:
    assert ref.public_rank(5, 500, 1, table=TOY) is None  # before the table's first minute
    assert ref.public_rank(41, 500, 1, table=TOY) is None
    assert ref.public_rank(10, 50, 1, table=TOY) is None
    assert ref.public_rank(10, 2000, 1, table=TOY) is None
    assert ref.public_rank(10, 500, float("nan"), table=TOY) is None
    assert ref.public_rank(10, 500, -1, table=TOY) is None


def test_missing_top_caps_the_rank() -> None:
    below = np.array([[[0.5, 0.7, 1.0], [0.25, 0.5, 1.0]]])
    capped = ref.Table(**{**TOY.__dict__, "missing": 0.01, "below": below})
    assert ref.public_rank(10, 500, 1e6, table=capped) == pytest.approx(0.99)


def test_shipped_table() -> None:
    assert ref.COMPARISON == "reshares of public posts"
    table = ref.load_table()
    assert table.below.shape == (
        table.band_edges.size - 1,
        table.minutes.size,
        table.log_values.size,
    )
    assert np.all(np.diff(table.below, axis=2) >= 0)  # more reshares: ahead of more posts
    ranks = [ref.public_rank(20, 2000, r) for r in (0, 1, 2, 5, 20)]
    assert ranks[0] == 0.0
    assert all(a is not None and b is not None and a <= b for a, b in itertools.pairwise(ranks))
    # the same count means less later on: posts keep gathering reshares
    early, late = ref.public_rank(10, 2000, 2), ref.public_rank(600, 2000, 2)
    assert early is not None and late is not None and late < early
    top = ref.public_rank(60, 5000, 1e5)
    assert top is not None and top <= 1 - table.missing
    assert ref.public_rank(20, 5, 1) is None
    assert ref.public_rank(20, 5_000_000, 1) is None
    assert ref.public_rank(3 * 1440, 2000, 1) is None
