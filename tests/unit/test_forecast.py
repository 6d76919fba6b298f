"""SEISMIC and the curve-fit fallback: kernel closed forms, hand-computed tiny cascades,
recovery of known parameters on simulated cascades, and degenerate input."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from engmon.core import forecast as fc
from engmon.core.schema import conform

C = 0.242 / (300.0 * 1.242)


def _integrate(func: object, lo: float, hi: float, points: int = 400_001) -> float:
    """Trapezoid rule on a dense grid (the reference the closed forms are checked against)."""
    grid = np.linspace(lo, hi, points)
    values = func(grid)  # type: ignore[operator]
    return float(np.sum((values[1:] + values[:-1]) * np.diff(grid)) / 2)


# --- kernel ---------------------------------------------------------------------------------------


def test_kernel_height_is_the_papers_constant() -> None:
    assert abs(fc.KERNEL_C - 6.49e-4) < 5e-7


def test_kernel_values_flat_then_power_law() -> None:
    phi = fc.memory_kernel([-1.0, 0.0, 100.0, 300.0, 600.0, 3000.0])
    assert phi[0] == 0.0
    assert phi[1] == phi[2] == phi[3] == pytest.approx(C)
    assert phi[4] == pytest.approx(C * 2.0**-1.242)
    assert phi[5] == pytest.approx(C * 10.0**-1.242)


def test_kernel_integral_closed_form() -> None:
    # Phi(s) = c s on the flat part, c s0 (1 + (1 - (s/s0)^-theta) / theta) after
    assert fc.kernel_integral(120.0)[()] == pytest.approx(C * 120.0)
    expected = C * 300.0 * (1 + (1 - 12.0**-0.242) / 0.242)
    assert fc.kernel_integral(3600.0)[()] == pytest.approx(expected)
    assert fc.kernel_integral(1e15)[()] == pytest.approx(1.0, abs=1e-3)
    assert fc.kernel_integral(-5.0)[()] == 0.0


def test_kernel_integral_matches_numerical_integration() -> None:
    for upper in (250.0, 900.0, 7200.0):
        numeric = _integrate(fc.memory_kernel, 0.0, upper)
        assert fc.kernel_integral(upper)[()] == pytest.approx(numeric, rel=1e-4)


@pytest.mark.parametrize("elapsed", [100.0, 450.0, 5000.0])
@pytest.mark.parametrize("power", [1, 2])
def test_triangle_weighted_integral_matches_numerical(elapsed: float, power: int) -> None:
    window = 900.0

    def weighted(u: np.ndarray) -> np.ndarray:
        k = np.maximum(1.0 - (elapsed - u) / window, 0.0)
        return np.asarray(k**power * fc.memory_kernel(u))

    closed = fc._triangle_weighted(np.array([elapsed]), window, power, fc.THETA, fc.S0)[0]
    assert closed == pytest.approx(_integrate(weighted, 0.0, elapsed), rel=1e-4)


# --- hand-computed tiny cascade -------------------------------------------------------------------


def test_tiny_cascade_by_hand() -> None:
    # 10 reshares by accounts with no followers at 10, 20, ..., 100 s; the author has 100k.
    # At t = 300 s the window is max(t/2, 300) = 300; every delay is on the kernel's flat part.
    times = np.arange(1, 11) * 10.0
    result = fc.seismic_forecast(times, np.zeros(10), 100_000.0, 300.0)
    numerator = sum(1 - (300 - t) / 300 for t in times)  # = 550 / 300
    denominator = 100_000 * C * 150.0  # int_0^300 (u / 300) c du = 150 c
    p = numerator / denominator
    assert result.infectiousness == pytest.approx(p)
    exposure = 100_000 * (1 - C * 300.0)
    assert result.state == "forecast"
    assert result.model == "SEISMIC"
    assert result.observed == 10
    assert result.predicted == pytest.approx(10 + p * exposure / (1 - 100 * p))
    assert result.low is not None and result.high is not None and result.predicted is not None
    assert 10 <= result.low < result.predicted < result.high


def test_infectiousness_interval_by_hand() -> None:
    times = np.arange(1, 11) * 10.0
    estimate = fc.infectiousness(times, np.zeros(10), 100_000.0, 300.0)
    assert estimate is not None
    d1 = 100_000 * C * 150.0
    d2 = 100_000 * C * 100.0  # int_0^300 (u / 300)^2 c du = 100 c
    se = math.sqrt(estimate.p * d2) / d1
    assert estimate.high == pytest.approx(estimate.p + 1.959964 * se)
    assert estimate.low == pytest.approx(max(estimate.p - 1.959964 * se, 0.0))


def test_window_widens_until_it_holds_enough_reshares() -> None:
    times = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 6000.0])
    # t/2 = 3500 s holds only one reshare; the 5th latest is at 20 s
    window = fc.estimation_window(times, 7000.0)
    assert window > 7000.0 - 20.0
    assert fc.estimation_window(times[:3], 7000.0) == 3500.0
    assert fc.estimation_window(times[:3], 100.0) == 300.0
    assert fc.estimation_window(times[:3], 1e6) == 7200.0


def test_supercritical_cascade_is_taking_off() -> None:
    times = np.linspace(5.0, 290.0, 40)
    result = fc.seismic_forecast(times, np.full(40, 50.0), 1000.0, 300.0)
    assert result.state == "taking-off"
    assert result.predicted is None
    assert result.high is None
    assert result.infectiousness is not None and result.infectiousness * 100 >= 1
    assert "taking off" in result.sure


# --- simulated cascades with known parameters -----------------------------------------------------


def _kernel_delays(rng: np.random.Generator, count: int) -> np.ndarray:
    """Draw delays from phi by inverting Phi (flat part, then the power-law tail)."""
    u = rng.random(count)
    flat = C * 300.0
    tail = 300.0 * np.power(1.0 - 0.242 * (u / flat - 1.0), -1.0 / 0.242)
    return np.where(u <= flat, u / C, tail)


def _simulate(
    seed: int, p: float, poster: float, mean_followers: float = 100.0
) -> tuple[np.ndarray, np.ndarray]:
    """Marked Hawkes process with the SEISMIC kernel, in its branching form: each account
    with n followers gets Poisson(p n) reshares at kernel delays; followers are geometric."""
    rng = np.random.default_rng(seed)
    times: list[float] = []
    followers: list[float] = []
    frontier = [(0.0, poster)]
    while frontier:
        start, audience = frontier.pop()
        for delay in _kernel_delays(rng, int(rng.poisson(p * audience))):
            n = float(rng.geometric(1.0 / mean_followers))
            times.append(start + float(delay))
            followers.append(n)
            frontier.append((start + float(delay), n))
    order = np.argsort(times)
    return np.asarray(times)[order], np.asarray(followers)[order]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovers_infectiousness_of_simulated_cascade(seed: int) -> None:
    true_p = 0.004  # m = p n* = 0.4
    times, followers = _simulate(seed, true_p, 200_000.0)
    estimate = fc.infectiousness(times[times <= 3600], followers[times <= 3600], 200_000.0, 3600)
    assert estimate is not None
    assert estimate.p == pytest.approx(true_p, rel=0.15)
    assert estimate.low <= true_p <= estimate.high


def test_predicts_final_size_of_simulated_cascades() -> None:
    errors = []
    covered = 0
    for seed in range(10, 20):
        times, followers = _simulate(seed, 0.004, 200_000.0)
        result = fc.seismic_forecast(times, followers, 200_000.0, 3600.0)
        assert result.state == "forecast"
        assert result.predicted is not None and result.low is not None
        errors.append(abs(result.predicted - times.size) / times.size)
        high = math.inf if result.high is None else result.high
        covered += result.low <= times.size <= high
    assert float(np.median(errors)) < 0.15
    assert covered >= 8  # the 95% interval holds the final size in most runs


# --- degenerate input -----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 5])
def test_tiny_cascades_are_not_enough_data(count: int) -> None:
    times = np.linspace(10.0, 600.0, count)
    result = fc.seismic_forecast(times, np.full(count, 300.0), 10_000.0, 3600.0)
    assert result.state == "not-enough-data"
    assert result.predicted is None and result.low is None and result.high is None
    assert result.observed == count
    assert result.sure.startswith("not enough data yet")


def test_all_reshares_at_one_instant() -> None:
    result = fc.seismic_forecast(np.full(30, 120.0), np.full(30, 200.0), 5000.0, 120.0)
    assert result.state == "not-enough-data"
    later = fc.seismic_forecast(np.full(30, 120.0), np.full(30, 200.0), 5000.0, 3600.0)
    assert later.state == "not-enough-data"


def test_zero_follower_everyone() -> None:
    result = fc.seismic_forecast(np.linspace(1, 600, 30), np.zeros(30), 0.0, 900.0)
    assert result.state == "not-enough-data"
    assert "follower" in result.reason


def test_bad_numbers_are_dropped_not_crashing() -> None:
    times = np.array([np.nan, -5.0, *np.linspace(10, 500, 12)])
    followers = np.array([10.0, 10.0, *np.full(12, np.inf)])
    result = fc.seismic_forecast(times, followers, 10_000.0, 600.0)
    assert result.state == "not-enough-data"  # infinite followers are dropped: none left
    assert fc.seismic_forecast([], [], 10.0, 0.0).state == "not-enough-data"
    assert fc.seismic_forecast([1.0], [1.0], 10.0, math.nan).state == "not-enough-data"
    with pytest.raises(ValueError):
        fc.seismic_forecast([1.0, 2.0], [1.0], 10.0, 60.0)


def test_events_after_the_forecast_time_are_ignored() -> None:
    times = np.linspace(10.0, 280.0, 20)
    early = fc.seismic_forecast(times, np.full(20, 30.0), 20_000.0, 300.0)
    with_future = fc.seismic_forecast(
        np.concatenate([times, [400.0, 500.0]]), np.full(22, 30.0), 20_000.0, 300.0
    )
    assert with_future == early


# --- curve-fit fallback ---------------------------------------------------------------------------


def test_curve_fit_recovers_power_law_total() -> None:
    minutes = np.arange(60) + 0.5
    rate = 200.0 * minutes**-1.5
    result = fc.curve_forecast(rate)
    expected = rate.sum() + 200.0 * 60.0**-0.5 / 0.5  # what is left: A t^-beta / beta
    assert result.model == "power-law decay fit"
    assert result.state == "forecast"
    assert result.predicted == pytest.approx(expected, rel=1e-6)
    assert result.low is not None and result.high is not None
    assert result.low < expected < result.high


def test_curve_fit_on_noisy_counts_is_close() -> None:
    rng = np.random.default_rng(4)
    minutes = np.arange(120) + 0.5
    rate = 300.0 * minutes**-1.4
    still_to_come = 300.0 * 120.0**-0.4 / 0.4
    result = fc.curve_forecast(rng.poisson(rate))
    assert result.predicted is not None
    assert result.predicted - result.observed == pytest.approx(still_to_come, rel=0.5)


def test_curve_fit_degenerate() -> None:
    assert fc.curve_forecast([]).state == "not-enough-data"
    assert fc.curve_forecast([3.0, 0.0, 1.0]).state == "not-enough-data"
    assert fc.curve_forecast(np.arange(30.0)).state == "not-enough-data"  # still rising
    assert fc.curve_forecast(np.zeros(90)).state == "not-enough-data"
    assert fc.curve_forecast([50.0, *np.full(20, 20.0), *np.full(20, 40.0)]).state == "taking-off"


# --- from observation frames ----------------------------------------------------------------------

POST = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def _frame(metric: str, seconds: list[float], reach: list[int | None]) -> pl.DataFrame:
    return conform(
        pl.DataFrame(
            {
                "ts": [POST + timedelta(seconds=s) for s in seconds],
                "metric": [metric] * len(seconds),
                "value": [1.0] * len(seconds),
                "reach": reach,
            },
            schema_overrides={"reach": pl.Int64},
        )
    ).collect()


def test_forecast_from_deltas_uses_seismic_with_reach() -> None:
    seconds = [float(s) for s in range(10, 110, 10)]
    deltas = _frame("reposts", seconds, [0] * 10)
    result = fc.forecast_from_deltas(deltas, POST, 100_000, 300.0)
    direct = fc.seismic_forecast(np.asarray(seconds), np.zeros(10), 100_000.0, 300.0)
    assert result == direct


def test_forecast_from_deltas_falls_back_to_clicks_curve() -> None:
    rng = np.random.default_rng(5)
    counts = rng.poisson(100.0 * (np.arange(60) + 0.5) ** -1.3)
    seconds = [m * 60.0 + 1 for m, k in enumerate(counts) for _ in range(int(k))]
    deltas = _frame("clicks", seconds, [None] * len(seconds))
    result = fc.forecast_from_deltas(deltas, POST, None, 3600.0)
    assert result.model in ("power-law decay fit", "exponential decay fit")
    assert result == fc.curve_forecast(counts.astype(float))


def test_curve_fit_prefers_exponential_for_exponential_decay() -> None:
    minutes = np.arange(45) + 0.5
    rate = 30.0 * np.exp(-minutes / 12.0)
    result = fc.curve_forecast(rate)
    expected = rate.sum() + 30.0 * 12.0 * math.exp(-45 / 12.0)  # tail: A tau e^(-t/tau)
    assert result.model == "exponential decay fit"
    assert result.predicted == pytest.approx(expected, rel=1e-6)
    assert result.state == "forecast"


def test_curve_fit_growing_exponentially_is_taking_off() -> None:
    rate = 100.0 * np.exp(-np.arange(10) / 3.0)
    growing = np.concatenate([rate, 2.0 * np.exp(np.arange(30) / 10.0)])
    assert growing.argmax() == 0  # the busiest minute is the first, yet it grows again
    result = fc.curve_forecast(growing)
    assert result.state == "taking-off"
