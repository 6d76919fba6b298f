"""The drilldown over a store: breakdown tables kept incrementally, per dimension and filter."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from engmon.core import metrics
from engmon.core.breakdown import (
    TABLES,
    FilterStack,
    breakdown,
    bucket_rows,
    dimension_minutes,
    enrich,
    enrich_levels,
    merge_dimension_minutes,
    post_followers,
    table_sources,
    to_observations,
)
from engmon.core.schema import FOLLOWERS, OBSERVATION_SCHEMA, UTC_US, conform
from engmon.core.store import ObservationStore


# --- the drilldown state over a store --------------------------------------------------------
@dataclass
class DrilldownTables:
    """What the dashboard shows for one filter stack at one minute."""

    filters: FilterStack
    tables: dict[str, pl.DataFrame]
    minutes: pl.DataFrame
    levels: pl.DataFrame
    rows: int


class Drilldown:
    """Enriched increments of a store kept in step, and the filtered views the TUI asks for.

    Only rows merged since the last call are enriched (`sync`), and per-dimension minute
    aggregates are updated from them, so the unfiltered tables never rescan the store. The
    filtered slice is cached per (rows, filter stack): one filter change scans the increments
    once, then every table and the minute frame group that slice.
    """

    def __init__(self, store: ObservationStore, dimensions: Sequence[str] = TABLES) -> None:
        self.store = store
        self.dimensions = tuple(dimensions)
        self._rows = 0
        self._chunks: list[pl.DataFrame] = []
        self._frame: pl.DataFrame | None = None
        self._anchor: datetime | None = None
        self._per_minute: dict[str, pl.DataFrame] = {}
        self._slice_key: tuple[int, FilterStack] | None = None
        self._slice: pl.DataFrame | None = None
        self._sources: set[str] = set()
        self._levels_key = -1
        self._minutes_key: tuple[int, FilterStack, datetime] | None = None
        self._minutes: pl.DataFrame | None = None
        self._levels: pl.DataFrame | None = None
        self._audience_key = -1
        self._audience = pl.DataFrame(schema={"post": pl.String, "followers": pl.Int64})

    def sync(self) -> pl.DataFrame:
        """All increments so far, enriched (new store rows are enriched now, once)."""
        total = self.store.rows
        post_time = self.post_time()
        if post_time != self._anchor:  # re-anchored: minute aggregates start over
            self._anchor = post_time
            self._per_minute = {}
            if self._chunks:
                self._add_minutes(pl.concat(self._chunks))
        if total > self._rows:
            fresh = enrich(self.store.deltas().slice(self._rows))
            self._chunks.append(fresh)
            names = fresh.get_column("source").cast(pl.String).drop_nulls().unique()
            self._sources.update(names.to_list())
            if len(self._chunks) > 64:  # keep the concatenation cheap for long sessions
                self._chunks = [pl.concat(self._chunks, rechunk=True)]
            self._rows = total
            self._frame = None
            self._add_minutes(fresh)
        if self._frame is None:
            if self._chunks:
                self._frame = pl.concat(self._chunks, rechunk=False)
            else:
                self._frame = enrich(OBSERVATION_SCHEMA.to_frame())
        return self._frame

    def _add_minutes(self, fresh: pl.DataFrame) -> None:
        plans = [dimension_minutes(fresh.lazy(), d, self.post_time()) for d in self.dimensions]
        for dimension, new in zip(self.dimensions, pl.collect_all(plans), strict=True):
            held = self._per_minute.get(dimension)
            self._per_minute[dimension] = (
                new if held is None else merge_dimension_minutes(held, new)
            )

    def filtered(self, filters: FilterStack) -> pl.DataFrame:
        """Enriched increments that pass `filters` (cached until the store or stack changes)."""
        frame = self.sync()
        key = (self._rows, filters)
        if self._slice_key != key or self._slice is None:
            self._slice = frame.filter(filters.expr()) if filters else frame
            self._slice_key = key
        return self._slice

    def forget(self) -> None:
        """Drop the cached filtered slice (the next call recomputes it; for benchmarks)."""
        self._slice_key = None
        self._slice = None
        self._minutes_key = None

    def all_levels(self) -> pl.DataFrame:
        """Every counter level, enriched (cached per store revision)."""
        if self._levels_key != self.store.revision or self._levels is None:
            self._levels = enrich_levels(self.store.levels())
            self._levels_key = self.store.revision
        return self._levels

    def levels(self, filters: FilterStack) -> pl.DataFrame:
        """Counter levels that pass `filters` (levels count in totals, never in the curve)."""
        levels = self.all_levels()
        return levels.filter(filters.expr()) if filters else levels

    def post_followers(self) -> pl.DataFrame:
        """Followers of each post's poster, as far as the store knows (see `post_followers`)."""
        frame = self.sync()
        if self._audience_key != self.store.revision:
            levels = self.all_levels().lazy()
            self._audience = post_followers(frame.lazy(), levels).collect()
            self._audience_key = self.store.revision
        return self._audience

    def minutes(self, filters: FilterStack) -> pl.DataFrame:
        """Per-minute frame of the filtered slice (the store's own `minutes()` when unfiltered)."""
        if not filters:
            return self.store.minutes()
        key = (self._rows, filters, self.post_time())
        if self._minutes_key != key or self._minutes is None:
            counts = metrics.minute_counts(self.filtered(filters).lazy(), self.post_time())
            self._minutes = counts.sort("metric", "minute").collect()
            self._minutes_key = key
        return self._minutes

    def tables(
        self,
        filters: FilterStack,
        *,
        now_minute: int,
        metric_names: Sequence[str],
        followers: int | None = None,
        velocity_window: int = metrics.VELOCITY_WINDOW,
        velocity_span: float | None = None,
        sort: Mapping[str, tuple[str, bool]] | None = None,
        only: Sequence[str] | None = None,
    ) -> DrilldownTables:
        """Every breakdown table (or those in `only`: a child table nobody expanded is not
        needed), the filtered minutes and levels, in one pass of polars."""
        self.sync()
        post_time = self.post_time()
        levels = self.levels(filters).lazy()
        audiences = self.post_followers().lazy()
        plans = []
        wanted = [d for d in self.dimensions if only is None or d in only]
        for dimension in wanted:
            rows = (
                self.filtered(filters).lazy()
                if filters
                else self._per_minute.get(dimension, _empty_minutes(dimension)).lazy()
            )
            sort_by, descending = (sort or {}).get(dimension, ("count", True))
            plans.append(
                breakdown(
                    rows,
                    dimension,
                    post_time=post_time,
                    now_minute=now_minute,
                    metric_names=metric_names,
                    velocity_window=velocity_window,
                    velocity_span=velocity_span,
                    levels=levels,
                    followers=followers,
                    post_followers=audiences if dimension == "post" else None,
                    sources=table_sources(dimension, self._sources),
                    sort_by=sort_by,
                    descending=descending,
                )
            )
        frames = pl.collect_all(plans)
        return DrilldownTables(
            filters=filters,
            tables=dict(zip(wanted, frames, strict=True)),
            minutes=self.minutes(filters),
            levels=levels.collect(),
            rows=self.filtered(filters).height,
        )

    def bucket(self, filters: FilterStack, start_minute: int, width: int) -> pl.DataFrame:
        """The filtered observations of one curve bucket, oldest first (observation schema +
        `platform`)."""
        rows = bucket_rows(
            self.filtered(filters).lazy(),
            post_time=self.post_time(),
            start_minute=start_minute,
            width=width,
        )
        return rows.select(
            [pl.col(name).cast(dtype) for name, dtype in OBSERVATION_SCHEMA.items()]
            + [pl.col("platform").cast(pl.String)]
        ).collect()

    def observations(
        self, filters: FilterStack, until: datetime | None = None, followers: int | None = None
    ) -> pl.DataFrame:
        """The filtered increments in the observation schema up to and including `until`
        (what `export` writes), with a `followers` total at the post time when the poster's
        audience is known, so the file reads back with the same per-1k numbers."""
        rows = self.filtered(filters).lazy()
        if until is not None:
            rows = rows.filter(pl.col("ts") <= pl.lit(until, dtype=UTC_US))
        frame = to_observations(rows).collect()
        if followers and not frame.filter(pl.col("metric") == FOLLOWERS).height:
            audience = pl.DataFrame(
                {
                    "ts": [self.post_time()],
                    "source": ["campaign"],
                    "kind": ["total"],
                    "metric": [FOLLOWERS],
                    "value": [float(followers)],
                }
            )
            frame = pl.concat([conform(audience.lazy()).collect(), frame])
        return frame

    def post_time(self) -> datetime:
        """The store's post time (an arbitrary fixed anchor before anything was merged)."""
        return self.store.post_time or datetime(1970, 1, 1, tzinfo=UTC)


@functools.cache
def _empty_minutes(dimension: str) -> pl.DataFrame:
    frame = enrich(OBSERVATION_SCHEMA.to_frame()).lazy()
    return dimension_minutes(frame, dimension, datetime(1970, 1, 1, tzinfo=UTC)).collect()
