"""The outlook: forecast, expected band and standing of the watched post, as of one instant.

Headless glue between the store and the dashboard (or `report`): it picks the model (the
learned reshare model when reshares carry follower counts, else the learned curve model on the
headline metric; see engmon.core.forecast_model), scales the expected band of past posts to this
post's audience and phrases both for the verdict. Once a replay has delivered everything and
its clock is at the end (`final`), the forecast is the final count.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from engmon.core import band as bands
from engmon.core.campaign import Campaign
from engmon.core.forecast import (
    DELIVERED,
    FORECAST,
    NOT_ENOUGH,
    SEISMIC,
    TAKING_OFF,
    Forecast,
    choose_reshares,
    reshare_events,
    reshare_rows,
)
from engmon.core.forecast_model import RESHARE_MODEL, count_forecast, reshare_forecast
from engmon.core.history import load_history, post_curve, post_key, save_post
from engmon.core.schema import CLICKS, RESHARE_METRICS, RESHARERS, UTC_US, conform
from engmon.core.store import ObservationStore, observations_to_deltas
from engmon.core.words import compact_count, singular


def _count(value: float) -> str:
    """A forecast total as a whole count: 45, 2.1k, 12k."""
    return compact_count(round(value))


def forecast_noun(forecast: Forecast, metric: str) -> str:
    """What the forecast counts: reshares for the reshare models, else the curve's metric."""
    return "reshares" if forecast.model in (RESHARE_MODEL, SEISMIC) else metric


def _range(forecast: Forecast) -> tuple[str, str]:
    high = "no limit" if forecast.high is None else _count(forecast.high)
    return _count(forecast.low if forecast.low is not None else forecast.observed), high


def forecast_phrase(forecast: Forecast, metric: str = CLICKS) -> str:
    """One sentence for the verdict: "Forecast: ~120 reshares in total (90% range 80–190)"."""
    noun = forecast_noun(forecast, metric)
    if forecast.state == TAKING_OFF:
        return f"Forecast: taking off — {noun} keep bringing more {noun}, no upper limit yet"
    if forecast.state != FORECAST or forecast.predicted is None:
        return f"Forecast of {noun}: {forecast.sure}"
    if forecast.reason == DELIVERED:
        one = forecast.predicted == 1  # "Final: 1 click", not "1 clicks"
        return f"Final: {_count(forecast.predicted)} {singular(noun) if one else noun}"
    low, high = _range(forecast)
    return (
        f"Forecast: ~{_count(forecast.predicted)} {noun} in total"
        f" ({forecast.level:.0%} range {low}–{high})"
    )


def forecast_kpi(forecast: Forecast) -> str:
    """The KPI row's forecast value: `120 (80–190)`, `taking off`, `not enough data yet`."""
    if forecast.state == TAKING_OFF:
        return "taking off"
    if forecast.state != FORECAST or forecast.predicted is None:
        return "not enough data yet"
    if forecast.reason == DELIVERED:
        return f"{_count(forecast.predicted)} (final)"
    low, high = _range(forecast)
    return f"{_count(forecast.predicted)} ({low}–{high.replace('no limit', '∞')})"


@dataclass(frozen=True)
class Outlook:
    """Forecast, band (per-minute counts for this audience) and standing at one instant."""

    forecast: Forecast
    metric: str
    band: pl.DataFrame | None = field(default=None, repr=False)
    standing: bands.Standing | None = None
    clicks: Forecast | None = None
    """Beside a reshare forecast: the forecast of `metric` (clicks) from its curve."""

    def phrases(self) -> tuple[str, ...]:
        """Sentences the verdict appends: the standing against past posts, then the forecast."""
        parts = [] if self.standing is None else [self.standing.text.capitalize()]
        parts.append(forecast_phrase(self.forecast, self.metric))
        if self.clicks is not None and self.clicks.state == FORECAST:
            clicks = forecast_phrase(self.clicks, self.metric).replace("Forecast: ", "", 1)
            parts.append(clicks[0].upper() + clicks[1:])
        return tuple(parts)


def forecast_store(
    deltas: pl.DataFrame,
    minutes: pl.DataFrame,
    post_time: datetime,
    followers: int | None,
    elapsed_s: float,
    metric: str = CLICKS,
    *,
    reshares: pl.DataFrame | None = None,
    final: bool = False,
) -> Forecast:
    """The reshare model on reshares with follower counts when the store has them, else the
    curve model on `metric` per minute (from the small per-minute aggregate), as of
    `elapsed_s`. `final`: the source delivered everything (the forecast is the count).

    `reshares` (`reshare_rows` of `deltas`, kept incrementally by a caller) saves the scan."""
    rows = reshare_rows(deltas, post_time) if reshares is None else reshares
    reshares = choose_reshares(rows).filter(pl.col("t_s") <= elapsed_s)
    if reshares.height:
        return reshare_forecast(
            reshares.get_column("t_s").to_numpy(),
            reshares.get_column("followers").to_numpy(),
            float(followers or 0),
            elapsed_s,
            final=final,
        )
    return curve_outlook(minutes, metric, elapsed_s, final=final)


def outlook_at(
    deltas: pl.DataFrame,
    minutes: pl.DataFrame,
    post_time: datetime,
    followers: int | None,
    elapsed_s: float,
    metric: str,
    history: pl.DataFrame | None,
    *,
    reshares: pl.DataFrame | None = None,
    final: bool = False,
) -> Outlook:
    """The outlook `elapsed_s` after the post (the dashboard's tracker and `report` alike):
    the forecast (`forecast_store`), the band of your past posts (`history`) and, beside a
    reshare forecast, the curve forecast of `metric` (clicks) where its curve allows."""
    made = forecast_store(
        deltas, minutes, post_time, followers, elapsed_s, metric, reshares=reshares, final=final
    )
    outlook = compute_outlook(made, metric, history, followers, minutes, elapsed_s)
    if made.model == RESHARE_MODEL and metric not in (*RESHARE_METRICS, RESHARERS):
        fitted = curve_outlook(minutes, metric, elapsed_s, final=final)
        if fitted.state != NOT_ENOUGH:  # shown only where the link's curve allows
            outlook = replace(outlook, clicks=fitted)
    return outlook


def curve_outlook(
    minutes: pl.DataFrame, metric: str, elapsed_s: float, *, final: bool = False
) -> Forecast:
    """The curve model on `metric` per whole minute; the minute still running counts in what
    has happened (the forecast's floor) but not in the curve's shape."""
    whole = max(int(elapsed_s // 60), 0)
    curve = per_minute(minutes, metric, whole)
    running = per_minute(minutes, metric, whole + 1)[whole:].sum() if elapsed_s >= 0 else 0.0
    return count_forecast(curve, observed=float(curve.sum() + running), final=final)


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
    since = (pl.col("ts") - pl.lit(post_time, dtype=UTC_US)).dt.total_microseconds() / 1e6
    minutes = (
        deltas.filter(pl.col("metric") == metric, pl.col("value") > 0)
        .group_by("metric", minute=(since // 60).cast(pl.Int64))
        .agg(pl.col("value").sum())
    )
    last = deltas.select(since.max()).item() if deltas.height else None
    # the file holds the whole post: asked at or after its last row, the forecast is the count
    final = last is not None and at_s >= float(last)
    made = forecast_store(deltas, minutes, post_time, followers, at_s, metric, final=final)
    if made.model in (SEISMIC, RESHARE_MODEL):
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
    elif isinstance(predicted, float) and result["level"] == 1.0:
        head += f"{predicted:.0f} {noun}, {result['sure']}"
    elif isinstance(predicted, float):
        top = f"{high:.0f}" if isinstance(high, float) else "no limit"
        bottom = f"{low:.0f}" if isinstance(low, float) else "?"
        level = float(result.get("level") or 0.95)  # type: ignore[arg-type]
        head += f"~{predicted:.0f} {noun} in total ({level:.0%}: {bottom}–{top}), {result['sure']}"
    else:
        head += str(result["sure"])
    actual = float(result["actual"])  # type: ignore[arg-type]
    tail = f"actual final size: {actual:.0f} {noun}"
    error = result["relative_error"]
    if isinstance(error, float):
        tail += f" (relative error {error:.0%})"
    return [head, tail]


class OutlookTracker:
    """Keeps the outlook of a watched post current without redoing work on every frame.

    Past curves are read from the history directory once per metric (None: no band); the
    forecast is recomputed only when the store changed or the clock entered a new minute, and
    when the caller passes `wall` (a monotonic time in seconds), at most every `every_s` while
    only data and time move on: a cascade of 100k reshares costs tens of ms to forecast and a
    live feed or a fast replay changes the store on every frame. `pending` then says that the
    outlook shown is older than the data (ask again on the next frame).
    """

    every_s: float = 0.5
    pending: bool = False

    def __init__(self, history_dir: Path | None = None, *, last: int = 10) -> None:
        self.history_dir = history_dir
        self.last = last
        self._history: dict[str, pl.DataFrame] = {}
        self._key: object = None
        self._outlook: Outlook | None = None
        self._exclude: str | None = None
        self._rows: pl.DataFrame | None = None  # reshare_rows of the store, kept incrementally
        self._rows_seen = 0
        self._rows_post_time: datetime | None = None
        self._wall = float("-inf")
        self._bands: dict[tuple[str, int, int | None, str | None], pl.DataFrame | None] = {}

    def history(self, metric: str) -> pl.DataFrame | None:
        """Past posts' curves of `metric` per 1k followers (cached), None without a history.

        The watched post itself (saved by an earlier replay of it) is left out."""
        if self.history_dir is None:
            return None
        if metric not in self._history:
            self._history[metric] = load_history(
                metric, self.history_dir, last=self.last, exclude=self._exclude
            )
        return self._history[metric]

    def update(
        self,
        store: ObservationStore,
        campaign: Campaign,
        now: datetime,
        metric: str,
        *,
        wall: float | None = None,
        final: bool = False,
    ) -> Outlook | None:
        """The outlook as of `now` (None before the post time is known). `final`: every source
        delivered everything and the clock is at the end, so the forecast is the count."""
        post_time = campaign.post_time or store.post_time
        if post_time is None:
            return None
        elapsed_s = (now - post_time).total_seconds()
        key = (store.revision, int(elapsed_s // 60), metric, campaign.followers, final)
        if key == self._key and self._outlook is not None:
            self.pending = False
            return self._outlook
        seen = self._rows_seen > 0  # the last outlook had rows (not the empty first frame)
        if wall is not None and seen and self._outlook is not None and isinstance(self._key, tuple):
            # the same view moving forward (no seek back, no other metric): wait a little
            onward = key[2:] == self._key[2:] and key[1] >= self._key[1]
            if onward and not final and wall - self._wall < self.every_s:
                self.pending = True
                return self._outlook
        self._wall = wall if wall is not None else float("-inf")
        self.pending = False
        deltas = store.deltas()
        if post_time != self._rows_post_time or deltas.height < self._rows_seen:
            self._rows, self._rows_seen, self._rows_post_time = None, 0, post_time
        if deltas.height > self._rows_seen or self._rows is None:
            # the store only appends increments: scan just the rows merged since last time
            fresh = reshare_rows(deltas.slice(self._rows_seen), post_time)
            self._rows = fresh if self._rows is None else pl.concat([self._rows, fresh])
            self._rows_seen = deltas.height
        exclude = post_key(campaign.name, post_time)
        if exclude != self._exclude:
            self._exclude, self._history, self._bands = exclude, {}, {}
        outlook = outlook_at(
            deltas,
            store.minutes(),
            post_time,
            campaign.followers,
            elapsed_s,
            metric,
            self.history(metric),
            reshares=self._rows,
            final=final,
        )
        self._outlook = outlook
        self._key = key
        return self._outlook

    def band(self, metric: str, width: int, followers: int | None) -> pl.DataFrame | None:
        """The p10/p50/p90 band per bucket of `width` minutes, in counts for `followers`.

        Cached: the history does not change during a watch, and the dashboard asks on every
        recompute of its view (for the curve and for the alerts)."""
        key = (metric, width, followers, self._exclude)
        if key not in self._bands:
            past = self.history(metric)
            if past is None or past.is_empty() or not followers:
                self._bands[key] = None
            else:
                bucketed = past.group_by("post", minute=(pl.col("minute") // width) * width)
                summed = bucketed.agg(pl.col("value").sum())
                self._bands[key] = bands.scaled_band(bands.expected_band(summed), followers)
        return self._bands[key]

    def save(self, store: ObservationStore, campaign: Campaign) -> Path | None:
        """Keep this post's curve in the history (needs a post time and a follower count)."""
        post_time = campaign.post_time or store.post_time
        if self.history_dir is None or post_time is None or not campaign.followers:
            return None
        curve = post_curve(store.minutes(), campaign.name, post_time, campaign.followers)
        return save_post(curve, self.history_dir)
