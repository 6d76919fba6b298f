"""ObservationStore: merges observation frames idempotently into engagement increments.

Every merged row becomes zero or more *delta* rows (the same columns as an observation, with
`value` the increase it brings):

- event rows count once per (`source`, `id`); rows without an id are always new;
- bucket rows replace the previous value of their key, so a re-polled window yields only the
  difference (negative when a vendor revises a bucket down);
- total rows (running counters) yield the climb past the counter's previous high; the first
  sample of a counter is its *level* before watching, kept apart so it never shows as a burst.

The store keeps a per-minute aggregate (minutes since post) updated from each merge's deltas
only, so a tick with a few new rows costs the same whether 1k or 10M rows came before.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import polars as pl

from engmon.core import metrics
from engmon.core.schema import KINDS, OBSERVATION_SCHEMA, conform

BUCKET_KEY: Final = (
    "source",
    "metric",
    "ts",
    "width_s",
    "post",
    "referrer",
    "country",
    "device",
    "path",
    "utm",
    "browser",
    "os",
)
TOTAL_KEY: Final = (
    "source",
    "metric",
    "post",
    "referrer",
    "country",
    "device",
    "path",
    "utm",
    "browser",
    "os",
)
_LEVEL_SCHEMA: Final = pl.Schema(
    {name: OBSERVATION_SCHEMA[name] for name in TOTAL_KEY}
    | {"level": pl.Float64(), "hwm": pl.Float64(), "ts": OBSERVATION_SCHEMA["ts"]}
)
_BUCKET_SCHEMA: Final = pl.Schema(
    {name: OBSERVATION_SCHEMA[name] for name in BUCKET_KEY} | {"value": pl.Float64}
)


@dataclass(frozen=True)
class MergeResult:
    """How a merge changed the store: rows offered, delta rows produced, latest ts seen."""

    offered: int
    changed: int
    latest: datetime | None


def total_deltas(samples: pl.DataFrame, state: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Turn counter samples into increments past each counter's high-water mark.

    `state` holds per counter key its `level` (first sample ever) and `hwm`. Returns the
    sample rows with `value` replaced by the increment (first-ever samples get 0) and the new
    state. Pure polars: sorted by time, a running max per key, differences of that max.
    """
    key = list(TOTAL_KEY)
    ordered = samples.sort("ts", maintain_order=True).join(
        state.select([*key, pl.col("hwm").alias("_prev")]), on=key, how="left", nulls_equal=True
    )
    running = pl.max_horizontal(pl.col("value").cum_max().over(key), pl.col("_prev"))
    ordered = ordered.with_columns(_hwm=running)
    before = pl.col("_hwm").shift(1).over(key).fill_null(pl.col("_prev"))
    deltas = ordered.with_columns(
        value=(pl.col("_hwm") - before).fill_null(0.0).clip(lower_bound=0)
    )
    firsts = (
        ordered.filter(pl.col("_prev").is_null())
        .group_by(key, maintain_order=True)
        .agg(level=pl.col("value").first())
    )
    lasts = ordered.group_by(key, maintain_order=True).agg(
        hwm=pl.col("_hwm").last(), ts=pl.col("ts").last()
    )
    updated = lasts.join(firsts, on=key, how="left", nulls_equal=True).join(
        state.select([*key, pl.col("level").alias("_old_level")]),
        on=key,
        how="left",
        nulls_equal=True,
    )
    updated = updated.select(
        *key,
        level=pl.coalesce("_old_level", "level"),
        hwm=pl.col("hwm"),
        ts=pl.col("ts"),
    )
    new_state = pl.concat(
        [state.join(updated.select(key), on=key, how="anti", nulls_equal=True), updated],
        how="vertical_relaxed",
    ).cast(_LEVEL_SCHEMA)
    return deltas.drop("_prev", "_hwm").filter(pl.col("value") > 0), new_state


def bucket_deltas(buckets: pl.DataFrame, state: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Differences between re-polled buckets and the values already held for their key."""
    key = list(BUCKET_KEY)
    latest = buckets.unique(subset=key, keep="last", maintain_order=True)
    joined = latest.join(
        state.rename({"value": "_old"}), on=key, how="left", nulls_equal=True
    ).with_columns(value=pl.col("value") - pl.col("_old").fill_null(0.0))
    deltas = joined.drop("_old").filter(pl.col("value") != 0)
    new_state = pl.concat(
        [
            state.join(latest.select(key), on=key, how="anti", nulls_equal=True),
            latest.select([*key, "value"]),
        ]
    )
    return deltas, new_state


def observations_to_deltas(
    observations: pl.LazyFrame,
    repeated: pl.DataFrame | None = None,
    kinds: Collection[str] = KINDS,
) -> pl.LazyFrame:
    """Whole-file version of the merge rules, lazily: what a store would hold after merging it.

    Used by `engmon report` so a 10M-row file streams through without building a store.
    Levels (first counter samples) are dropped here; `counter_levels` returns them.
    A caller that scanned ahead may pass `repeated` (the collected `repeated_id_hashes`: when
    empty, no event needs deduplicating) and `kinds` (the row kinds present), so the plan
    reads each row once and never holds the file in memory.
    """
    parts: list[pl.LazyFrame] = []
    if "event" in kinds:
        events = observations.filter(pl.col("kind") == "event")
        if repeated is not None and repeated.is_empty():
            parts.append(events)
        else:
            parts.append(events.filter(pl.col("id").is_null()))
            parts.append(unique_events(events.filter(pl.col("id").is_not_null()), repeated))
    if "bucket" in kinds:
        parts.append(
            observations.filter(pl.col("kind") == "bucket").unique(
                subset=list(BUCKET_KEY), keep="last", maintain_order=True
            )
        )
    if "total" in kinds:
        key = list(TOTAL_KEY)
        parts.append(
            observations.filter(pl.col("kind") == "total")
            .sort("ts", maintain_order=True)
            .with_columns(_hwm=pl.col("value").cum_max().over(key))
            .with_columns(value=(pl.col("_hwm") - pl.col("_hwm").shift(1).over(key)).fill_null(0.0))
            .drop("_hwm")
            .filter(pl.col("value") > 0)
        )
    if not parts:
        return observations.clear()
    return pl.concat(parts, how="vertical")


def repeated_id_hashes(events: pl.LazyFrame) -> pl.LazyFrame:
    """64-bit hashes of event ids that occur more than once (column `_h`), usually none.

    Sorting 10M hashes and comparing neighbours takes a fraction of a second, where a
    hash-table `unique` over 10M string ids takes seconds.
    """
    return (
        events.filter(pl.col("id").is_not_null())
        .select(_h=pl.col("id").hash())
        .sort("_h")
        .filter(pl.col("_h") == pl.col("_h").shift(1))
        .unique()
    )


def unique_events(events: pl.LazyFrame, repeated: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Events with an id, each (source, id) once (exact).

    Only rows whose id hash repeats (true duplicates, or a rare collision) go through the
    exact `unique` on (source, id). `repeated` (from `repeated_id_hashes`, collected) lets a
    caller stream the rest without a second look at every id.
    """
    hashed = events.with_columns(_h=pl.col("id").hash())
    if repeated is not None:  # a small list known ahead: a filter streams, a join would not
        listed = pl.col("_h").is_in(repeated.get_column("_h").implode())
        singles = hashed.filter(~listed)
        candidates = hashed.filter(listed)
    else:
        found = repeated_id_hashes(events)
        singles = hashed.join(found, on="_h", how="anti")
        candidates = hashed.join(found, on="_h", how="semi")
    candidates = candidates.unique(subset=["source", "id"], keep="first", maintain_order=True)
    return pl.concat([singles, candidates]).drop("_h")


def counter_levels(observations: pl.LazyFrame) -> pl.LazyFrame:
    """First sample of every counter: its level before engagement was watched."""
    return (
        observations.filter(pl.col("kind") == "total")
        .sort("ts", maintain_order=True)
        .group_by(list(TOTAL_KEY), maintain_order=True)
        .agg(level=pl.col("value").first())
    )


class ObservationStore:
    """Everything observed for one campaign, merged idempotently, with incremental aggregates.

    `post_time` anchors "minutes since post"; when None the first merged rows set it.
    """

    def __init__(self, post_time: datetime | None = None) -> None:
        self.post_time = post_time
        self._seen_events: set[str] = set()
        self._bucket_state = _BUCKET_SCHEMA.to_frame()
        self._total_state = _LEVEL_SCHEMA.to_frame()
        self._delta_chunks: list[pl.DataFrame] = []
        self._deltas_cache: pl.DataFrame | None = None
        self._minutes = metrics.empty_minutes()
        self.revision = 0
        self.latest: datetime | None = None
        self.rows = 0

    # --- merging -------------------------------------------------------------------------
    def merge(self, frame: pl.DataFrame) -> MergeResult:
        """Merge an observation frame (any subset of schema columns); returns what changed."""
        if frame.is_empty():
            return MergeResult(0, 0, self.latest)
        obs = conform(frame).collect()
        parts: list[pl.DataFrame] = []
        events = obs.filter(pl.col("kind") == "event")
        if not events.is_empty():
            parts.append(self._new_events(events))
        buckets = obs.filter(pl.col("kind") == "bucket")
        if not buckets.is_empty():
            deltas, self._bucket_state = bucket_deltas(buckets, self._bucket_state)
            parts.append(deltas)
        totals = obs.filter(pl.col("kind") == "total")
        if not totals.is_empty():
            deltas, self._total_state = total_deltas(totals, self._total_state)
            parts.append(deltas)
        delta = pl.concat(parts) if len(parts) > 1 else parts[0]
        if self.post_time is None:
            first = obs.get_column("ts").min()
            if isinstance(first, datetime):
                self.post_time = first
        newest = obs.get_column("ts").max()
        if isinstance(newest, datetime) and (self.latest is None or newest > self.latest):
            self.latest = newest
        if not delta.is_empty():
            self._add_deltas(delta)
        self.revision += 1
        return MergeResult(obs.height, delta.height, self.latest)

    def _new_events(self, events: pl.DataFrame) -> pl.DataFrame:
        """Events not merged before: those without id, and ids first seen now (set lookups)."""
        has_id = events.get_column("id").is_not_null()
        if not has_id.any():
            return events
        keyed = events.filter(has_id)
        keys = (keyed.get_column("source") + "\x1f" + keyed.get_column("id")).to_list()
        seen = self._seen_events
        fresh: list[bool] = []
        for key in keys:
            fresh.append(key not in seen)
            seen.add(key)
        return pl.concat([events.filter(~has_id), keyed.filter(pl.Series(fresh))])

    def _add_deltas(self, delta: pl.DataFrame) -> None:
        self._delta_chunks.append(delta)
        self._deltas_cache = None
        self.rows += delta.height
        if len(self._delta_chunks) > 256:  # keep concatenation cheap for long sessions
            self._delta_chunks = [pl.concat(self._delta_chunks, rechunk=True)]
        assert self.post_time is not None
        self._minutes = metrics.merge_minutes(
            self._minutes, metrics.minute_counts(delta.lazy(), self.post_time).collect()
        )

    # --- reading -------------------------------------------------------------------------
    def deltas(self) -> pl.DataFrame:
        """All increments merged so far (observation columns; `value` is the increase)."""
        if self._deltas_cache is None:
            if not self._delta_chunks:
                self._deltas_cache = OBSERVATION_SCHEMA.to_frame()
            else:
                self._deltas_cache = pl.concat(self._delta_chunks, rechunk=False)
        return self._deltas_cache

    def minutes(self) -> pl.DataFrame:
        """Per (metric, minute since post): value, reach, first_ts. Small and always current."""
        return self._minutes

    def levels(self) -> pl.DataFrame:
        """Per counter: its level at first sample (counted in totals, never in the curve)."""
        return self._total_state.select([*TOTAL_KEY, "level"])

    def buckets(self) -> pl.DataFrame:
        """Current value of every bucket key (the replaced state, not the increments)."""
        return self._bucket_state

    def metric_names(self) -> list[str]:
        """Metrics seen so far, engmon's known ones first."""
        present = set(self._minutes.get_column("metric").unique().to_list())
        present |= set(self._total_state.get_column("metric").unique().to_list())
        return metrics.order_metrics(present)
