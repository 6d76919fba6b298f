"""Will the magic come? Forecast a post's final number of reshares (and clicks).

Two models, both pure numpy, both returning a `Forecast`:

**SEISMIC** (Zhao, Erdogdu, He, Rajaraman, Leskovec, KDD 2015), implemented from the paper's
equations. Reshares form a self-exciting point process: after the post (time 0, its author has
n_0 followers) and each reshare i at t_i by an account with n_i followers, new reshares arrive
at rate

    lambda(t) = p_t * sum_i n_i * phi(t - t_i)

with the human-reaction memory kernel phi(s) = c for 0 <= s <= s0, c * (s/s0)^-(1+theta) after
(s0 = 5 min, theta = 0.242, c normalised so phi integrates to 1, which gives the paper's
c = 6.49e-4 per second). The infectiousness p_t is estimated with a triangular kernel
K(u) = max(1 - u/w, 0) over the recent past:

    p_hat = sum_{i>=1} K(t - t_i) / sum_{i>=0} n_i * int_{t_i}^{t} K(t - s) phi(s - t_i) ds

with w = t/2 clamped to [5 min, 2 h], widened until it holds at least 5 reshares. Its standard
error comes from the Poisson variance of the kernel-weighted count: se = sqrt(p_hat * D2) / D1
(D1 the denominator above, D2 the same with K squared). The final size is

    N_inf = R_t + alpha * p_hat * N_e / (1 - gamma * p_hat * n_star)

where R_t is the reshares so far, N_e = sum_i n_i * (1 - Phi(t - t_i)) the followers' exposure
still to come (Phi the kernel's integral), and n_star = 100 the paper's average follower count
of a future resharer. alpha = gamma = 1 (the uncalibrated model: the paper's per-time corrections
are learned on a training set we do not have). When gamma * p_hat * n_star >= 1 every resharer
brings in more than one new resharer on average: the expected total is unbounded ("taking off").
The 95% interval combines the infectiousness interval (the prediction at p_low and p_high) with
the branching noise of the future count: mu = alpha p N_e new resharers, each the root of a tree
whose offspring has mean m = gamma p n_star and variance m + p^2 Var(followers of resharers),
so Var = mu (sigma^2 / (1 - m)^3 + 1 / (1 - m)^2).

**Curve fit** (fallback for feeds without follower counts, e.g. clicks): the rate per minute
after the busiest minute is fitted as a power law A * t^-(1+beta) and as an exponential
A * exp(-t/tau) by Poisson regression (IRLS); the likelier one wins and the final size adds its
fitted tail (A * t^-beta / beta, or A * tau * exp(-t/tau)). A rate that is growing again is
"taking off"; a power law fading slower than 1/t has no finite total yet (not enough data).

Both refuse to guess on tiny or degenerate input (few events, all at one instant, nobody with
followers): the state is then "not-enough-data".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from engmon.core.schema import CLICKS, RESHARE_METRICS, RESHARERS, UTC_US
from engmon.core.words import plural

FloatArray = npt.NDArray[np.float64]
State = Literal["not-enough-data", "forecast", "taking-off"]

NOT_ENOUGH: Final = "not-enough-data"
FORECAST: Final = "forecast"
TAKING_OFF: Final = "taking-off"

SEISMIC: Final = "SEISMIC"
POWER_LAW: Final = "power-law decay fit"
EXPONENTIAL: Final = "exponential decay fit"
CURVE_FIT: Final = "curve fit"
"""Model name while there is too little curve to choose between the two fits."""

# Paper defaults (section 4 of the SEISMIC paper and the authors' published defaults).
THETA: Final = 0.242
"""Power-law exponent of the memory kernel's tail."""
S0: Final = 300.0
"""Seconds the memory kernel stays flat (5 minutes)."""
KERNEL_C: Final = THETA / (S0 * (1.0 + THETA))
"""Kernel height, normalised so phi integrates to 1 (= 6.49e-4 per second)."""
N_STAR: Final = 100.0
"""Average followers of a future resharer."""
MIN_WINDOW_S: Final = 300.0
MAX_WINDOW_S: Final = 7200.0
MIN_WINDOW_COUNT: Final = 5
"""The estimation window widens until it holds this many reshares."""
MIN_RESHARES: Final = 10
"""Fewer reshares than this so far: not enough data to forecast."""
MIN_FIT_EVENTS: Final = 10
MIN_FIT_MINUTES: Final = 5
RECENT_MINUTES: Final = 10
"""The curve fit calls a rate growing over this many last minutes "taking off"."""
Z95: Final = 1.959964
DELIVERED: Final = "delivered"
"""`reason` of a forecast made once the source delivered everything: it is the final count."""


@dataclass(frozen=True)
class Forecast:
    """A final-size forecast at one moment.

    `predicted`, `low` and `high` are totals (observed so far included); None where there is no
    number: not enough data, or an unbounded total (`high` None while forecasting means the
    95% interval reaches "could still take off"). `sure` is a plain phrase for the screen.
    """

    state: State
    model: str
    observed: float
    at_s: float
    predicted: float | None = None
    low: float | None = None
    high: float | None = None
    infectiousness: float | None = None
    reason: str = ""
    level: float = 0.95
    """How often the range [low, high] is meant to hold the final count."""

    @property
    def sure(self) -> str:
        """How sure the forecast is, in words."""
        if self.state == NOT_ENOUGH:
            return "not enough data yet" + (f" ({self.reason})" if self.reason else "")
        if self.state == TAKING_OFF:
            return "taking off: it is spreading faster than it fades, no upper limit yet"
        if self.predicted is None or self.low is None:
            return "unknown"
        if self.reason == DELIVERED:
            return "the final count: everything is in"
        if self.high is None:
            return "a rough guess: it could still take off"
        spread = (self.high - self.low) / max(self.predicted, 1.0)
        if spread <= 0.3:
            return "fairly sure"
        if spread <= 1.0:
            return "a rough estimate"
        return "a wide guess"

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON output."""
        return {
            "state": self.state,
            "model": self.model,
            "at_s": self.at_s,
            "observed": self.observed,
            "predicted": self.predicted,
            "low": self.low,
            "high": self.high,
            "infectiousness": self.infectiousness,
            "level": self.level,
            "sure": self.sure,
        }


def too_early(at_s: float) -> str:
    """Why nothing is forecast at or before the post time (`at_s` seconds since it)."""
    return "the post just went out" if at_s == 0 else "the post has not gone out yet"


def _not_enough(model: str, observed: float, at_s: float, reason: str) -> Forecast:
    return Forecast(NOT_ENOUGH, model, observed, at_s, reason=reason)


# --- the memory kernel and its moments (closed forms) -----------------------------------------


def memory_kernel(s: npt.ArrayLike, theta: float = THETA, s0: float = S0) -> FloatArray:
    """phi(s): probability density of the delay between seeing a post and resharing it."""
    x = np.asarray(s, dtype=np.float64)
    c = theta / (s0 * (1.0 + theta))
    tail = c * np.power(np.maximum(x, s0) / s0, -(1.0 + theta))
    return np.where(x < 0, 0.0, np.where(x <= s0, c, tail))


def _kernel_moment(s: FloatArray, k: int, theta: float, s0: float) -> FloatArray:
    """int_0^s u^k phi(u) du for k = 0, 1, 2 (closed form, s clipped at 0)."""
    x = np.maximum(s, 0.0)
    c = theta / (s0 * (1.0 + theta))
    flat = c * np.minimum(x, s0) ** (k + 1) / (k + 1)
    beyond = np.maximum(x, s0)
    # int_{s0}^{x} c * s0^(1+theta) * u^(k-1-theta) du
    power = k - theta
    tail = c * s0 ** (1.0 + theta) * (beyond**power - s0**power) / power
    return np.asarray(flat + tail, dtype=np.float64)


def kernel_integral(s: npt.ArrayLike, theta: float = THETA, s0: float = S0) -> FloatArray:
    """Phi(s) = int_0^s phi: the share of eventual reactions already happened after s seconds."""
    return _kernel_moment(np.asarray(s, dtype=np.float64), 0, theta, s0)


def _triangle_weighted(
    elapsed: FloatArray, window: float, power: int, theta: float, s0: float
) -> FloatArray:
    """int_0^T K(T - u)^power phi(u) du with K(v) = max(1 - v/w, 0), T = `elapsed`.

    On [max(0, T - w), T] the kernel is K = A + u/w with A = 1 - T/w; expand the power and use
    the closed-form moments of phi.
    """
    return _triangle_weighted_both(elapsed, window, theta, s0)[power - 1]


def _triangle_weighted_both(
    elapsed: FloatArray, window: float, theta: float, s0: float
) -> tuple[FloatArray, FloatArray]:
    """`_triangle_weighted` for powers 1 and 2 at once (they share the moments of phi)."""
    t = np.maximum(elapsed, 0.0)
    lo = np.maximum(t - window, 0.0)
    a = 1.0 - t / window
    m = [_kernel_moment(t, k, theta, s0) - _kernel_moment(lo, k, theta, s0) for k in range(3)]
    first = np.asarray(a * m[0] + m[1] / window, dtype=np.float64)
    second = np.asarray(a * a * m[0] + 2 * a * m[1] / window + m[2] / window**2, dtype=np.float64)
    return first, second


# --- SEISMIC ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Infectiousness:
    """p_hat at one moment, its 95% interval, and the window it was estimated over."""

    p: float
    low: float
    high: float
    window_s: float


def estimation_window(
    reshare_times: FloatArray,
    at_s: float,
    *,
    min_window: float = MIN_WINDOW_S,
    max_window: float = MAX_WINDOW_S,
    min_count: int = MIN_WINDOW_COUNT,
) -> float:
    """Window of the triangular kernel: t/2 clamped to [min, max], widened to hold min_count."""
    window = min(max(at_s / 2.0, min_window), max_window)
    if reshare_times.size >= min_count:
        kth = float(np.sort(reshare_times)[-min_count])
        # strictly inside the window, so the k-th latest reshare has a positive weight
        window = max(window, (at_s - kth) * 1.05 + 1e-6)
    return window


def infectiousness(
    reshare_times_s: npt.ArrayLike,
    reshare_followers: npt.ArrayLike,
    poster_followers: float,
    at_s: float,
    *,
    theta: float = THETA,
    s0: float = S0,
    window: float | None = None,
) -> Infectiousness | None:
    """Kernel-weighted estimate of p_t at `at_s` (None when the denominator is empty).

    Expects clean input (reshares up to `at_s`, finite, followers >= 0): see seismic_forecast.
    """
    reshare_times = np.asarray(reshare_times_s, dtype=np.float64)
    w = estimation_window(reshare_times, at_s) if window is None else window
    times = np.concatenate(([0.0], reshare_times))
    followers = np.concatenate(([poster_followers], np.asarray(reshare_followers, np.float64)))
    elapsed = at_s - times
    first, second = _triangle_weighted_both(elapsed, w, theta, s0)
    d1 = float(np.sum(followers * first))
    d2 = float(np.sum(followers * second))
    weights = np.maximum(1.0 - (at_s - reshare_times) / w, 0.0)
    count = float(np.sum(weights))
    if d1 <= 0.0 or not math.isfinite(d1) or count <= 0.0:
        return None
    p = count / d1
    se = math.sqrt(p * d2) / d1
    return Infectiousness(p=p, low=max(p - Z95 * se, 0.0), high=p + Z95 * se, window_s=w)


def _final_size(
    observed: float, p: float, exposure: float, n_star: float, alpha: float, gamma: float
) -> float | None:
    """R_t + alpha p N_e / (1 - gamma p n*), or None when the denominator is <= 0 (unbounded)."""
    denominator = 1.0 - gamma * p * n_star
    if denominator <= 0.0:
        return None
    return observed + alpha * p * exposure / denominator


def seismic_forecast(
    reshare_times_s: npt.ArrayLike,
    reshare_followers: npt.ArrayLike,
    poster_followers: float,
    at_s: float,
    *,
    n_star: float = N_STAR,
    alpha: float = 1.0,
    gamma: float = 1.0,
    theta: float = THETA,
    s0: float = S0,
    min_reshares: int = MIN_RESHARES,
) -> Forecast:
    """Forecast the final number of reshares from those seen by `at_s` seconds after the post.

    `reshare_times_s` are seconds since the post (later ones are ignored, so a whole cascade
    can be passed), `reshare_followers` the followers of each resharer, `poster_followers` the
    author's. Returns a "not-enough-data" forecast rather than a guess on thin input.
    """
    times = np.asarray(reshare_times_s, dtype=np.float64).ravel()
    followers = np.asarray(reshare_followers, dtype=np.float64).ravel()
    if times.shape != followers.shape:
        raise ValueError("reshare times and followers must have the same length")
    ok = np.isfinite(times) & np.isfinite(followers) & (times >= 0) & (times <= at_s)
    times, followers = times[ok], np.maximum(followers[ok], 0.0)
    order = np.argsort(times, kind="stable")
    times, followers = times[order], followers[order]
    observed = float(times.size)
    poster = max(float(poster_followers), 0.0) if math.isfinite(poster_followers) else 0.0
    if not math.isfinite(at_s) or at_s <= 0:
        return _not_enough(SEISMIC, observed, at_s, too_early(at_s))
    if times.size < min_reshares:
        return _not_enough(SEISMIC, observed, at_s, f"{plural(times.size, 'reshare')} so far")
    if np.unique(times).size < 2:
        return _not_enough(SEISMIC, observed, at_s, "every reshare at one instant")
    if poster + float(followers.sum()) <= 0:
        return _not_enough(SEISMIC, observed, at_s, "no follower counts")
    estimate = infectiousness(times, followers, poster, at_s, theta=theta, s0=s0)
    if estimate is None:
        return _not_enough(SEISMIC, observed, at_s, "no exposure in the window")
    all_times = np.concatenate(([0.0], times))
    all_followers = np.concatenate(([poster], followers))
    exposure = float(np.sum(all_followers * (1.0 - kernel_integral(at_s - all_times, theta, s0))))
    predicted = _final_size(observed, estimate.p, exposure, n_star, alpha, gamma)
    if predicted is None:
        low = _final_size(observed, estimate.low, exposure, n_star, alpha, gamma)
        return Forecast(TAKING_OFF, SEISMIC, observed, at_s, low=low, infectiousness=estimate.p)
    at_low = _final_size(observed, estimate.low, exposure, n_star, alpha, gamma)
    at_high = _final_size(observed, estimate.high, exposure, n_star, alpha, gamma)
    # Branching noise of the future count: Poisson(mu) new resharers, each the root of a
    # subcritical tree whose offspring has mean m and variance m + p^2 Var(followers)
    m = gamma * estimate.p * n_star
    mu = alpha * estimate.p * exposure
    offspring_var = m + estimate.p**2 * float(np.var(followers, ddof=1))
    noise = Z95 * math.sqrt(mu * (offspring_var / (1.0 - m) ** 3 + 1.0 / (1.0 - m) ** 2))
    low = predicted - math.hypot(predicted - (at_low if at_low is not None else predicted), noise)
    high = None if at_high is None else predicted + math.hypot(at_high - predicted, noise)
    return Forecast(
        FORECAST,
        SEISMIC,
        observed,
        at_s,
        predicted=predicted,
        low=max(low, observed),
        high=high,
        infectiousness=estimate.p,
    )


# --- fallback: power-law decay fit on a per-minute curve -----------------------------------------


def _poisson_loglinear(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray] | None:
    """Fit log E[y] = b0 + b1 * x by Poisson IRLS; (coefficients, covariance) or None."""
    design = np.column_stack([np.ones_like(x), x])
    beta = np.array([math.log(max(float(y.mean()), 1e-9)), 0.0])
    for _ in range(50):
        mu = np.exp(np.clip(design @ beta, -700, 700))
        info = design.T @ (design * mu[:, None])
        try:
            step = np.linalg.solve(info, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-9:
            break
    mu = np.exp(np.clip(design @ beta, -700, 700))
    info = design.T @ (design * mu[:, None])
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(cov))):
        return None
    return beta, cov


def _poisson_loglik(y: FloatArray, log_mu: FloatArray) -> float:
    """Poisson log-likelihood without the log(y!) term (the same for every model of y)."""
    return float(np.sum(y * log_mu - np.exp(log_mu)))


def curve_forecast(per_minute: npt.ArrayLike, *, observed_offset: float = 0.0) -> Forecast:
    """Forecast a final total from counts per whole minute since the post (index = minute).

    Fits the decay after the busiest minute both as a power law and as an exponential in time
    (Poisson regression), keeps the likelier, and adds its tail. For feeds without follower
    counts (clicks, visitors); `observed_offset` is a starting level to add.
    """
    counts = np.maximum(np.nan_to_num(np.asarray(per_minute, dtype=np.float64).ravel()), 0.0)
    minutes = counts.size
    at_s = float(minutes * 60)
    observed = float(counts.sum()) + observed_offset
    if minutes == 0:  # the fit reads whole minutes only
        return _not_enough(CURVE_FIT, observed, at_s, "the first minute is not over")
    if counts.sum() < MIN_FIT_EVENTS:
        events = f"{int(counts.sum())} events in the first {minutes} min"
        return _not_enough(CURVE_FIT, observed, at_s, events)
    peak = int(np.argmax(counts))
    tail = counts[peak:]
    if tail.size < MIN_FIT_MINUTES:
        return _not_enough(CURVE_FIT, observed, at_s, "still rising")
    mid = np.arange(peak, minutes, dtype=np.float64) + 0.5
    if tail.size >= 2 * RECENT_MINUTES:
        # growing again over the last minutes (clearly, not by noise): taking off
        recent = _poisson_loglinear(mid[-RECENT_MINUTES:], tail[-RECENT_MINUTES:])
        if recent is not None and recent[0][1] - Z95 * math.sqrt(max(recent[1][1, 1], 0)) > 0:
            return Forecast(TAKING_OFF, EXPONENTIAL, observed, at_s, low=observed)
    fits: list[tuple[float, str, FloatArray, FloatArray]] = []
    for model, x in ((POWER_LAW, np.log(mid)), (EXPONENTIAL, mid)):
        fitted = _poisson_loglinear(x, tail)
        if fitted is not None:
            coef, cov = fitted
            fits.append((_poisson_loglik(tail, coef[0] + coef[1] * x), model, coef, cov))
    if not fits:
        return _not_enough(CURVE_FIT, observed, at_s, "the curve does not fit")
    _, model, coef, cov = max(fits, key=lambda fit: fit[0])
    slope, slope_se = float(coef[1]), math.sqrt(max(float(cov[1, 1]), 0.0))
    end = float(minutes)
    if model == POWER_LAW:
        if slope >= 0.0:  # the rate is still growing
            return Forecast(TAKING_OFF, model, observed, at_s, low=observed)
        decay = -slope - 1.0  # beta in A * t^-(1+beta)
        if decay <= 0.0:
            return _not_enough(model, observed, at_s, "fading too slowly to bound yet")
        log_tail = coef[0] - decay * math.log(end) - math.log(decay)
        # d(log tail)/d(b0) = 1, d/d(b1) = log t + 1/beta (beta = -b1 - 1)
        grad = np.array([1.0, math.log(end) + 1.0 / decay])
        unbounded = decay - Z95 * slope_se <= 0.0
    else:
        if slope >= 0.0:  # growing exponentially: taking off
            return Forecast(TAKING_OFF, model, observed, at_s, low=observed)
        # tail of exp(b0 + b1 t) from `end`: exp(b0 + b1 end) / -b1
        log_tail = coef[0] + slope * end - math.log(-slope)
        grad = np.array([1.0, end - 1.0 / slope])
        unbounded = slope + Z95 * slope_se >= 0.0
    sd = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    predicted = observed + math.exp(log_tail)
    low = observed + math.exp(log_tail - Z95 * sd)
    high = None if unbounded else observed + math.exp(log_tail + Z95 * sd)
    return Forecast(FORECAST, model, observed, at_s, predicted=predicted, low=low, high=high)


# --- from observation deltas ----------------------------------------------------------------------


def _seconds_since(post_time: datetime) -> pl.Expr:
    return (pl.col("ts") - pl.lit(post_time, dtype=UTC_US)).dt.total_microseconds() / 1e6


def reshare_rows(deltas: pl.DataFrame, post_time: datetime) -> pl.DataFrame:
    """Every resharing row with a reach: `metric`, `t_s` (since post), `followers`; a count
    above 1 repeats the row. Rows without a reach are left out (no followers to weigh)."""
    rows = deltas.filter(
        pl.col("metric").is_in([RESHARERS, *RESHARE_METRICS]),
        pl.col("value") > 0,
        pl.col("reach").is_not_null(),
    ).select(
        "metric",
        t_s=_seconds_since(post_time),
        followers=pl.col("reach").cast(pl.Float64),
        times=pl.col("value").round().cast(pl.Int64).clip(1, None),
    )
    if rows.height and int(rows.get_column("times").max()) > 1:  # type: ignore[arg-type]
        rows = rows.select(pl.exclude("times").repeat_by(pl.col("times")).explode())
    return rows.select("metric", "t_s", "followers")


def choose_reshares(rows: pl.DataFrame) -> pl.DataFrame:
    """The cascade from `reshare_rows`: `resharers` rows (one per account) when the feed has
    them, else repost and quote events; columns `t_s`, `followers`, sorted by time."""
    chosen = rows.filter(pl.col("metric") == RESHARERS)
    if chosen.is_empty():
        chosen = rows.filter(pl.col("metric").is_in(list(RESHARE_METRICS)))
    return chosen.select("t_s", "followers").sort("t_s")


def reshare_events(deltas: pl.DataFrame, post_time: datetime) -> pl.DataFrame:
    """Reshares that carry their resharer's followers: columns `t_s` (since post), `followers`.

    Prefers `resharers` rows (one per account, followers in `reach`), else repost and quote
    events with a reach. Rows without a reach are left out; counts above 1 repeat the row.
    """
    return choose_reshares(reshare_rows(deltas, post_time))


def forecast_from_deltas(
    deltas: pl.DataFrame,
    post_time: datetime,
    poster_followers: float | None,
    at_s: float,
    *,
    fallback_metric: str = CLICKS,
) -> Forecast:
    """The forecast engmon shows: SEISMIC on reshares where followers are known, else the
    power-law fit on `fallback_metric` per minute (clicks by default), as it stood at `at_s`."""
    reshares = reshare_events(deltas, post_time).filter(pl.col("t_s") <= at_s)
    if reshares.height:
        return seismic_forecast(
            reshares.get_column("t_s").to_numpy(),
            reshares.get_column("followers").to_numpy(),
            float(poster_followers or 0.0),
            at_s,
        )
    whole_minutes = int(at_s // 60)
    minutes = (
        deltas.filter(pl.col("metric") == fallback_metric, pl.col("value") > 0)
        .with_columns(minute=(_seconds_since(post_time) // 60).cast(pl.Int64))
        .filter(pl.col("minute") >= 0, pl.col("minute") < whole_minutes)
        .group_by("minute")
        .agg(pl.col("value").sum())
    )
    counts = np.zeros(max(whole_minutes, 0), dtype=np.float64)
    np.add.at(
        counts, minutes.get_column("minute").to_numpy(), minutes.get_column("value").to_numpy()
    )
    return curve_forecast(counts)
