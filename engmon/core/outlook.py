"""The outlook: forecast, expected band and standing of the watched post, as of one instant.

Headless glue between the store and the dashboard (or `report`): it picks the model (SEISMIC
when reshares carry follower counts, else the curve fit on the headline metric), scales the
expected band of past posts to this post's audience and phrases both for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from engmon.core import band as bands
from engmon.core.forecast import (
    FORECAST,
    SEISMIC,
    TAKING_OFF,
    Forecast,
    curve_forecast,
    forecast_from_deltas,
    reshare_events,
    seismic_forecast,
)
from engmon.core.schema import CLICKS, RESHARE_METRICS, RESHARERS, conform
from engmon.core.store import observations_to_deltas


def _count(value: float) -> str:
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            return (f"{scaled:.1f}" if scaled < 10 else f"{scaled:.0f}").removesuffix(".0") + suffix
    return f"{value:.0f}"


def forecast_noun(forecast: Forecast, metric: str) -> str:
    """What the forecast counts: reshares for SEISMIC, else the curve's metric."""
    return "reshares" if forecast.model == SEISMIC else metric


def forecast_phrase(forecast: Forecast, metric: str = CLICKS) -> str:
    """One sentence for the verdict: "Forecast: ~120 reshares in total (80–190), not taking off"."""
    noun = forecast_noun(forecast, metric)
    if forecast.state == TAKING_OFF:
        return f"Forecast: taking off — {noun} keep bringing more {noun}, no upper limit yet"
    if forecast.state != FORECAST or forecast.predicted is None:
        return f"Forecast of {noun}: {forecast.sure}"
    high = "no limit" if forecast.high is None else _count(forecast.high)
    low = _count(forecast.low if forecast.low is not None else forecast.observed)
    tail = "could still take off" if forecast.high is None else "not taking off"
    return f"Forecast: ~{_count(forecast.predicted)} {noun} in total ({low}–{high}), {tail}"


def forecast_kpi(forecast: Forecast) -> str:
    """Short text for the KPI row: `forecast 120 (80–190)`, `taking off`, `forecast …`."""
    if forecast.state == TAKING_OFF:
        return "forecast: taking off"
    if forecast.state != FORECAST or forecast.predicted is None:
        return "forecast: not enough data yet"
    high = "∞" if forecast.high is None else _count(forecast.high)
    low = _count(forecast.low if forecast.low is not None else forecast.observed)
    return f"forecast {_count(forecast.predicted)} ({low}–{high})"


@dataclass(frozen=True)
class Outlook:
    """Forecast, band (per-minute counts for this audience) and standing at one instant."""

    forecast: Forecast
    metric: str
    band: pl.DataFrame | None = field(default=None, repr=False)
    standing: bands.Standing | None = None

    def phrases(self) -> tuple[str, ...]:
        """Sentences the verdict appends: the standing against past posts, then the forecast."""
        parts = [] if self.standing is None else [self.standing.text]
        return (*parts, forecast_phrase(self.forecast, self.metric))


def forecast_store(
    deltas: pl.DataFrame,
    minutes: pl.DataFrame,
    post_time: datetime,
    followers: int | None,
    elapsed_s: float,
    metric: str = CLICKS,
) -> Forecast:
    """SEISMIC on reshares with follower counts when the store has them, else the curve fit on
    `metric` per minute (from the small per-minute aggregate), as of `elapsed_s`."""
    reshares = reshare_events(deltas, post_time).filter(pl.col("t_s") <= elapsed_s)
    if reshares.height:
        return seismic_forecast(
            reshares.get_column("t_s").to_numpy(),
            reshares.get_column("followers").to_numpy(),
            float(followers or 0),
            elapsed_s,
        )
    return curve_forecast(per_minute(minutes, metric, int(elapsed_s // 60)))


def per_minute(minutes: pl.DataFrame, metric: str, whole_minutes: int) -> np.ndarray:
    """Dense counts of `metric` for minutes 0 .. whole_minutes - 1 since the post."""
    counts = np.zeros(max(whole_minutes, 0), dtype=np.float64)
    seen = minutes.filter(
        pl.col("metric") == metric, pl.col("minute") >= 0, pl.col("minute") < whole_minutes
    )
    np.add.at(counts, seen.get_column("minute").to_numpy(), seen.get_column("value").to_numpy())
    return counts


def compute_outlook(
    forecast: Forecast,
    metric: str,
    history: pl.DataFrame | None,
    followers: int | None,
    minutes: pl.DataFrame,
    elapsed_s: float,
) -> Outlook:
    """Put the forecast beside the band of past posts (`history`: post, minute, value per 1k
    followers of `metric`), comparing totals over the whole minutes seen so far."""
    if history is None or history.is_empty() or not followers:
        return Outlook(forecast, metric)
    rate_band = bands.scaled_band(bands.expected_band(history), followers)
    whole = int(elapsed_s // 60)
    standing = None
    if whole >= 1:
        count = float(per_minute(minutes, metric, whole).sum())
        standing = bands.standing(history, count * 1000.0 / followers, whole - 1)
    return Outlook(forecast, metric, rate_band, standing)


def forecast_vs_actual(
    observations: pl.LazyFrame,
    post_time: datetime,
    followers: int | None,
    at_s: float,
    metric: str = CLICKS,
    repeated: pl.DataFrame | None = None,
) -> dict[str, object]:
    """The forecast made `at_s` after the post beside the file's actual final size (for
    `report --forecast`): the forecast's fields plus `counts`, `actual` and `relative_error`.
    `repeated`: as in `observations_to_deltas`."""
    wanted = [*RESHARE_METRICS, RESHARERS, metric]
    chosen = conform(observations).filter(pl.col("metric").is_in(wanted))
    deltas = observations_to_deltas(chosen, repeated).collect()
    made = forecast_from_deltas(deltas, post_time, followers, at_s, fallback_metric=metric)
    if made.model == SEISMIC:
        actual = float(reshare_events(deltas, post_time).height)
    else:
        counted = deltas.filter(pl.col("metric") == metric, pl.col("value") > 0)
        actual = float(counted.get_column("value").sum())
    error = None
    if made.predicted is not None and actual > 0:
        error = abs(made.predicted - actual) / actual
    return {
        **made.as_dict(),
        "counts": forecast_noun(made, metric),
        "actual": actual,
        "relative_error": error,
    }


def forecast_lines(result: dict[str, object]) -> list[str]:
    """Text lines for `report --forecast`: the forecast, then the actual final size."""
    noun = str(result["counts"])
    at = float(result["at_s"])  # type: ignore[arg-type]
    head = f"forecast at +{at / 60:.0f}m ({result['model']}): "
    predicted, low, high = result["predicted"], result["low"], result["high"]
    if result["state"] == TAKING_OFF:
        head += f"taking off, no upper limit ({result['observed']:.0f} {noun} so far)"
    elif isinstance(predicted, float):
        top = f"{high:.0f}" if isinstance(high, float) else "no limit"
        bottom = f"{low:.0f}" if isinstance(low, float) else "?"
        head += f"~{predicted:.0f} {noun} in total (95%: {bottom}–{top}), {result['sure']}"
    else:
        head += str(result["sure"])
    actual = float(result["actual"])  # type: ignore[arg-type]
    tail = f"actual final size: {actual:.0f} {noun}"
    error = result["relative_error"]
    if isinstance(error, float):
        tail += f" (relative error {error:.0%})"
    return [head, tail]
