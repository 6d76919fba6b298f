"""Turning analytics API answers into observation frames: time series and breakdowns.

Two shapes come back from link analytics (Plausible, Umami, Bitly, in-house endpoints):

- a *time series*: counts per minute (or any fixed width). Each point becomes a `bucket` row
  with `width_s` set; a re-poll of an overlapping window replaces the bucket in the store.
- a *breakdown*: counts per referrer/country/device over a window, with no time. Each entry
  becomes a `bucket` row at the window start with `width_s = 0` ("everything since `ts`"),
  the dimension set, and the source name suffixed with the dimension (`umami:referrer`). The
  fixed key (window start, width 0) means every re-poll replaces the previous breakdown; the
  suffix keeps these rows out of the engagement curve (`engmon.core.schema.breakdown_rows`)
  while the drilldown reads them by dimension.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

from engmon.core import bounds
from engmon.core.schema import UTC_US, UTM_KEYS, breakdown_source, conform, utm_tag
from engmon.core.words import plural, singular


def floor_minute(moment: datetime) -> datetime:
    """`moment` cut down to the start of its minute (UTC)."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def parse_time(value: object) -> datetime:
    """A vendor timestamp as aware UTC: ISO 8601 (with `Z`, `+0000` or naive = UTC) or epoch s.

    Raises ValueError or TypeError for anything else (the caller reports a shape error).
    """
    if isinstance(value, bool):
        raise TypeError("a boolean is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 100_000_000_000 else value  # epoch ms vs s
        if not bounds.EARLIEST_S <= seconds < bounds.LATEST_S:  # also nan
            raise ValueError(f"{value!r} is not a time {bounds.TIME_RANGE_TEXT}")
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str):
        raise TypeError(f"not a time: {value!r}")
    return bounds.parse_iso(value)


def iso_z(moment: datetime) -> str:
    """`2026-11-25T14:00:00Z` (seconds precision) for query strings and bodies."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (Umami's startAt/endAt)."""
    return int(moment.timestamp() * 1000)


def series_frame(
    source: str,
    metric: str,
    times: Sequence[datetime],
    values: Sequence[float],
    width_s: int,
    *,
    path: str | None = None,
) -> pl.DataFrame:
    """Bucket rows `[t, t + width_s)` for one metric of one source."""
    frame = pl.DataFrame(
        {
            "ts": pl.Series(list(times), dtype=UTC_US),
            "value": pl.Series([float(v) for v in values], dtype=pl.Float64),
        }
    ).with_columns(
        source=pl.lit(source),
        kind=pl.lit("bucket"),
        metric=pl.lit(metric),
        width_s=pl.lit(width_s),
        path=pl.lit(path, dtype=pl.String),
    )
    return conform(frame).collect()


def breakdown_frame(
    source: str,
    metric: str,
    dimension: str,
    window_start: datetime,
    entries: Sequence[tuple[str, float]],
    *,
    path: str | None = None,
) -> pl.DataFrame:
    """Breakdown rows: one `width_s = 0` bucket at `window_start` per dimension value."""
    frame = pl.DataFrame(
        {
            dimension: pl.Series([label for label, _ in entries], dtype=pl.String),
            "value": pl.Series([float(v) for _, v in entries], dtype=pl.Float64),
        }
    ).with_columns(
        ts=pl.lit(window_start, dtype=UTC_US),
        source=pl.lit(breakdown_source(source, dimension)),
        kind=pl.lit("bucket"),
        metric=pl.lit(metric),
        width_s=pl.lit(0),
        path=pl.lit(path, dtype=pl.String),
    )
    return conform(frame).collect()


def utm_breakdown_frame(
    source: str,
    metric: str,
    window_start: datetime,
    entries: Sequence[tuple[str, float]],
    *,
    path: str | None = None,
) -> pl.DataFrame:
    """`utm` breakdown rows from (query string, count) pairs: each query's utm_* tags
    (`utm_source=x&utm_campaign=y`, any order, other parameters ignored) become its `utm`
    value, counts of the same tags are summed, untagged queries count under null."""
    if not entries:
        return concat_frames([])
    queries = pl.DataFrame(
        {
            "query": [query.lstrip("?") for query, _ in entries],
            "value": [float(count) for _, count in entries],
        },
        schema={"query": pl.String, "value": pl.Float64},
    )
    text = pl.lit("&") + pl.col("query")
    tags = {key: text.str.extract(f"&{key}=([^&#]*)", 1) for key in UTM_KEYS}
    summed = (
        queries.group_by(utm=utm_tag(tags), maintain_order=True)
        .agg(pl.col("value").sum())
        .with_columns(
            ts=pl.lit(window_start, dtype=UTC_US),
            source=pl.lit(breakdown_source(source, "utm")),
            kind=pl.lit("bucket"),
            metric=pl.lit(metric),
            width_s=pl.lit(0),
            path=pl.lit(path, dtype=pl.String),
        )
    )
    return conform(summed).collect()


def concat_frames(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """One observation frame from several (empty input gives an empty frame)."""
    parts = [frame for frame in frames if not frame.is_empty()]
    if not parts:
        return conform(pl.DataFrame()).collect().clear()
    return pl.concat(parts, how="vertical")


def describe_frame(frame: pl.DataFrame) -> str:
    """One line for `check` and the plain log: buckets, time range and totals per metric.

    Breakdown rows are counted apart ("+ 14 breakdown rows") so totals are the curve's.
    """
    if frame.is_empty():
        return "no new data"
    from engmon.core.schema import breakdown_rows

    curve = frame.filter(~breakdown_rows())
    extra = frame.height - curve.height
    parts: list[str] = []
    if not curve.is_empty():
        first = curve.get_column("ts").min()
        last = curve.get_column("ts").max()
        kinds = curve.get_column("kind").cast(pl.String).unique().sort().to_list()
        span = ""
        if isinstance(first, datetime) and isinstance(last, datetime):
            span = f" {first:%H:%M}-{last:%H:%M}"
        parts.append(f"{curve.height} {'/'.join(kinds)} rows{span}")
        totals = (
            curve.group_by("metric", maintain_order=True)
            .agg(pl.col("value").sum())
            .sort("metric")
            .iter_rows()
        )
        parts.append(", ".join(_counted(value, metric) for metric, value in totals))
    if extra:
        parts.append(f"+ {extra} breakdown rows")
    return ", ".join(parts)


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes from `start` to `end` (at least 1)."""
    return max(1, int((end - start) / timedelta(minutes=1)) + 1)


def _counted(value: float, metric: str) -> str:
    """`1 click`, `3 replies`, `2.5 visitors`."""
    return plural(value, singular(metric), metric)
