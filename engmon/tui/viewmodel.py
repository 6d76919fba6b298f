"""The dashboard's view model: everything on screen, computed in one place from the store.

`compute_view` reads only the store's small per-minute aggregate (`store.minutes()`, one row
per metric per minute) and its counter levels, never the raw observations, so an update costs
the same with 1k or 10M observations loaded. It is headless (no textual import) so the
benchmark and later features (forecast, drilldown) can call it directly; widgets only format.

The view is "as of the clock": a replay seeked back shows the state at the clock's minute
even though the store already holds later rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Literal

import polars as pl

from engmon.core import metrics
from engmon.core.campaign import Campaign
from engmon.core.judge import SHIPPED, PublicRank, judge
from engmon.core.metrics import now_minute_of
from engmon.core.outlook import Outlook
from engmon.core.standing import Standing, standing_with
from engmon.core.store import ObservationStore
from engmon.core.verdict import Verdict, sentences
from engmon.tui.state import ViewSettings

MAX_CURVE_BUCKETS: Final = 180
"""A chosen bucket width is widened when it would draw more bars than this."""
HOURS_AXIS_AFTER: Final = 180
"""Past this many minutes the curve's x axis is in hours."""


DEFAULT_SETTINGS: Final = ViewSettings()
"""Nothing chosen: the headline metric, no cumulative line, buckets adapted to the span."""

VerdictPhrase = Callable[[ObservationStore, Campaign, int], "str | None"]
"""A hook adding a sentence to the verdict (a forecast, the expected band of past posts):
called with the store, the campaign and the clock's minute since post; None adds nothing."""


@dataclass(frozen=True)
class Curve:
    """The plotted series: per bucket of `width` minutes since post; `x` is each bucket's
    middle in `unit` (minutes or hours), `cumulative` the running total at each bucket's end."""

    metric: str
    width: int
    auto_width: bool
    unit: str  # "min" or "h"
    x: list[float]
    values: list[float]
    cumulative: list[float] | None
    end_minute: int
    band_low: list[float] | None = None
    """Expected band of past posts (p10, p90) per bucket, aligned with `x` (issue 7)."""
    band_high: list[float] | None = None


@dataclass(frozen=True)
class DashboardView:
    """Everything the dashboard shows at one clock instant."""

    campaign: Campaign
    post_time: datetime | None
    now: datetime
    elapsed_s: float
    now_minute: int
    followers: int | None
    metrics: list[str]
    headline: str
    standing: Standing
    """The numbers at the clock (engmon.core.standing): the KPI row and the verdict's facts."""
    curve: Curve
    verdict: Verdict
    outlook: Outlook | None = None
    """Forecast, band and standing against past posts (engmon.core.outlook), when tracked."""

    @property
    def kpis(self) -> Standing:
        """The KPI row's numbers: the standing itself (the widgets only format it)."""
        return self.standing


def curve_width(span_minutes: int, chosen: int | None) -> tuple[int, bool]:
    """Bucket width for the curve and whether it was picked automatically."""
    if chosen is None:
        return metrics.auto_bucket_width(span_minutes), True
    width = chosen
    for candidate in metrics.BUCKET_WIDTHS:
        if candidate >= width and span_minutes / candidate <= MAX_CURVE_BUCKETS:
            return candidate, False
    return metrics.fit_width(
        max(width, metrics.BUCKET_WIDTHS[-1]), span_minutes, MAX_CURVE_BUCKETS
    ), False


def compute_view(
    store: ObservationStore,
    campaign: Campaign,
    now: datetime,
    settings: ViewSettings = DEFAULT_SETTINGS,
    *,
    phrases: Sequence[VerdictPhrase] = (),
    minutes: pl.DataFrame | None = None,
    levels: pl.DataFrame | None = None,
    outlook: Outlook | None = None,
    history: pl.DataFrame | None = None,
    public_rank: PublicRank | Literal["shipped"] | None = SHIPPED,
) -> DashboardView:
    """The dashboard as of `now`, from the store's per-minute aggregate and levels.

    The verdict is `engmon.core.judge.judge` of the standing with the `outlook` (forecast),
    your past posts' `history` of the headline and the `public_rank` reference; `phrases` add
    sentences after it (see `VerdictPhrase`). `minutes`/`levels` replace the store's own for
    a filtered view (the drilldown).
    """
    post_time = campaign.post_time or store.post_time
    elapsed_s = (now - post_time).total_seconds() if post_time is not None else 0.0
    minutes = store.minutes() if minutes is None else minutes
    levels = store.levels() if levels is None else levels
    # from the whole store, not just what the clock has reached: the headline stays put
    in_store = store.metric_names()
    # the curve's width depends only on the clock: its buckets come in the standing's collect
    now_minute = now_minute_of(elapsed_s)
    end_minute = max(1, now_minute)
    width, auto_width = curve_width(end_minute, settings.bucket_width)
    bucketed = (
        metrics.until(minutes.lazy(), now_minute)
        .filter(pl.col("minute") >= 0)
        .group_by("metric", bucket=(pl.col("minute") // width) * width)
        .agg(value=pl.col("value").sum(), reach=pl.col("reach").sum())
    )
    numbers, (buckets,) = standing_with(
        minutes,
        levels,
        post_time=post_time,
        elapsed_s=elapsed_s,
        followers=campaign.followers,
        names=in_store,
        also=[bucketed],
    )
    available = metrics.counted_metrics(in_store)
    headline = numbers.headline
    chosen = settings.metric if settings.metric in available else headline
    curve = compute_curve(
        buckets.filter(pl.col("metric") == chosen).drop("metric"),
        chosen,
        end_minute,
        width,
        auto_width,
        cumulative=settings.cumulative,
    )
    whole = max(0, int(elapsed_s // 60))
    extra = [text for phrase in phrases if (text := phrase(store, campaign, whole))]
    return DashboardView(
        campaign=campaign,
        post_time=post_time,
        now=now,
        elapsed_s=elapsed_s,
        now_minute=now_minute,
        followers=numbers.followers,
        metrics=available,
        headline=headline,
        standing=numbers,
        curve=curve,
        verdict=with_phrases(
            judge(numbers, history=history, outlook=outlook, public_rank=public_rank), extra
        ),
        outlook=outlook,
    )


def with_phrases(verdict: Verdict, extra: Sequence[str]) -> Verdict:
    """The verdict with the hooks' sentences appended."""
    if not extra:
        return verdict
    return replace(verdict, text=sentences(verdict.text.rstrip("."), extra))


def compute_curve(
    buckets: pl.DataFrame,
    metric: str,
    end_minute: int,
    width: int,
    auto_width: bool,
    *,
    cumulative: bool = False,
) -> Curve:
    """The curve from one metric's per-bucket counts (`bucket`, `value`), zero-filled."""
    table = metrics.dense(buckets, width, end_minute)
    values = table.get_column("value").to_list()
    running = table.get_column("value").cum_sum().to_list() if cumulative else None
    hours = end_minute > HOURS_AXIS_AFTER
    middles = table.get_column("bucket").cast(pl.Float64) + width / 2  # bars sit in their span
    x = (middles / 60.0).to_list() if hours else middles.to_list()
    return Curve(
        metric=metric,
        width=width,
        auto_width=auto_width,
        unit="h" if hours else "min",
        x=x,
        values=values,
        cumulative=running,
        end_minute=end_minute,
    )


def with_outlook(
    view: DashboardView, outlook: Outlook | None, band: pl.DataFrame | None
) -> DashboardView:
    """The view with its outlook, and the expected band (`minute`, `p10`, `p90` per bucket,
    in counts) on the curve's buckets as far as past posts reached (issue 7)."""
    curve = view.curve
    if band is not None and not band.is_empty() and curve.x:
        low = dict(zip(band.get_column("minute"), band.get_column("p10"), strict=True))
        high = dict(zip(band.get_column("minute"), band.get_column("p90"), strict=True))
        starts = [i * curve.width for i in range(len(curve.x))]
        covered = [s for s in starts if s in low]
        if covered:
            shown = starts[: starts.index(covered[-1]) + 1]
            curve = replace(
                curve,
                band_low=[float(low.get(s, 0.0)) for s in shown],
                band_high=[float(high.get(s, 0.0)) for s in shown],
            )
    return replace(view, outlook=outlook, curve=curve)
