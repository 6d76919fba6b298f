"""Engagement metrics as pure polars: minutes since post, buckets, cumulative, peak, velocity.

Two levels of frames flow through here:

- *deltas*: observation columns where `value` is an increase (see `engmon.core.store`);
- *minutes*: per (`metric`, `minute` since post) the summed `value`, summed `reach`, and
  `first_ts` (earliest increase in that minute). Everything on screen derives from minutes,
  which stay small (one row per metric per minute) however many observations came in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from engmon.core.schema import (
    CLICKS,
    ENGAGEMENT_METRICS,
    FOLLOWERS,
    GAUGE_METRICS,
    METRICS,
    QUOTES,
    REPLIES,
    REPOSTS,
    RESHARERS,
    UTC_US,
    breakdown_rows,
    row_end,
)

VELOCITY_WINDOW: Final = 5
"""Minutes over which "velocity now" is averaged (dashboard, report, alerts)."""

MINUTES_SCHEMA: Final = pl.Schema(
    {
        "metric": pl.String(),
        "minute": pl.Int64(),
        "value": pl.Float64(),
        "reach": pl.Int64(),
        "first_ts": UTC_US,
    }
)
BUCKET_WIDTHS: Final = (1, 5, 15, 60, 360, 1440)
MAX_BUCKET_MINUTES: Final = 366 * 1440
"""The widest bucket a user may ask for: a year."""
"""Bucket widths in minutes that the curve and `report --bucket` offer."""

_US_PER_MINUTE: Final = 60_000_000
MAX_BUCKETS: Final = 10_000
"""Most buckets a dense series holds: a longer span gets wider buckets (`fit_width`)."""


def empty_minutes() -> pl.DataFrame:
    """A minutes frame with no rows."""
    return MINUTES_SCHEMA.to_frame()


def order_metrics(names: Iterable[str]) -> list[str]:
    """Known metrics in display order, then any others alphabetically."""
    present = set(names)
    known = [m for m in METRICS if m in present]
    return known + sorted(present - set(METRICS))


def minute_index(post_time: datetime) -> pl.Expr:
    """Whole minutes between `post_time` and `ts` (floor, so before-post rows are negative)."""
    offset = (pl.col("ts") - pl.lit(post_time, dtype=UTC_US)).dt.total_microseconds()
    return (offset // _US_PER_MINUTE).alias("minute")


def minute_counts(deltas: pl.LazyFrame, post_time: datetime) -> pl.LazyFrame:
    """Sum increments per (metric, minute since post), with reach and the first increase.

    Breakdown rows (`umami:referrer`...) repeat what the time series holds: left out here.
    """
    # a bucket holding the post's first seconds (a wall-clock minute of Umami or Plausible
    # when the post went out mid-minute) had its first increase at the post at the earliest:
    # its start would read as a click before the post
    post = pl.lit(post_time, dtype=UTC_US)
    first = pl.when((pl.col("ts") < post) & (row_end() > post)).then(post).otherwise(pl.col("ts"))
    return (
        deltas.filter(~breakdown_rows())
        .with_columns(minute_index(post_time))
        .group_by("metric", "minute")
        .agg(
            value=pl.col("value").sum(),
            reach=pl.col("reach").sum(),
            first_ts=first.filter(pl.col("value") > 0).min(),
        )
        .cast(MINUTES_SCHEMA)
        .select(MINUTES_SCHEMA.names())
    )


def merge_minutes(held: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Add a few new minute rows into the held aggregate (cost grows with `new`, not `held`).

    Only the keys present in `new` are regrouped; the rest of `held` is kept as it is.
    """
    if new.is_empty():
        return held
    if held.is_empty():
        return new.sort("metric", "minute")
    # one lazy query, one collect: at a few thousand rows per-call overhead is the cost
    keys = new.lazy().select("metric", "minute")
    touched = held.lazy().join(keys, on=["metric", "minute"], how="semi")
    untouched = held.lazy().join(keys, on=["metric", "minute"], how="anti")
    combined = (
        pl.concat([touched, new.lazy()])
        .group_by("metric", "minute")
        .agg(
            value=pl.col("value").sum(),
            reach=pl.col("reach").sum(),
            first_ts=pl.col("first_ts").min(),
        )
        .cast(MINUTES_SCHEMA)
    )
    return pl.concat([untouched, combined]).sort("metric", "minute").collect(engine="in-memory")


def until(minutes: pl.LazyFrame, minute: int | None) -> pl.LazyFrame:
    """Minutes strictly before `minute` since post (None: everything)."""
    if minute is None:
        return minutes
    return minutes.filter(pl.col("minute") < minute)


def bucketed(minutes: pl.LazyFrame, width: int, metric: str | Sequence[str]) -> pl.LazyFrame:
    """Per bucket of `width` minutes since post: `value` summed over the metric(s), `reach`.

    `bucket` is the bucket's first minute since post; buckets before the post are dropped
    from the curve (they would sit left of zero).
    """
    names = [metric] if isinstance(metric, str) else list(metric)
    return (
        minutes.filter(pl.col("metric").is_in(names) & (pl.col("minute") >= 0))
        .with_columns(bucket=(pl.col("minute") // width) * width)
        .group_by("bucket")
        .agg(value=pl.col("value").sum(), reach=pl.col("reach").sum())
        .sort("bucket")
    )


def fit_width(width: int, end_minute: int, max_buckets: int = MAX_BUCKETS) -> int:
    """`width`, or the next coarser offered width (then whole days) that keeps the span from
    0 to `end_minute` within `max_buckets` buckets: memory follows the data, not the span."""
    if end_minute <= width * max_buckets:
        return width
    need = -(-end_minute // max_buckets)
    for candidate in BUCKET_WIDTHS:
        if candidate >= max(need, width):
            return candidate
    day = BUCKET_WIDTHS[-1]
    return -(-max(need, width) // day) * day


def dense(buckets: pl.DataFrame, width: int, end_minute: int) -> pl.DataFrame:
    """Fill missing buckets with zeros from 0 up to (not including) `end_minute`.

    ValueError past `MAX_BUCKETS` buckets: callers pick the width with `fit_width`.
    """
    count = max(1, -(-end_minute // width))
    if count > MAX_BUCKETS:
        raise ValueError(f"{count} buckets of {width} min; use metrics.fit_width")
    frame = pl.DataFrame({"bucket": pl.int_range(0, count, eager=True) * width}).cast(
        {"bucket": pl.Int64}
    )
    return (
        frame.join(buckets, on="bucket", how="left")
        .with_columns(pl.col("value").fill_null(0.0), pl.col("reach").fill_null(0))
        .sort("bucket")
    )


def with_cumulative(buckets: pl.LazyFrame, level: float = 0.0) -> pl.LazyFrame:
    """Add `cumulative`: running total of `value` in bucket order, starting from `level`."""
    return buckets.sort("bucket").with_columns(cumulative=pl.col("value").cum_sum() + level)


def auto_bucket_width(span_minutes: int, max_buckets: int = 90) -> int:
    """The finest offered width that keeps the curve under `max_buckets` bars."""
    for width in BUCKET_WIDTHS:
        if span_minutes / width <= max_buckets:
            return width
    return fit_width(BUCKET_WIDTHS[-1], span_minutes, max_buckets)


def parse_bucket(text: str) -> int:
    """`1m`, `5m`, `1h`, `1d` (or plain minutes) -> minutes; ValueError when not offered."""
    raw = text.strip().lower()
    factor = {"m": 1, "h": 60, "d": 1440}.get(raw[-1:])
    number = raw[:-1] if factor is not None else raw
    if not number.isdigit() or len(number) > 9:  # no sign, no nan; a year fits in 9 digits
        raise ValueError(text)
    minutes = int(number) * (factor or 1)
    if not 0 < minutes <= MAX_BUCKET_MINUTES:
        raise ValueError(text)
    return minutes


def summary(
    minutes: pl.LazyFrame,
    *,
    now_minute: int,
    width: int = 1,
    velocity_window: int = VELOCITY_WINDOW,
    levels: pl.LazyFrame | None = None,
    post_time: datetime | None = None,
    elapsed_s: float | None = None,
) -> pl.LazyFrame:
    """Per metric, as it stood at `now_minute` since post.

    Columns: `metric`, `count` (level + increases), `reach`, `peak` (largest bucket of `width`
    minutes), `peak_minute` (its first minute), `velocity` (mean per minute over the last
    `velocity_window` minutes; with `elapsed_s` only over the time those minutes really
    covered, so the partial current minute and the first minutes are not diluted),
    `first_s` (seconds from post to first increase, needs `post_time`), `level` (counter level
    before watching).
    """
    # two group_bys (per bucket, then per metric) instead of four aggregates and their joins:
    # the dashboard calls this every render tick
    lo = now_minute - velocity_window
    per_bucket = (
        minutes.filter(pl.col("minute") < now_minute)
        .with_columns(bucket=(pl.col("minute") // width) * width)
        .group_by("metric", "bucket")
        .agg(
            value=pl.col("value").sum(),
            reach=pl.col("reach").sum(),
            first_ts=pl.col("first_ts").min(),
            recent=pl.col("value").filter(pl.col("minute") >= lo).sum(),
        )
    )
    after = pl.col("bucket") >= 0  # buckets before the post never count as the peak
    by_bucket = pl.col("value").filter(after).sort_by(pl.col("bucket").filter(after))
    out = per_bucket.group_by("metric").agg(
        increase=pl.col("value").sum(),
        reach=pl.col("reach").sum(),
        first_ts=pl.col("first_ts").min(),
        peak=pl.col("value").filter(after).max(),
        # first occurrence of the largest bucket in time order: the earliest peak wins ties
        peak_minute=pl.col("bucket").filter(after).sort().get(by_bucket.arg_max()),
        velocity=pl.col("recent").sum() / velocity_span(now_minute, velocity_window, elapsed_s),
    )
    if levels is not None:
        level = levels.group_by("metric").agg(level=pl.col("level").sum())
        out = out.join(level, on="metric", how="full", coalesce=True)
    else:
        out = out.with_columns(level=pl.lit(0.0))
    first_s: pl.Expr
    if post_time is None:
        first_s = pl.lit(None, dtype=pl.Float64())
    else:
        first_s = (
            pl.col("first_ts") - pl.lit(post_time, dtype=UTC_US)
        ).dt.total_milliseconds() / 1000
    return out.select(
        "metric",
        count=pl.col("increase").fill_null(0.0) + pl.col("level").fill_null(0.0),
        reach=pl.col("reach").fill_null(0),
        peak=pl.col("peak").fill_null(0.0),
        peak_minute=pl.col("peak_minute"),
        velocity=pl.col("velocity").fill_null(0.0),
        first_s=first_s,
        level=pl.col("level").fill_null(0.0),
    ).sort("metric")


def velocity_span(now_minute: int, window: int, elapsed_s: float | None) -> float:
    """Minutes of time the velocity window [now_minute - window, now_minute) has covered.

    At 35 s after the post a window of 5 minutes holds 35 s of data: dividing by 5 would
    understate the rate five-fold. Never below one minute, so a first click is not 60/min.
    """
    if elapsed_s is None:
        return float(window)
    covered = elapsed_s / 60.0 - max(now_minute - window, 0)
    return min(float(window), max(1.0, covered))


def engagement(summary_frame: pl.DataFrame, metrics: Sequence[str] = ENGAGEMENT_METRICS) -> float:
    """Sum of the honest metrics' counts in a summary frame."""
    rows = summary_frame.filter(pl.col("metric").is_in(list(metrics)))
    return float(rows.get_column("count").sum()) if not rows.is_empty() else 0.0


def per_thousand(count: float, followers: int | None) -> float | None:
    """Engagement per 1k followers of the poster (None when the audience is unknown)."""
    if not followers:
        return None
    return count * 1000.0 / followers


def parse_offset(text: str) -> timedelta:
    """`90`, `90s`, `15m`, `1h`, `2d`, `1h30m` -> timedelta; ValueError otherwise."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError(text)
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return _seconds(seconds, text)
    units = {"d": 86_400, "h": 3600, "m": 60, "s": 1}
    total = 0.0
    number = ""
    for char in raw:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            raise ValueError(text)
    if number:
        raise ValueError(text)
    return _seconds(total, text)


def _seconds(seconds: float, text: str) -> timedelta:
    """`seconds` as a timedelta; ValueError (naming `text`) for nan, inf or beyond its range."""
    if not math.isfinite(seconds):
        raise ValueError(text)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(text) from None


HEADLINE_ORDER: Final = (CLICKS, REPOSTS, REPLIES, QUOTES, RESHARERS)
"""The metric the verdict, KPIs and alerts lead with: the first of these the data has."""


def now_minute_of(elapsed_s: float) -> int:
    """The end (exclusive) of the minutes since post whose data is visible: every minute
    holding a moment up to and including the clock. At a whole-minute clock that is the
    minute just begun, holding only what is stamped exactly at the clock, so an event at
    +10m00s counts at +10m on every surface, as `report --at 10m` reads the file."""
    return math.floor(elapsed_s / 60.0) + 1


def pick_headline(present: Sequence[str]) -> str:
    """The honest metric to lead with (clicks when known), else whatever the data has."""
    for name in HEADLINE_ORDER:
        if name in present:
            return name
    others = [m for m in present if m != FOLLOWERS and m not in GAUGE_METRICS]
    return others[0] if others else CLICKS


def counted_metrics(names: Iterable[str]) -> list[str]:
    """Metrics that are counts (the poster's followers and gauges such as `active` left out),
    in display order: what totals, the curve's metric choice and report tables list."""
    return order_metrics(m for m in names if m != FOLLOWERS and m not in GAUGE_METRICS)


GAUGE_STALE_MINUTES: Final = 2
"""A gauge sample older than this many minutes no longer says who is here now."""


def gauge_now(minutes: pl.DataFrame, metric: str, now_minute: int) -> float | None:
    """The latest sample of a gauge metric (`active`) the clock has reached.

    None when the data has no such gauge at all; 0 when its last sample is older than
    `GAUGE_STALE_MINUTES` (an access log's gauge stops when the hits stop).
    """
    rows = minutes.filter(pl.col("metric") == metric)
    if rows.is_empty():
        return None
    current = now_minute - 1  # the minute the clock is in
    recent = rows.filter(
        pl.col("minute").is_between(current - GAUGE_STALE_MINUTES + 1, current)
    ).sort("minute")
    return float(recent.get_column("value")[-1]) if recent.height else 0.0


def conversion_rates(
    conversions: float, clicks: float, followers: int | None
) -> tuple[float | None, float | None]:
    """(conversions per click, conversions per 1k followers); None where the base is 0 or
    unknown."""
    per_click = conversions / clicks if clicks > 0 else None
    return per_click, per_thousand(conversions, followers)
