"""The numbers at an instant: counts, engagement, velocity now and before, peak, reach.

Every surface reads one `Standing`: the dashboard's KPIs and verdict, `engmon report` (text
and JSON), the alerts and the plain watch's poll line. Nothing else computes these figures,
so the same file at the same clock shows the same numbers everywhere.

Definitions (one of each):

- *visible*: everything stamped up to and including the clock: the minutes since post before
  `now_minute = floor(elapsed / 60) + 1`, the clock's own (partial) minute included, so an
  event at exactly +10m00s counts at +10m (`metrics.now_minute_of`; `report --at` filters
  the file the same way);
- *velocity now*: the headline metric's increases in the last `VELOCITY_WINDOW` minutes
  divided by the time those minutes really covered (`velocity_span`), so the partial minute
  and the first minutes after the post are not diluted; *velocity before*: the same over the
  window before it;
- *peak*: the busiest whole minute since the post (the earliest one on ties);
- *engagement*: clicks + replies + reposts + quotes (likes are shown, never counted);
- *reach*: followers of the accounts that reshared;
- *conversions*: visitors who reached the goal (a vendor goal, an access log's goal path),
  with their rate per click and per 1k followers;
- *visitors now*: the `active` gauge (visitors of the last 5 minutes) at the clock's minute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from engmon.core import metrics
from engmon.core.metrics import VELOCITY_WINDOW, now_minute_of, pick_headline
from engmon.core.schema import (
    ACTIVE,
    CLICKS,
    CONVERSIONS,
    ENGAGEMENT_METRICS,
    FOLLOWERS,
    LIKES,
    QUOTES,
    REPLIES,
    REPOSTS,
    RESHARE_METRICS,
    RESHARERS,
)

SERIES_MINUTES: Final = 30 * 24 * 60
"""The per-minute series (what the trend words walk) cover at most the post's first 30 days:
a post time decades before the data must not allocate decades of minutes."""
ENGINE: Final = "in-memory"
"""A few thousand minute rows: per-call start-up dominates, the streaming engine only adds."""


@dataclass(frozen=True)
class MetricFigures:
    """One metric as it stood: `count` (counter level + increases), `reach`, the busiest
    minute (`peak`, `peak_minute`), `velocity` per minute now, seconds to its first increase."""

    count: float = 0.0
    reach: int = 0
    peak: float = 0.0
    peak_minute: int | None = None
    velocity: float = 0.0
    first_s: float | None = None


_NONE: Final = MetricFigures()


@dataclass(frozen=True)
class Standing:
    """The numbers of one post at one instant (see the module docstring for definitions).

    `per_metric` holds every metric the data has (at zero before it started); the headline
    is the honest metric the verdict, KPIs and alerts lead with (clicks when known).
    `series`, `engaged_series`, `reshare_series`: the headline's, the engagement's and the
    reshares' (reposts + quotes, else resharers) counts per minute since the post, from minute
    0 up to the clock (the last one partial): what the trend words walk.
    """

    post_time: datetime | None
    elapsed_s: float
    now_minute: int
    velocity_span: float
    """Minutes of time the "now" window covered (what velocities are divided by)."""
    followers: int | None
    headline: str
    per_metric: Mapping[str, MetricFigures]
    present: frozenset[str]
    prior_velocity: float
    """The headline per minute over the `VELOCITY_WINDOW` minutes before the "now" window."""
    series: npt.NDArray[np.float64] = field(repr=False, compare=False)
    engaged_series: npt.NDArray[np.float64] = field(repr=False, compare=False)
    reshare_series: npt.NDArray[np.float64] = field(repr=False, compare=False)
    visitors_now: float | None = None
    """Visitors of the last 5 minutes at the clock (None: no source measures it)."""

    @property
    def whole_minutes(self) -> int:
        """Whole minutes since the post the trend words are judged at (minute boundaries,
        within the series' `SERIES_MINUTES`)."""
        return min(max(0, int(self.elapsed_s // 60)), len(self.series))

    def figures(self, metric: str) -> MetricFigures:
        """One metric's figures (zeros when the data does not have it)."""
        return self.per_metric.get(metric, _NONE)

    def count(self, *names: str) -> float:
        """The summed counts of `names`."""
        return float(sum(self.figures(name).count for name in names))

    @property
    def head(self) -> MetricFigures:
        """The headline metric's figures."""
        return self.figures(self.headline)

    @property
    def clicks(self) -> float:
        return self.count(CLICKS)

    @property
    def replies(self) -> float:
        return self.count(REPLIES)

    @property
    def reshares(self) -> float:
        """Reposts and quotes."""
        return self.count(REPOSTS, QUOTES)

    @property
    def likes(self) -> float:
        return self.count(LIKES)

    @property
    def engagement(self) -> float:
        """Clicks + replies + reposts + quotes."""
        return self.count(*ENGAGEMENT_METRICS)

    @property
    def per_1k(self) -> float | None:
        """Engagement per 1k followers of the poster (None when the audience is unknown)."""
        return metrics.per_thousand(self.engagement, self.followers)

    @property
    def reach(self) -> int:
        """Followers of the accounts that reshared."""
        return sum(self.figures(n).reach for n in (*RESHARE_METRICS, RESHARERS))

    @property
    def velocity(self) -> float:
        """The headline per minute now."""
        return self.head.velocity

    @property
    def peak(self) -> float:
        """The headline's busiest minute."""
        return self.head.peak

    @property
    def peak_minute(self) -> int | None:
        return self.head.peak_minute

    @property
    def first_s(self) -> float | None:
        """Seconds from the post to the headline's first increase."""
        return self.head.first_s

    @property
    def conversions(self) -> float:
        """Visitors who reached the goal."""
        return self.count(CONVERSIONS)

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per click (None without clicks)."""
        return metrics.conversion_rates(self.conversions, self.clicks, None)[0]

    @property
    def conversions_per_1k(self) -> float | None:
        """Conversions per 1k followers of the poster (None when the audience is unknown)."""
        return metrics.per_thousand(self.conversions, self.followers)

    @property
    def metrics(self) -> list[str]:
        """Metrics the data counts (followers and gauges left out), in display order."""
        return metrics.counted_metrics(self.present)


def _names(minutes: pl.DataFrame, levels: pl.DataFrame) -> set[str]:
    return set(minutes.get_column("metric").unique().to_list()) | set(
        levels.get_column("metric").unique().to_list()
    )


def standing_at(
    minutes: pl.DataFrame,
    levels: pl.DataFrame,
    *,
    post_time: datetime | None,
    elapsed_s: float,
    followers: int | None = None,
    names: Iterable[str] | None = None,
) -> Standing:
    """The standing `elapsed_s` after the post, from a per-minute aggregate (`metrics.minute_counts`
    or `ObservationStore.minutes()`) and counter levels (`metric`, `level`).

    `followers`: the poster's audience when the campaign knows it, else the data's sampled
    follower count is used. `names`: every metric the data has (default: those in `minutes`
    and `levels`); they pick the headline, so it does not change as the clock moves.
    """
    numbers, _ = standing_with(
        minutes, levels, post_time=post_time, elapsed_s=elapsed_s, followers=followers, names=names
    )
    return numbers


def standing_with(
    minutes: pl.DataFrame,
    levels: pl.DataFrame,
    *,
    post_time: datetime | None,
    elapsed_s: float,
    followers: int | None = None,
    names: Iterable[str] | None = None,
    also: Sequence[pl.LazyFrame] = (),
) -> tuple[Standing, list[pl.DataFrame]]:
    """`standing_at`, collecting the caller's own small queries `also` in the same parallel
    call (per-call overhead dominates at this size; the dashboard's curve buckets)."""
    now_minute = now_minute_of(elapsed_s)
    span = metrics.velocity_span(now_minute, VELOCITY_WINDOW, elapsed_s)
    present = set(names) if names is not None else _names(minutes, levels)
    headline = pick_headline(sorted(m for m in present if m != FOLLOWERS))  # gauges left out
    lo = now_minute - VELOCITY_WINDOW
    reshares = RESHARE_METRICS if present & set(RESHARE_METRICS) else (RESHARERS,)
    wanted = {headline, *ENGAGEMENT_METRICS, *reshares}
    seen = metrics.until(minutes.lazy(), now_minute)
    summary, prior, series, *extra = pl.collect_all(
        [
            metrics.summary(
                minutes.lazy(),
                now_minute=now_minute,
                width=1,
                velocity_window=VELOCITY_WINDOW,
                levels=levels.lazy(),
                post_time=post_time,
                elapsed_s=elapsed_s,
            ),
            seen.filter(
                pl.col("metric") == headline,
                pl.col("minute") >= lo - VELOCITY_WINDOW,
                pl.col("minute") < lo,
            ).select(pl.col("value").sum()),
            seen.filter(pl.col("metric").is_in(list(wanted)), pl.col("minute") >= 0).select(
                "metric", "minute", "value"
            ),
            *also,
        ],
        engine=ENGINE,
    )
    per_metric: dict[str, MetricFigures] = {}
    for row in summary.iter_rows(named=True):
        peak_minute, first_s = row["peak_minute"], row["first_s"]
        per_metric[row["metric"]] = MetricFigures(
            count=float(row["count"]),
            reach=int(row["reach"]),
            peak=float(row["peak"]),
            peak_minute=int(peak_minute) if peak_minute is not None else None,
            velocity=float(row["velocity"]),
            first_s=float(first_s) if first_s is not None else None,
        )
    for name in present - per_metric.keys():  # not started by the clock: zero, not missing
        per_metric[name] = _NONE
    if not followers:
        sampled = per_metric.get(FOLLOWERS, _NONE).count
        followers = int(sampled) if sampled >= 1 else None

    def dense(names: Iterable[str]) -> npt.NDArray[np.float64]:
        counts = np.zeros(min(max(now_minute, 0), SERIES_MINUTES), dtype=np.float64)
        rows = series.filter(pl.col("metric").is_in(list(names)), pl.col("minute") < len(counts))
        np.add.at(counts, rows.get_column("minute").to_numpy(), rows.get_column("value").to_numpy())
        return counts

    prior_sum = float(prior.item() or 0.0)
    numbers = Standing(
        post_time=post_time,
        elapsed_s=elapsed_s,
        now_minute=now_minute,
        velocity_span=span,
        followers=followers,
        headline=headline,
        per_metric=MappingProxyType(per_metric),
        present=frozenset(present),
        prior_velocity=prior_sum / VELOCITY_WINDOW,
        series=dense([headline]),
        engaged_series=dense(ENGAGEMENT_METRICS),
        reshare_series=dense(reshares),
        visitors_now=metrics.gauge_now(minutes, ACTIVE, now_minute) if ACTIVE in present else None,
    )
    return numbers, extra
