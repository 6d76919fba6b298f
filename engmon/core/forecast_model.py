"""The calibrated forecast: a learned regression of log(final / seen) with conformal intervals.

SEISMIC with the paper's defaults (engmon.core.forecast) under-predicts real cascades early and
swings between "taking off" and huge totals. engmon instead forecasts

    log(final / seen) = b_t . features_t

where the features describe the first t minutes: how the rate of the last half, quarter and
eighth of the elapsed time compares with the average so far, and how it changed between the
two quarters before (SEISMIC's infectiousness and remaining exposure are available as features
too; the shipped models do not use them). The coefficients b_t are smooth functions of log t,
fitted by weighted ridge median regression on real retweet cascades and chosen by
cross-validation grouped by cascade (`bench/fit_forecast.py`, which writes the constants shipped
in `data/forecast_model.json` at a grid of ages from 5 minutes to a week). Between two ages of
the grid the prediction and the interval bounds interpolate linearly in log time.

The interval is conformal: the 5% and 95% quantiles of the held-out residual log ratios at each
age, so a "90% range" holds the final count about 90% of the time on cascades like those.

Two models: `reshares` (events with the resharer's follower count) and `counts` (a curve of
counts per minute, no followers: clicks, visitors, reposts without reach).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Final

import numpy as np
import numpy.typing as npt

from engmon.core.forecast import (
    DELIVERED,
    FORECAST,
    N_STAR,
    NOT_ENOUGH,
    Forecast,
    infectiousness,
    kernel_integral,
)

FloatArray = npt.NDArray[np.float64]

RESHARES: Final = "reshares"
COUNTS: Final = "counts"
RESHARE_MODEL: Final = "reshare model learned from public cascades"
COUNT_MODEL: Final = "curve model learned from public cascades"
MODEL_NAMES: Final = {RESHARES: RESHARE_MODEL, COUNTS: COUNT_MODEL}

SEISMIC_FLOOR: Final = 0.05
"""1 - branching factor is floored here in the SEISMIC feature."""
MIN_EVENTS: Final = 5
"""Fewer events than this so far: not enough data to forecast."""

FEATURES: Final = (
    "recent_half",
    "recent_quarter",
    "recent_eighth",
    "decay",
    "seismic_next",
    "seismic",
    "infectious",
)
"""Every feature a model may use, in the order `features` returns them. None of them is a size:
the training cascades were selected by their final size, so a size would teach a ceiling."""
FOLLOWER_FEATURES: Final = ("seismic_next", "seismic", "infectious")
"""The features that need the resharers' follower counts."""


def _shape(counts: tuple[float, float, float, float, float]) -> tuple[float, ...]:
    """Rate shape from the counts so far and over the last 1/2, 1/4, 1/8 of the post's life
    and over (1/4, 1/2] of it: the recent rates against the average so far, and how the rate
    changed between the two quarters before (log ratios, 0 for a steady rate)."""
    seen, half, quarter, eighth, before = counts
    return (
        math.log((half + 1.0) / (seen / 2.0 + 1.0)),
        math.log((quarter + 1.0) / (seen / 4.0 + 1.0)),
        math.log((eighth + 1.0) / (seen / 8.0 + 1.0)),
        math.log((half + 1.0) / (2.0 * before + 1.0)),
    )


def features(
    times_s: npt.ArrayLike,
    at_s: float,
    followers: npt.ArrayLike | None = None,
    poster_followers: float = 0.0,
) -> FloatArray:
    """The model's inputs at `at_s` from event times (seconds since the post, <= at_s).

    Followers (of each resharer, and of the poster) feed the SEISMIC terms; without them those
    are 0. Returned in the order of FEATURES."""
    times = np.asarray(times_s, dtype=np.float64)
    shape = _shape(
        (
            float(times.size),
            float(np.count_nonzero(times > at_s / 2.0)),
            float(np.count_nonzero(times > at_s * 0.75)),
            float(np.count_nonzero(times > at_s * 0.875)),
            float(np.count_nonzero((times > at_s / 4.0) & (times <= at_s / 2.0))),
        )
    )
    seismic_next = seismic = infectious = 0.0
    if followers is not None:
        fol = np.maximum(np.asarray(followers, dtype=np.float64), 0.0)
        estimate = infectiousness(times, fol, poster_followers, at_s)
        if estimate is not None:
            everyone = np.concatenate(([0.0], times))
            reach = np.concatenate(([max(poster_followers, 0.0)], fol))
            exposure = float(np.sum(reach * (1.0 - kernel_integral(at_s - everyone))))
            # expected next generation relative to what was seen, and the branching factor
            next_generation = estimate.p * exposure / max(float(times.size), 1.0)
            seismic_next = math.log1p(next_generation)
            # SEISMIC's whole remaining cascade, its branching factor capped below 1 so that a
            # cascade "taking off" gives a large finite value rather than a jump to infinity
            branching = estimate.p * N_STAR
            seismic = math.log1p(next_generation / max(1.0 - branching, SEISMIC_FLOOR))
            infectious = math.log1p(branching)
    return np.array([*shape, seismic_next, seismic, infectious])


def curve_features(per_minute: npt.ArrayLike, at_s: float) -> FloatArray:
    """`features` of a curve of counts per whole minute (each count at the middle of its
    minute), without followers: what the counts model reads for clicks."""
    counts = np.maximum(np.nan_to_num(np.asarray(per_minute, dtype=np.float64).ravel()), 0.0)
    middle = (np.arange(counts.size, dtype=np.float64) + 0.5) * 60.0
    shape = _shape(
        (
            float(counts.sum()),
            float(counts[middle > at_s / 2.0].sum()),
            float(counts[middle > at_s * 0.75].sum()),
            float(counts[middle > at_s * 0.875].sum()),
            float(counts[(middle > at_s / 4.0) & (middle <= at_s / 2.0)].sum()),
        )
    )
    return np.array([*shape, 0.0, 0.0, 0.0])


@dataclass(frozen=True)
class Model:
    """Fitted constants of one model (see data/forecast_model.json)."""

    name: str
    features: tuple[str, ...]
    ages_s: FloatArray
    """The grid of ages (seconds since the post) the coefficients were fitted at."""
    mean: FloatArray
    """Per age and feature: the centring of the standardised features."""
    scale: FloatArray
    coef: FloatArray
    """Per age: intercept, then one coefficient per feature."""
    low: FloatArray
    """Per age: the 5% quantile of held-out residuals (log ratio)."""
    high: FloatArray
    """Per age: the 95% quantile."""
    level: float = 0.9
    """The share of final counts the interval is calibrated to hold."""

    def log_ratio(self, row: FloatArray, at_s: float) -> tuple[float, float, float]:
        """Predicted log(final / seen) with its 90% bounds at `at_s` (interpolated in log t)."""
        ages = self.ages_s
        wanted = [FEATURES.index(name) for name in self.features]
        x = row[wanted]
        if at_s <= ages[0]:
            lo, hi, w = 0, 0, 0.0
        elif at_s >= ages[-1]:
            lo, hi, w = len(ages) - 1, len(ages) - 1, 0.0
        else:
            hi = int(np.searchsorted(ages, at_s))
            lo = hi - 1
            w = math.log(at_s / ages[lo]) / math.log(ages[hi] / ages[lo])
        out = []
        for k in (lo, hi):
            z = (x - self.mean[k]) / self.scale[k]
            centre = float(self.coef[k, 0] + z @ self.coef[k, 1:])
            out.append((centre, centre + float(self.low[k]), centre + float(self.high[k])))
        return (
            (1 - w) * out[0][0] + w * out[1][0],
            (1 - w) * out[0][1] + w * out[1][1],
            (1 - w) * out[0][2] + w * out[1][2],
        )


def _model(name: str, raw: dict[str, object]) -> Model:
    def arr(key: str) -> FloatArray:
        return np.asarray(raw[key], dtype=np.float64)

    return Model(
        name=name,
        features=tuple(str(name) for name in raw["features"]),  # type: ignore[attr-defined]
        ages_s=arr("ages_s"),
        mean=arr("mean"),
        scale=arr("scale"),
        coef=arr("coef"),
        low=arr("low"),
        high=arr("high"),
    )


@cache
def load_models() -> dict[str, Model]:
    """The shipped models (read once from the package's data/forecast_model.json)."""
    text = resources.files("engmon.core").joinpath("data/forecast_model.json").read_text()
    raw = json.loads(text)
    level = float(raw["level"])
    return {name: replace(_model(name, spec), level=level) for name, spec in raw["models"].items()}


def _predict(
    row: FloatArray, base: float, seen: float, at_s: float, model: Model, min_events: int
) -> Forecast:
    """The forecast from a feature row; `base` the events the features counted, `seen` the
    count so far (the floor of the forecast and of its range)."""
    name = MODEL_NAMES[model.name]
    if not math.isfinite(at_s) or at_s <= 0:
        return Forecast(NOT_ENOUGH, name, seen, at_s, reason="the post has not gone out yet")
    if base < min_events:
        return Forecast(NOT_ENOUGH, name, seen, at_s, reason=f"{base:.0f} so far")
    if at_s < model.ages_s[0]:
        minutes = model.ages_s[0] / 60
        return Forecast(NOT_ENOUGH, name, seen, at_s, reason=f"before minute {minutes:.0f}")
    centre, low, high = model.log_ratio(row, at_s)
    # the final count is never below what has happened
    predicted = max(base * math.exp(max(centre, 0.0)), seen)
    return Forecast(
        FORECAST,
        name,
        seen,
        at_s,
        predicted=predicted,
        low=min(max(base * math.exp(max(low, 0.0)), seen), predicted),
        high=max(base * math.exp(max(high, 0.0)), predicted),
        level=model.level,
    )


def _final(name: str, seen: float, at_s: float) -> Forecast:
    """Everything delivered: the final count is the count."""
    return Forecast(
        FORECAST, name, seen, at_s, predicted=seen, low=seen, high=seen, reason=DELIVERED, level=1.0
    )


def reshare_forecast(
    times_s: npt.ArrayLike,
    followers: npt.ArrayLike,
    poster_followers: float,
    at_s: float,
    *,
    final: bool = False,
    model: Model | None = None,
    min_events: int = MIN_EVENTS,
) -> Forecast:
    """Forecast the final number of reshares from those seen by `at_s` seconds after the post
    (`times_s` since the post, later ones ignored; `followers` of each resharer).

    `final`: the source has delivered everything, so the forecast is the count itself."""
    times = np.asarray(times_s, dtype=np.float64).ravel()
    fol = np.asarray(followers, dtype=np.float64).ravel()
    if times.shape != fol.shape:
        raise ValueError("reshare times and followers must have the same length")
    ok = np.isfinite(times) & np.isfinite(fol) & (times >= 0) & (times <= at_s)
    times, fol = times[ok], fol[ok]
    seen = float(times.size)
    if final:
        return _final(RESHARE_MODEL, seen, at_s)
    chosen = model or load_models()[RESHARES]
    poster = poster_followers if math.isfinite(poster_followers) else 0.0
    # the SEISMIC terms cost a pass over every resharer: only when the model reads them
    uses_followers = bool(set(chosen.features) & set(FOLLOWER_FEATURES))
    row = features(times, at_s, fol if uses_followers else None, poster)
    return _predict(row, seen, seen, at_s, chosen, min_events)


def count_forecast(
    per_minute: npt.ArrayLike,
    at_s: float | None = None,
    *,
    observed: float | None = None,
    final: bool = False,
    model: Model | None = None,
    min_events: int = MIN_EVENTS,
) -> Forecast:
    """Forecast a final total from counts per whole minute since the post (clicks, visitors).

    `at_s` defaults to the end of the last whole minute; `observed` is the count so far when
    it includes more than the curve (a minute still running): the floor of the forecast."""
    counts = np.maximum(np.nan_to_num(np.asarray(per_minute, dtype=np.float64).ravel()), 0.0)
    at = float(counts.size * 60) if at_s is None else at_s
    base = float(counts.sum())
    seen = base if observed is None else max(float(observed), base)
    if final:
        return _final(COUNT_MODEL, seen, at)
    chosen = model or load_models()[COUNTS]
    return _predict(curve_features(counts, at), base, seen, at, chosen, min_events)
