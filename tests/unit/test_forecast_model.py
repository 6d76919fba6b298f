"""The calibrated forecast: features by hand, a hand-made model's arithmetic, and the properties
every forecast keeps (never below what happened, smooth, final at the end, sensible ranges)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from engmon.core import forecast_model as fm

CASCADES = Path(__file__).parent.parent / "data" / "cascades"


def _tree_model(leaves: tuple[float, float]) -> fm.Model:
    """A model with literal constants: one tree splitting on recent_half at 0 (a steady or
    fading rate goes left), its interval calibrated at 10 and 40 minutes."""
    return fm.Model(
        name=fm.COUNTS,
        features=("recent_half",),
        trees=fm.Trees(
            feature=np.array([[0, 0, 0]]),
            threshold=np.array([[0.0, 0.0, 0.0]]),
            left=np.array([[1, 1, 2]]),
            right=np.array([[2, 1, 2]]),
            value=np.array([[0.0, leaves[0], leaves[1]]]),
            depth=1,
        ),
        ages_s=np.array([600.0, 2400.0]),
        low=np.array([-0.5, -0.1]),
        high=np.array([1.0, 0.3]),
    )


TOY = _tree_model((1.0, 2.0))


def test_features_by_hand() -> None:
    # 8 events at 1..8 min, asked at 10 min
    times = np.arange(1, 9) * 60.0
    row = dict(zip(fm.FEATURES, fm.features(times, 600.0), strict=True))
    assert row["log_age"] == pytest.approx(math.log(10))
    # last 5 min (and last half): minutes 6, 7, 8 against 8 * 5/10 on average
    assert row["recent_5m"] == pytest.approx(math.log(4 / 5))
    assert row["recent_half"] == pytest.approx(math.log(4 / 5))
    assert row["recent_15m"] == pytest.approx(0.0)  # the window is the whole life: steady
    assert row["recent_quarter"] == pytest.approx(math.log(2 / 3))  # (1 + 1) / (8 / 4 + 1)
    assert row["recent_eighth"] == pytest.approx(math.log(1 / 2))  # (0 + 1) / (8 / 8 + 1)
    assert row["decay"] == pytest.approx(math.log(4 / 7))  # (3 + 1) / (2 * 3 + 1)
    assert row["quiet"] == pytest.approx(math.log1p(120 * 8 / 600))  # 2 min, gaps of 75 s
    assert all(row[name] == 0.0 for name in fm.FOLLOWER_FEATURES)  # no followers


def test_follower_features() -> None:
    times = np.arange(1, 9) * 60.0
    followers = np.full(8, 99.0)
    row = dict(zip(fm.FEATURES, fm.features(times, 600.0, followers, 999.0), strict=True))
    assert row["poster"] == pytest.approx(math.log(1000))
    assert row["resharers"] == pytest.approx(math.log(100))
    assert row["exposure"] > 0 and row["seismic"] >= row["seismic_next"] > 0


def test_curve_features_match_event_features_at_minute_middles() -> None:
    counts = np.array([0.0, 3, 5, 2, 2, 1, 0, 1, 1, 0])
    times = np.repeat(np.arange(10) + 0.5, counts.astype(int)) * 60.0
    assert np.allclose(fm.curve_features(counts, 600.0), fm.features(times, 600.0))


def test_hand_made_model_walks_its_tree_and_interpolates_its_range_in_log_time() -> None:
    steady = fm.count_forecast(np.full(10, 2.0), model=TOY)  # recent_half = log(11/11): left
    assert steady.predicted == pytest.approx(20 * math.exp(1.0))
    assert steady.low == pytest.approx(20 * math.exp(0.5))
    assert steady.high == pytest.approx(20 * math.exp(2.0))
    rising = fm.count_forecast(np.arange(1.0, 11.0), model=TOY)  # recent rate above average
    assert rising.predicted == pytest.approx(55 * math.exp(2.0))
    # 20 minutes: the average of the estimates at minutes 20, 19 and 18 (each steady), and the
    # range halfway between its 10 and 40 minute values in log time
    later = fm.count_forecast(np.full(20, 1.0), model=TOY)
    centre = (math.log(20 * 19 * 18) / 3 + 1.0) - math.log(20)
    assert later.predicted == pytest.approx(20 * math.exp(centre))
    assert later.low == pytest.approx(20 * math.exp(centre - 0.3))
    assert later.high == pytest.approx(20 * math.exp(centre + 0.65))
    # past the last age the last range holds
    late = fm.count_forecast(np.full(60, 1.0), model=TOY)
    assert late.high is not None and late.predicted is not None
    assert math.log(late.high / late.predicted) == pytest.approx(0.3)


def test_never_below_what_happened() -> None:
    shrink = _tree_model((-2.0, -2.0))
    got = fm.count_forecast(np.full(12, 3.0), observed=40.0, model=shrink)
    assert got.predicted == got.low == 40.0  # the running minute brought 4 more
    assert got.high is not None and got.high >= 40.0


def test_final_is_the_count() -> None:
    got = fm.count_forecast(np.full(30, 2.0), observed=61.0, final=True)
    assert (got.predicted, got.low, got.high) == (61.0, 61.0, 61.0)
    shares = fm.reshare_forecast([60.0, 120.0], [10.0, 20.0], 1000.0, 7200.0, final=True)
    assert shares.predicted == 2.0 and "final count" in shares.sure


def test_not_enough_data() -> None:
    assert fm.count_forecast(np.array([1.0, 1, 1])).state == "not-enough-data"  # 3 events
    early = fm.count_forecast(np.array([30.0, 20, 10]))  # 60 events, but only 3 minutes
    assert early.state == "not-enough-data" and "minute 5" in early.reason
    assert fm.count_forecast(np.zeros(0)).state == "not-enough-data"


def _decaying(minutes: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(60.0 * (np.arange(minutes) + 1.0) ** -0.9).astype(float)


def test_shipped_model_moves_smoothly_and_narrows_with_age() -> None:
    curve = _decaying(360)
    made = [fm.count_forecast(curve[:m]) for m in range(30, 361)]
    predicted = np.array([f.predicted for f in made], dtype=float)
    assert np.all(np.isfinite(predicted))
    assert float(np.max(np.abs(np.diff(np.log(predicted))))) < math.log(2.0)
    for f in made:
        assert f.low is not None and f.high is not None and f.predicted is not None
        assert f.observed <= f.low <= f.predicted <= f.high
    width = [math.log(f.high / f.low) for f in made if f.high and f.low]
    assert width[-1] < width[0]  # older posts: narrower ranges


def test_shipped_reshare_model_on_a_small_cascade() -> None:
    rng = np.random.default_rng(2)
    times = np.sort(rng.uniform(0, 3600, 40))
    followers = rng.integers(10, 5000, 40).astype(float)
    at_30 = fm.reshare_forecast(times, followers, 20_000.0, 1800.0)
    at_60 = fm.reshare_forecast(times, followers, 20_000.0, 3600.0)
    for got in (at_30, at_60):
        assert got.state == "forecast" and got.level == 0.9
        assert got.predicted is not None and got.predicted >= got.observed
    assert at_60.observed == 40


def _cascade(name: str) -> tuple[float, np.ndarray, np.ndarray]:
    """Poster followers, reshare times (s) and followers of a fixture, read with plain Python."""
    rows = [line.split() for line in (CASCADES / name).read_text().splitlines()[1:] if line]
    return (
        float(rows[0][1]),
        np.array([float(r[0]) for r in rows[1:]]),
        np.array([float(r[1]) for r in rows[1:]]),
    )


def test_shipped_model_on_a_real_cascade() -> None:
    poster, times, followers = _cascade("tideh_RT2_seconds.txt")
    made = [
        fm.reshare_forecast(times, followers, poster, minute * 60.0) for minute in range(5, 361)
    ]
    for got in made:
        assert got.state == "forecast" and got.level == 0.9
        assert got.predicted is not None and got.low is not None and got.high is not None
        assert got.observed <= got.low <= got.predicted <= got.high
        assert got.observed == np.count_nonzero(times <= got.at_s)
    after_30 = np.array([got.predicted for got in made[25:]], dtype=float)
    assert float(np.max(np.abs(np.diff(np.log(after_30))))) < math.log(2.0)
    end = fm.reshare_forecast(times, followers, poster, float(times.max()) + 1.0, final=True)
    assert end.predicted == end.low == end.high == times.size == 2273


def test_shipped_trees_are_what_the_walk_expects() -> None:
    models = fm.load_models()
    assert set(models) == {fm.RESHARES, fm.COUNTS}
    for model in models.values():
        trees = model.trees
        count, nodes = trees.feature.shape
        assert count >= 10 and trees.depth >= 1
        for table in (trees.threshold, trees.left, trees.right, trees.value):
            assert table.shape == (count, nodes)
        assert np.all((trees.feature >= 0) & (trees.feature < len(model.features)))
        assert np.all((trees.left >= 0) & (trees.left < nodes))
        assert np.all((trees.right >= 0) & (trees.right < nodes))
        assert np.all(np.isfinite(trees.threshold)) and np.all(np.isfinite(trees.value))
        # from the root, `depth` steps reach a leaf (a node pointing to itself) whatever the
        # comparisons say: walk every branch
        rows = np.arange(count)[:, None]
        frontier = np.zeros((count, 1), dtype=np.int64)
        for _ in range(trees.depth):
            frontier = np.concatenate(
                [trees.left[rows, frontier], trees.right[rows, frontier]], axis=1
            )
        assert np.all(trees.left[rows, frontier] == frontier)
        assert np.all(trees.right[rows, frontier] == frontier)
        assert set(model.features) <= set(fm.FEATURES)
        assert np.all(np.diff(model.ages_s) > 0) and model.ages_s.shape == model.low.shape
        assert np.all(model.low <= 0) and np.all(model.high >= 0)
        # a plausible median: a steady post at an hour grows, but not a thousandfold
        ratio = model.log_ratio(fm.features(np.linspace(0, 3600, 200)[1:], 3600.0))
        assert 0.0 < ratio < math.log(1000)


@pytest.mark.parametrize(
    ("at_s", "reason"),
    [(0.0, "the post just went out"), (-60.0, "the post has not gone out yet")],
)
def test_no_forecast_at_or_before_the_post_says_which(at_s: float, reason: str) -> None:
    for made in (
        fm.count_forecast([], at_s),
        fm.reshare_forecast([], [], 1000.0, at_s),
    ):
        assert made.reason == reason
