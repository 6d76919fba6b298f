"""The calibrated forecast: features by hand, a hand-made model's arithmetic, and the properties
every forecast keeps (never below what happened, smooth, final at the end, sensible ranges)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engmon.core import forecast_model as fm

# a model with literal constants: two ages (10 and 40 minutes), one feature
TOY = fm.Model(
    name=fm.COUNTS,
    features=("recent_half",),
    ages_s=np.array([600.0, 2400.0]),
    mean=np.array([[0.0], [0.0]]),
    scale=np.array([[1.0], [1.0]]),
    coef=np.array([[1.0, 0.5], [0.2, 0.5]]),
    low=np.array([-0.5, -0.1]),
    high=np.array([1.0, 0.3]),
)


def test_features_by_hand() -> None:
    # 8 events at 1..8 min, asked at 10 min: 4 after minute 5 (half), 1 after 7.5 (quarter:
    # 8 min), 0 after 8.75; 2 in (2.5, 5] (minutes 3, 4, 5 -> 3)
    times = np.arange(1, 9) * 60.0
    row = fm.features(times, 600.0)
    assert row[0] == pytest.approx(math.log(4 / 5))  # (half + 1) / (seen / 2 + 1)
    assert row[1] == pytest.approx(math.log(2 / 3))  # (1 + 1) / (8 / 4 + 1)
    assert row[2] == pytest.approx(math.log(1 / 2))  # (0 + 1) / (8 / 8 + 1)
    assert row[3] == pytest.approx(math.log(4 / 7))  # (half + 1) / (2 * 3 + 1)
    assert list(row[4:]) == [0.0, 0.0, 0.0]  # no followers: no SEISMIC terms


def test_curve_features_match_event_features_at_minute_middles() -> None:
    counts = np.array([0.0, 3, 5, 2, 2, 1, 0, 1, 1, 0])
    times = np.repeat(np.arange(10) + 0.5, counts.astype(int)) * 60.0
    assert np.allclose(fm.curve_features(counts, 600.0), fm.features(times, 600.0))


def test_hand_made_model_predicts_and_interpolates_in_log_time() -> None:
    counts = np.array([2.0, 2, 2, 2, 2, 2, 2, 2, 2, 2])  # steady: recent_half = log(11/11)
    got = fm.count_forecast(counts, model=TOY)
    assert got.predicted == pytest.approx(20 * math.exp(1.0))
    assert got.low == pytest.approx(20 * math.exp(0.5))
    assert got.high == pytest.approx(20 * math.exp(2.0))
    # 20 minutes: halfway between 10 and 40 minutes in log time
    later = fm.count_forecast(np.full(20, 1.0), model=TOY)
    assert later.predicted == pytest.approx(20 * math.exp(0.6))
    # past the last age the last coefficients hold
    late = fm.count_forecast(np.full(60, 1.0), model=TOY)
    assert late.predicted == pytest.approx(60 * math.exp(0.2))


def test_never_below_what_happened() -> None:
    shrink = fm.Model(**{**TOY.__dict__, "coef": np.array([[-2.0, 0.0], [-2.0, 0.0]])})
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


def test_shipped_constants_are_whole() -> None:
    models = fm.load_models()
    assert set(models) == {fm.RESHARES, fm.COUNTS}
    for model in models.values():
        ages = model.ages_s.size
        assert np.all(np.diff(model.ages_s) > 0)
        assert model.coef.shape == (ages, len(model.features) + 1)
        assert np.all(model.low <= 0) and np.all(model.high >= 0)
        assert set(model.features) <= set(fm.FEATURES)
