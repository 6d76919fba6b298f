"""The calibrated forecast: gradient-boosted trees on log(final / seen) with conformal intervals.

SEISMIC with the paper's defaults (engmon.core.forecast) under-predicts real cascades early and
swings between "taking off" and huge totals. engmon instead predicts the median of

    log(final / seen)

from features of the first t minutes, none of them a size (see FEATURES): the post's age, how
the rate of the last 1, 5 and 15 minutes and of the last half, quarter and eighth of its life
compares with the average so far, how the rate changed between the two quarters before, the time
since the last event, and, where the resharers' follower counts are known, SEISMIC's
infectiousness and its estimate of what is still to come, the poster's audience, the resharers'
mean audience and the exposure still to come. The model is a small ensemble of regression trees
(median loss) fitted on real retweet cascades and chosen by cross-validation grouped by cascade
(`bench/fit_forecast.py`, which writes the trees shipped in `data/forecast_model.json`); engmon
walks the trees with numpy.

The interval is conformal: the 5% and 95% quantiles of the held-out residual log ratios at a
grid of ages (interpolated in log time), so a "90% range" holds the final count about 90% of
the time on cascades like those.

Two models: `reshares` (events with the resharer's follower count) and `counts` (a curve of
counts per minute, no followers: clicks, visitors, reposts without reach).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
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
    too_early,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

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
    "log_age",
    "recent_5m",
    "recent_15m",
    "recent_half",
    "recent_quarter",
    "recent_eighth",
    "decay",
    "quiet",
    "seismic_next",
    "seismic",
    "infectious",
    "poster",
    "resharers",
    "exposure",
)
"""Every feature a model may use, in the order `features` returns them. None of them is the
count so far: the training cascades were selected by their final size (thousands of reshares,
or fewer than 50), so a size would teach the model a floor or a ceiling."""
FOLLOWER_FEATURES: Final = (
    "seismic_next",
    "seismic",
    "infectious",
    "poster",
    "resharers",
    "exposure",
)
"""The features that need follower counts (0 without them)."""


def _shape(at: FloatArray, weights: FloatArray, at_s: float) -> list[float]:
    """The features without followers, from event times (or minute middles) `at` carrying
    `weights` events each: the age, the rates of the last 5 and 15 minutes and of the last
    half, quarter and eighth of the post's life against the average so far (log ratios, 0 for
    a steady rate), the change between the two quarters before the last half, and how
    long it has been quiet in units of the mean gap between events."""
    seen = float(weights.sum())

    def since(start: float) -> float:
        return float(weights[at > start].sum())

    def recent(window: float) -> float:
        window = min(window, at_s)
        return math.log((since(at_s - window) + 1.0) / (seen * window / at_s + 1.0))

    half = since(at_s / 2.0)
    before = float(weights[(at > at_s / 4.0) & (at <= at_s / 2.0)].sum())
    last = float(at[weights > 0].max()) if seen > 0 else 0.0
    return [
        math.log(at_s / 60.0),
        recent(300.0),
        recent(900.0),
        recent(at_s / 2.0),
        recent(at_s / 4.0),
        recent(at_s / 8.0),
        math.log((half + 1.0) / (2.0 * before + 1.0)),
        math.log1p(max(at_s - last, 0.0) * seen / at_s),
    ]


def features(
    times_s: npt.ArrayLike,
    at_s: float,
    followers: npt.ArrayLike | None = None,
    poster_followers: float = 0.0,
) -> FloatArray:
    """The model's inputs at `at_s` (> 0) from event times (seconds since the post, <= at_s).

    Followers (of each resharer, and of the poster) feed the follower features; without them
    those are 0. Returned in the order of FEATURES."""
    times = np.asarray(times_s, dtype=np.float64)
    row = _shape(times, np.ones_like(times), at_s)
    extra = [0.0] * len(FOLLOWER_FEATURES)
    if followers is not None and times.size:
        fol = np.maximum(np.asarray(followers, dtype=np.float64), 0.0)
        poster = max(poster_followers, 0.0)
        everyone = np.concatenate(([0.0], times))
        reach = np.concatenate(([poster], fol))
        exposure = float(np.sum(reach * (1.0 - kernel_integral(at_s - everyone))))
        seen = float(times.size)
        extra[3:] = [
            math.log1p(poster),
            math.log1p(float(fol.mean())),
            math.log1p(exposure / seen / N_STAR),
        ]
        estimate = infectiousness(times, fol, poster, at_s)
        if estimate is not None:
            # expected next generation relative to what was seen, and the branching factor
            next_generation = estimate.p * exposure / seen
            # SEISMIC's whole remaining cascade, its branching factor capped below 1 so that a
            # cascade "taking off" gives a large finite value rather than a jump to infinity
            branching = estimate.p * N_STAR
            extra[:3] = [
                math.log1p(next_generation),
                math.log1p(next_generation / max(1.0 - branching, SEISMIC_FLOOR)),
                math.log1p(branching),
            ]
    return np.array([*row, *extra])


def curve_features(per_minute: npt.ArrayLike, at_s: float) -> FloatArray:
    """`features` of a curve of counts per whole minute (each count at the middle of its
    minute), without followers: what the counts model reads for clicks."""
    counts = np.maximum(np.nan_to_num(np.asarray(per_minute, dtype=np.float64).ravel()), 0.0)
    middle = (np.arange(counts.size, dtype=np.float64) + 0.5) * 60.0
    return np.array([*_shape(middle, counts, at_s), *[0.0] * len(FOLLOWER_FEATURES)])


@dataclass(frozen=True)
class Trees:
    """A sum of regression trees, each padded to `nodes` entries: node k of tree t splits on
    `feature[t, k]` (go to `left` when the value is <= `threshold`, else `right`); a leaf
    points to itself on both sides and carries `value` (0 on split nodes)."""

    feature: IntArray
    threshold: FloatArray
    left: IntArray
    right: IntArray
    value: FloatArray
    depth: int

    def __call__(self, x: FloatArray) -> float:
        """The sum of the leaves `x` (one row of the model's features) falls into."""
        rows = np.arange(self.feature.shape[0])
        node = np.zeros(rows.size, dtype=np.int64)
        for _ in range(self.depth):
            go_left = x[self.feature[rows, node]] <= self.threshold[rows, node]
            node = np.where(go_left, self.left[rows, node], self.right[rows, node])
        return float(self.value[rows, node].sum())


@dataclass(frozen=True)
class Model:
    """Fitted constants of one model (see data/forecast_model.json)."""

    name: str
    features: tuple[str, ...]
    trees: Trees
    ages_s: FloatArray
    """The grid of ages (seconds since the post) the interval was calibrated at."""
    low: FloatArray
    """Per age: the 5% quantile of held-out residuals (log ratio)."""
    high: FloatArray
    """Per age: the 95% quantile."""
    level: float = 0.9
    """The share of final counts the interval is calibrated to hold."""

    def log_ratio(self, row: FloatArray) -> float:
        """Predicted log(final / seen) from one row of FEATURES."""
        wanted = [FEATURES.index(name) for name in self.features]
        return self.trees(row[wanted])

    def bounds(self, at_s: float) -> tuple[float, float]:
        """The interval around a predicted log ratio at `at_s` (interpolated in log time
        between the ages of the grid, the ends held beyond it)."""
        where = math.log(max(at_s, 1.0))
        logs = np.log(self.ages_s)
        return float(np.interp(where, logs, self.low)), float(np.interp(where, logs, self.high))


def _trees(raw: dict[str, object]) -> Trees:
    def arr(key: str) -> npt.NDArray[np.generic]:
        return np.asarray(raw[key])

    return Trees(
        feature=arr("feature").astype(np.int64),
        threshold=arr("threshold").astype(np.float64),
        left=arr("left").astype(np.int64),
        right=arr("right").astype(np.int64),
        value=arr("value").astype(np.float64),
        depth=int(raw["depth"]),  # type: ignore[call-overload]
    )


def _model(name: str, raw: dict[str, object]) -> Model:
    def arr(key: str) -> FloatArray:
        return np.asarray(raw[key], dtype=np.float64)

    return Model(
        name=name,
        features=tuple(str(name) for name in raw["features"]),  # type: ignore[attr-defined]
        trees=_trees(raw["trees"]),  # type: ignore[arg-type]
        ages_s=arr("ages_s"),
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


SMOOTH_STEPS: Final = 3
"""The forecast averages the estimates made now and at the 2 whole minutes before (each from
what had happened by then), so one event, a big account's reshare, moves it gradually."""
STEP_S: Final = 60.0


def smoothed_log_final(estimates: list[tuple[float, float]]) -> float:
    """log of the final count from (count so far, predicted log ratio) at each of the last
    SMOOTH_STEPS moments, now first: the mean of their log finals, each at least its count."""
    logs = [math.log(base) + max(ratio, 0.0) for base, ratio in estimates]
    return sum(logs) / len(logs)


def _predict(
    point: Callable[[float], tuple[float, FloatArray]],
    base: float,
    seen: float,
    at_s: float,
    model: Model,
    min_events: int,
) -> Forecast:
    """The forecast from `point(t)`: the count the features read and their row at time t
    (computed only when there is enough to forecast); `base` that count now, `seen` the count
    so far (the floor of the forecast and of its range)."""
    name = MODEL_NAMES[model.name]
    if not math.isfinite(at_s) or at_s <= 0:
        return Forecast(NOT_ENOUGH, name, seen, at_s, reason=too_early(at_s))
    if base < min_events:
        return Forecast(NOT_ENOUGH, name, seen, at_s, reason=f"{base:.0f} so far")
    if at_s < model.ages_s[0]:
        minutes = model.ages_s[0] / 60
        return Forecast(NOT_ENOUGH, name, seen, at_s, reason=f"before minute {minutes:.0f}")
    estimates = []
    for step in range(SMOOTH_STEPS):
        then = at_s - step * STEP_S
        if then < model.ages_s[0]:
            break
        count, row = point(then)
        if count < min_events:
            break
        estimates.append((count, model.log_ratio(row)))
    centre = smoothed_log_final(estimates) - math.log(base)
    low, high = model.bounds(at_s)
    # the final count is never below what has happened
    predicted = max(base * math.exp(max(centre, 0.0)), seen)
    return Forecast(
        FORECAST,
        name,
        seen,
        at_s,
        predicted=predicted,
        low=min(max(base * math.exp(max(centre + low, 0.0)), seen), predicted),
        high=max(base * math.exp(max(centre + high, 0.0)), predicted),
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
    # the follower terms cost a pass over every resharer: only when the model reads them
    uses_followers = bool(set(chosen.features) & set(FOLLOWER_FEATURES))
    given = fol if uses_followers else None

    def point(then: float) -> tuple[float, FloatArray]:
        keep = times <= then
        row = features(times[keep], then, None if given is None else given[keep], poster)
        return float(np.count_nonzero(keep)), row

    return _predict(point, seen, seen, at_s, chosen, min_events)


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

    def point(then: float) -> tuple[float, FloatArray]:
        # the minutes over by `then` (all of them now: `at` may end inside the last one)
        shown = counts if then >= at else counts[: max(int(then // 60), 0)]
        return float(shown.sum()), curve_features(shown, then)

    return _predict(point, base, seen, at, chosen, min_events)
