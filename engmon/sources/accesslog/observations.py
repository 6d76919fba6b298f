"""Counted hits -> observation rows: clicks, first visits per day, conversions, visitors now."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import polars as pl

from engmon.core.schema import (
    ACTIVE,
    CLICKS,
    CONVERSIONS,
    UTC_US,
    VISITORS,
    conform,
    empty_observations,
)
from engmon.sources.accesslog.parse import KIND

if TYPE_CHECKING:
    pass


# --- observations ----------------------------------------------------------------------------


def first_line_tag(data: bytes) -> str:
    """A short tag for a file generation: crc32 of its first line (distinct per rotation)."""
    end = data.find(b"\n")
    return f"{zlib.crc32(data[: end if end >= 0 else len(data)]):08x}"


@dataclass
class VisitorState:
    """What one poll of a live log carries to the next: visitor keys already counted per day,
    the first click of each visitor (a later goal hit converts), visitors already converted,
    and the (visitor, minute) pairs of the last minutes (for the `active` gauge)."""

    seen: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"actor": pl.UInt64(), "day": pl.Date()})
    )
    clickers: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"actor": pl.UInt64(), "first": UTC_US})
    )
    converted: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"actor": pl.UInt64()})
    )
    recent: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"actor": pl.UInt64(), "minute": UTC_US})
    )


ACTIVE_MINUTES: Final = 5
"""A visitor is "here now" for this many minutes after a hit (as Umami and Plausible count)."""


def to_observations(
    counted: pl.DataFrame,
    *,
    tag: str,
    source: str = KIND,
    state: VisitorState | None = None,
    until: datetime | None = None,
) -> tuple[pl.DataFrame, VisitorState]:
    """Counted hits -> (observation rows, the updated state for the next poll).

    Clicks: one event per hit of the link. Visitors: the first hit per (IP + user agent) per
    UTC day, not already in `state.seen`. Conversions: the first goal hit of a visitor whose
    first click came before it (once per visitor). Active: per minute with hits and the
    `ACTIVE_MINUTES - 1` after it, the distinct visitors of the `ACTIVE_MINUTES` up to its end,
    as a `bucket` of one minute that a later poll replaces, up to `until` (the live poll's
    now; default the newest hit: a file's span does not grow past its last line).
    """
    state = state or VisitorState()
    if counted.is_empty():
        return empty_observations(), state
    for flag, default in (("link", True), ("goal", False)):
        if flag not in counted.columns:
            counted = counted.with_columns(pl.lit(default).alias(flag))
    base = counted.select(
        "ts",
        "referrer",
        "country",
        "device",
        "browser",
        "os",
        "path",
        "utm",
        "actor",
        "line",
        "link",
        "goal",
        id=pl.lit(f"{tag}:") + pl.col("line").cast(pl.String),
        day=pl.col("ts").dt.date(),
    )
    link = base.filter(pl.col("link"))
    clicks = link.with_columns(metric=pl.lit(CLICKS))
    firsts = (
        link.sort("ts", "line")
        .unique(subset=["actor", "day"], keep="first", maintain_order=True)
        .join(state.seen, on=["actor", "day"], how="anti")
    )
    visitors = firsts.with_columns(metric=pl.lit(VISITORS), id=pl.col("id") + ":v")
    seen = pl.concat([state.seen, firsts.select("actor", "day")])
    clickers = (
        pl.concat([state.clickers, link.group_by("actor").agg(first=pl.col("ts").min())])
        .group_by("actor")
        .agg(pl.col("first").min())
    )
    reached = (
        base.filter(pl.col("goal"))
        .join(clickers, on="actor", how="inner")
        .filter(pl.col("ts") >= pl.col("first"))
        .join(state.converted, on="actor", how="anti")
        .sort("ts", "line")
        .unique(subset=["actor"], keep="first", maintain_order=True)
        .drop("first")
    )
    conversions = reached.with_columns(metric=pl.lit(CONVERSIONS), id=pl.col("id") + ":c")
    converted = pl.concat([state.converted, reached.select("actor")])
    active, recent = _active(link, state.recent, until)
    rows = pl.concat([clicks, visitors, conversions], how="vertical")
    rows = rows.drop("day", "line", "link", "goal")
    rows = rows.with_columns(pl.col("actor").cast(pl.String))
    events = conform(rows.with_columns(source=pl.lit(source), value=pl.lit(1.0)))
    gauge = conform(active.with_columns(source=pl.lit(source)))
    frame = pl.concat([events, gauge]).collect()
    return frame, VisitorState(seen, clickers, converted, recent)


def _active(
    link: pl.DataFrame, recent: pl.DataFrame, until: datetime | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The `active` gauge rows touched by these hits, and the pairs to keep for the next poll.

    Each (visitor, minute) pair counts in its minute and the `ACTIVE_MINUTES - 1` after it;
    pairs held from earlier polls take part so a minute's value covers every poll.
    """
    pairs = link.select("actor", minute=pl.col("ts").dt.truncate("1m")).unique()
    if pairs.is_empty():
        return pl.DataFrame(), recent
    touched = pairs.select(pl.col("minute").unique())
    held = pl.concat([recent, pairs]).unique()
    spread = held.with_columns(
        offset=pl.int_ranges(0, ACTIVE_MINUTES, dtype=pl.Int64).cast(pl.List(pl.Int64))
    ).explode("offset")
    spread = spread.with_columns(ts=pl.col("minute") + pl.duration(minutes=pl.col("offset")))
    wanted = (
        touched.with_columns(offset=pl.int_ranges(0, ACTIVE_MINUTES, dtype=pl.Int64))
        .explode("offset")
        .select(ts=pl.col("minute") + pl.duration(minutes=pl.col("offset")))
    )
    gauge = (
        spread.join(wanted.unique(), on="ts", how="semi")
        .group_by("ts")
        .agg(value=pl.col("actor").n_unique().cast(pl.Float64))
        .with_columns(kind=pl.lit("bucket"), metric=pl.lit(ACTIVE), width_s=pl.lit(60))
        .sort("ts")
    )
    newest = held.get_column("minute").max()
    assert isinstance(newest, datetime)
    last = newest if until is None else max(newest, until.replace(second=0, microsecond=0))
    gauge = gauge.filter(pl.col("ts") <= pl.lit(last, dtype=UTC_US))
    keep_from = newest - timedelta(minutes=ACTIVE_MINUTES - 1)
    return gauge, held.filter(pl.col("minute") >= keep_from)
