"""Breakdowns and filters over the store's increments, as pure polars.

The drilldown answers "where from?": the increments (`ObservationStore.deltas()`) grouped by
referrer platform (with the raw host on expand), country, device, post and path, each row with
its count, share, velocity now and count per 1k followers. A stack of (dimension, value) filters
becomes one polars expression; the filtered increments also give a per-minute frame
(`metrics.minute_counts`) so the curve, KPIs and verdict can be recomputed for the slice.

`Drilldown` keeps an *enriched* copy of the increments in step with a store: referrers mapped
to `platform`/`host` once per new chunk and dimensions as Categorical, so a filter change costs
a scan of categorical columns and a few small group-bys, not a million regex evaluations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from engmon.core import metrics
from engmon.core.printable import printable
from engmon.core.referrers import with_referrer_columns
from engmon.core.schema import DIMENSIONS, FOLLOWERS, OBSERVATION_SCHEMA, UTC_US, utm_value

BREAKDOWNS: Final = (
    "platform",
    "utm_source",
    "country",
    "device",
    "browser",
    "os",
    "post",
    "path",
)
"""Dimensions that get a breakdown table, in screen order (referrer shown as its platform,
the utm tags as their source)."""

CHILDREN: Final = {"platform": "host", "utm_source": "utm_campaign"}
"""Tables whose rows expand into a child table: a platform's hosts, a source's campaigns."""

TABLES: Final = (*BREAKDOWNS, *CHILDREN.values())
"""Every table `Drilldown.tables` computes: the breakdowns plus the child tables (expand)."""

FILTER_DIMENSIONS: Final = (
    "platform",
    "host",
    "referrer",
    "utm_source",
    "utm_campaign",
    "utm",
    "country",
    "device",
    "browser",
    "os",
    "post",
    "path",
    "source",
    "metric",
)
"""Columns of the enriched increments a filter may name."""

SORT_COLUMNS: Final = ("count", "share", "velocity", "per_1k", "value")
"""Columns a breakdown table can be sorted by."""

LABEL_CHARS: Final = 48
"""Longest filter value a breadcrumb shows."""

NONE_LABEL: Final = "(none)"
"""How a missing dimension value (null) is shown and typed."""

NOT_SET: Final = "(not set)"
"""A utm source or campaign a tagged visit does not carry (Plausible's word for it)."""

BREAKDOWN_SCHEMA: Final = pl.Schema(
    {
        "value": pl.String(),
        "parent": pl.String(),
        "count": pl.Float64(),
        "share": pl.Float64(),
        "velocity": pl.Float64(),
        "per_1k": pl.Float64(),
    }
)
"""One breakdown row: the dimension value (null: none), its parent platform (host rows only),
count (increases + counter levels), share of the table, velocity per minute over the last
window, count per 1k followers (null when the audience is unknown)."""

_CATEGORICAL_COLUMNS: Final = ("metric", *DIMENSIONS)


# --- filters ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    """Keep only rows whose `dimension` equals `value` (None: rows where it is missing)."""

    dimension: str
    value: str | None

    def __post_init__(self) -> None:
        if self.dimension not in FILTER_DIMENSIONS:
            raise ValueError(f"cannot filter on {self.dimension!r}")

    def expr(self) -> pl.Expr:
        """The row predicate."""
        column = pl.col(self.dimension)
        if self.value is None:
            return column.is_null()
        return column == self.value

    def label(self) -> str:
        """`platform=X`, shown literally (control characters escaped); long post URLs and
        paths keep their distinctive end (`post=…/post/3kaaa`)."""
        if self.value is None:
            return f"{self.dimension}={NONE_LABEL}"
        shown = printable(self.value)
        if len(shown) > LABEL_CHARS:
            if self.dimension in ("post", "path", "referrer"):
                shown = "…" + shown[-(LABEL_CHARS - 1) :]
            else:
                shown = shown[: LABEL_CHARS - 1] + "…"
        return f"{self.dimension}={shown}"


@dataclass(frozen=True)
class FilterStack:
    """Filters applied together (AND), most recent last; pushing and popping make new stacks."""

    filters: tuple[Filter, ...] = ()

    def push(self, new: Filter) -> FilterStack:
        """This stack plus `new` (unchanged when the same filter is already on)."""
        if new in self.filters:
            return self
        return FilterStack((*self.filters, new))

    def pop(self) -> FilterStack:
        """This stack without its most recent filter."""
        return FilterStack(self.filters[:-1])

    def expr(self) -> pl.Expr:
        """One predicate for the whole stack (true when empty)."""
        if not self.filters:
            return pl.lit(True)
        return pl.all_horizontal([f.expr() for f in self.filters])

    def breadcrumb(self, separator: str = " › ") -> str:
        """`platform=X › post=…`, or `` when nothing is filtered."""
        return separator.join(f.label() for f in self.filters)

    def __len__(self) -> int:
        return len(self.filters)

    def __bool__(self) -> bool:
        return bool(self.filters)


# --- enrichment ------------------------------------------------------------------------------
def enrich(deltas: pl.DataFrame) -> pl.DataFrame:
    """Increments plus `platform`, `host`, `utm_source` and `utm_campaign`, with the string
    dimensions as Categorical."""
    with_platform = with_utm_columns(with_referrer_columns(deltas))
    present = [c for c in _CATEGORICAL_COLUMNS if c in with_platform.columns]
    return with_platform.with_columns(pl.col(present).cast(pl.Categorical))


def with_utm_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Add `utm_source` and `utm_campaign` (Categorical) out of the `utm` tags, computed on
    the distinct tags only; a tagged visit without a source or campaign shows `(not set)`."""
    if "utm" not in frame.columns:
        return frame.with_columns(
            utm_source=pl.lit(None, pl.Categorical), utm_campaign=pl.lit(None, pl.Categorical)
        )
    tagged = pl.col("utm").is_not_null()
    distinct = frame.select(pl.col("utm").cast(pl.String).unique()).with_columns(
        [
            pl.when(tagged).then(utm_value(key).fill_null(NOT_SET)).cast(pl.Categorical).alias(key)
            for key in ("utm_source", "utm_campaign")
        ]
    )
    keyed = frame.with_columns(_utm_key=pl.col("utm").cast(pl.String))
    return keyed.join(
        distinct.rename({"utm": "_utm_key"}),
        on="_utm_key",
        how="left",
        nulls_equal=True,
        maintain_order="left",
    ).drop("_utm_key")


def enrich_levels(levels: pl.DataFrame) -> pl.DataFrame:
    """Counter levels (`ObservationStore.levels()`) with `platform`, `host` and the utm
    source and campaign, for filtering."""
    return with_utm_columns(with_referrer_columns(levels))


def to_observations(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Enriched rows back in the observation schema (drops `platform`/`host`, strings again)."""
    return frame.lazy().select(
        [pl.col(name).cast(dtype) for name, dtype in OBSERVATION_SCHEMA.items()]
    )


# --- breakdown tables ------------------------------------------------------------------------
def _cut(post_time: datetime, minute: int) -> pl.Expr:
    return pl.lit(post_time + timedelta(minutes=minute), dtype=UTC_US)


def breakdown(
    deltas: pl.LazyFrame,
    dimension: str,
    *,
    post_time: datetime,
    now_minute: int,
    metric_names: Sequence[str],
    velocity_window: int = metrics.VELOCITY_WINDOW,
    velocity_span: float | None = None,
    levels: pl.LazyFrame | None = None,
    followers: int | None = None,
    post_followers: pl.LazyFrame | None = None,
    sources: Sequence[str] | None = None,
    sort_by: str = "count",
    descending: bool = True,
) -> pl.LazyFrame:
    """One breakdown table (see `BREAKDOWN_SCHEMA`) of enriched, already filtered increments.

    Counts what happened before `now_minute` since post for the metrics named (plus counter
    levels, so a post's replies include those from before watching); velocity is per minute
    over the `velocity_window` minutes before it, divided by `velocity_span` (the time they
    covered: `Standing.velocity_span`, so a row's /min and the KPI "now" are one definition;
    default the whole window). `host` rows carry their platform in
    `parent`. Per 1k uses the post's poster followers for `post` rows when known, otherwise
    the campaign's `followers`. `sources` (see `table_sources`) keeps breakdown rows in their
    own table only. `utm_campaign` rows carry their source in `parent`.
    """
    if sort_by not in SORT_COLUMNS:
        raise ValueError(f"cannot sort by {sort_by!r}")
    names = list(metric_names)
    keys = dimension_keys(dimension)
    if "minute" in deltas.collect_schema().names():  # a `dimension_minutes` aggregate
        before = pl.col("minute") < now_minute
        recent = pl.col("minute") >= now_minute - velocity_window
    else:
        before = pl.col("ts") < _cut(post_time, now_minute)
        recent = pl.col("ts") >= _cut(post_time, now_minute - velocity_window)
    seen = deltas.filter(pl.col("metric").is_in(names) & before)
    if sources is not None:
        seen = seen.filter(pl.col("source").is_in(list(sources)))
    grouped = seen.group_by(keys).agg(
        increase=pl.col("value").sum(),
        recent=pl.col("value").filter(recent).sum(),
    )
    grouped = grouped.with_columns(pl.col(keys).cast(pl.String))
    if levels is not None:
        held = (
            levels.filter(
                pl.col("metric").is_in(names)
                & (pl.lit(True) if sources is None else pl.col("source").is_in(list(sources)))
            )
            .group_by(keys)
            .agg(level=pl.col("level").sum())
            .with_columns(pl.col(keys).cast(pl.String))
        )
        grouped = grouped.join(held, on=keys, how="full", coalesce=True, nulls_equal=True)
    else:
        grouped = grouped.with_columns(level=pl.lit(0.0))
    count = pl.col("increase").fill_null(0.0) + pl.col("level").fill_null(0.0)
    table = grouped.select(
        value=pl.col(keys[-1]),
        parent=pl.col(keys[0]) if len(keys) > 1 else pl.lit(None, dtype=pl.String),
        count=count,
        velocity=pl.col("recent").fill_null(0.0) / (velocity_span or velocity_window),
    ).filter((pl.col("count") != 0) | (pl.col("velocity") != 0))
    audience = pl.lit(followers, dtype=pl.Float64)
    if dimension == "post" and post_followers is not None:
        table = table.join(
            post_followers.select(value=pl.col("post").cast(pl.String), _followers="followers"),
            on="value",
            how="left",
        )
        audience = pl.coalesce(pl.col("_followers").cast(pl.Float64), audience)
    per_1k = pl.when(audience > 0).then(pl.col("count") * 1000.0 / audience)
    table = table.with_columns(
        share=pl.col("count") / pl.col("count").sum(),
        per_1k=per_1k,
    )
    # ties (and equal counts in live tables) keep a stable order: by value
    return (
        table.sort(
            [sort_by, "value"],
            descending=[descending, False],
            nulls_last=True,
        )
        .select(BREAKDOWN_SCHEMA.names())
        .cast(BREAKDOWN_SCHEMA)
    )


def dimension_keys(dimension: str) -> list[str]:
    """Group-by columns of a breakdown: child rows keep their parent (a host its platform,
    a campaign its utm source)."""
    for parent, child in CHILDREN.items():
        if dimension == child:
            return [parent, child]
    return [dimension]


def dimension_minutes(deltas: pl.LazyFrame, dimension: str, post_time: datetime) -> pl.LazyFrame:
    """Increments summed per (dimension value, metric, minute since post).

    `breakdown` accepts this in place of raw rows; the unfiltered tables are kept this way,
    updated per merged chunk, so they cost a group-by of a few thousand rows, not millions.
    """
    keys = dimension_keys(dimension)
    return (
        deltas.with_columns(metrics.minute_index(post_time))
        .group_by([*keys, "source", "metric", "minute"])
        .agg(value=pl.col("value").sum())
    )


def split_source(source: str) -> tuple[str, str | None]:
    """`umami:referrer` -> (`umami`, `referrer`); a plain source -> (source, None).

    Analytics APIs report referrer/country/device breakdowns as counts per value with no time
    series; sources name those rows `<source>:<dimension>` so the curve leaves them out.
    """
    base, _, suffix = source.rpartition(":")
    if base and suffix in DIMENSIONS:
        return base, suffix
    return source, None


def table_sources(dimension: str, sources: Iterable[str]) -> list[str] | None:
    """Sources whose rows count in the `dimension` table (None: all of them).

    A breakdown row counts only in its own dimension's table; a time-series row counts unless
    its source also reports a breakdown of that dimension (which would count it twice, once as
    "direct" or "(none)" and once per value).
    """
    column = {"platform": "referrer", "host": "referrer"}.get(dimension, dimension)
    if dimension.startswith("utm_"):
        column = "utm"
    parsed = {name: split_source(name) for name in sources}
    if all(part is None for _, part in parsed.values()):
        return None
    broken_down = {base for base, part in parsed.values() if part == column}
    return sorted(
        name
        for name, (base, part) in parsed.items()
        if part == column or (part is None and base not in broken_down)
    )


def merge_dimension_minutes(held: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Add a chunk's `dimension_minutes` into the held aggregate."""
    if held.is_empty():
        return new
    keys = [c for c in held.columns if c != "value"]
    return pl.concat([held, new]).group_by(keys).agg(value=pl.col("value").sum())


def post_followers(deltas: pl.LazyFrame, levels: pl.LazyFrame) -> pl.LazyFrame:
    """Followers of each post's poster: the `followers` counter (level + rises), per post.

    Several sources may sample the same poster; the largest current value wins.
    """
    rises = (
        deltas.filter(pl.col("metric") == FOLLOWERS)
        .group_by(pl.col("source").cast(pl.String), pl.col("post").cast(pl.String))
        .agg(rise=pl.col("value").sum())
    )
    start = (
        levels.filter(pl.col("metric") == FOLLOWERS)
        .group_by(pl.col("source").cast(pl.String), pl.col("post").cast(pl.String))
        .agg(level=pl.col("level").sum())
    )
    return (
        start.join(rises, on=["source", "post"], how="full", coalesce=True, nulls_equal=True)
        .filter(pl.col("post").is_not_null())
        .group_by("post")
        .agg(
            followers=(pl.col("level").fill_null(0.0) + pl.col("rise").fill_null(0.0))
            .max()
            .round()
            .cast(pl.Int64)
        )
        .sort("post")
    )


def bucket_rows(
    deltas: pl.LazyFrame, *, post_time: datetime, start_minute: int, width: int
) -> pl.LazyFrame:
    """Rows with `ts` in the bucket `[start_minute, start_minute + width)` since post, by time."""
    lo = _cut(post_time, start_minute)
    hi = _cut(post_time, start_minute + width)
    return deltas.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi)).sort("ts", maintain_order=True)


def host_children(
    table: pl.DataFrame, hosts: pl.DataFrame, expanded: Sequence[str]
) -> pl.DataFrame:
    """Parent rows with the child rows of each `expanded` parent right under them (a
    platform's hosts, a utm source's campaigns).

    Adds `depth` (0 parent, 1 child) so a table can indent the children.
    """
    platforms = table.with_columns(depth=pl.lit(0, dtype=pl.Int8), _order=pl.int_range(pl.len()))
    children = (
        hosts.filter(pl.col("parent").is_in(list(expanded)))
        .join(
            platforms.select(parent="value", _order="_order"),
            on="parent",
            how="inner",
            maintain_order="left",
        )
        .with_columns(depth=pl.lit(1, dtype=pl.Int8))
        .select(platforms.columns)
    )
    rows = pl.concat([platforms, children], how="vertical")
    return rows.sort(["_order", "depth"], maintain_order=True).drop("_order")
