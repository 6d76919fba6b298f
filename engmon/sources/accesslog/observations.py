"""Counted hits -> observation rows: clicks, first visits per day, conversions, visitors now."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import polars as pl

from engmon.core.schema import (
    ACTIVE,
    CLICKS,
    CONVERSIONS,
    OBSERVATION_SCHEMA,
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


ROW_KIND: Final = OBSERVATION_SCHEMA["kind"]
"""The `kind` column's type (rows are built with it, no per-row cast)."""

BUILD_ROWS: Final = 1 << 17
"""Observation rows built at once (see `to_observations`)."""

ACTIVE_MINUTES: Final = 5
"""A visitor is "here now" for this many minutes after a hit (as Umami and Plausible count)."""


def to_observations(
    counted: pl.DataFrame,
    *,
    tag: str,
    source: str = KIND,
    state: VisitorState | None = None,
    until: datetime | None = None,
    country: Callable[[], pl.Series] | None = None,
) -> tuple[pl.DataFrame, VisitorState]:
    """Counted hits -> (observation rows, the updated state for the next poll).

    Clicks: one event per hit of the link. Visitors: the first hit per (IP + user agent) per
    UTC day, not already in `state.seen`. Conversions: the first goal hit of a visitor whose
    first click came before it (once per visitor). Active: per minute with hits and the
    `ACTIVE_MINUTES - 1` after it, the distinct visitors of the `ACTIVE_MINUTES` up to its end,
    as a `bucket` of one minute that a later poll replaces, up to `until` (the live poll's
    now; default the newest hit: a file's span does not grow past its last line).

    `country`, when `counted` has no such column, gives it per row of `counted` as passed; it
    is asked for only when the rows are built, so a caller can place the IPs meanwhile.
    """
    state = state or VisitorState()
    if counted.is_empty():
        return empty_observations(), state
    for flag, default in (("link", True), ("goal", False)):
        if flag not in counted.columns:
            counted = counted.with_columns(pl.lit(default).alias(flag))
    # Rows go out in (ts, line) order, each hit's rows together, so a replayed file is already
    # time-ordered: no sort of the wide observation frame afterwards. A log written in time
    # order needs no sort here either.
    if not (counted.get_column("line").is_sorted() and counted.get_column("ts").is_sorted()):
        given = pl.int_range(pl.len(), dtype=pl.UInt32)
        counted = counted.with_columns(_given=given).sort("ts", "line")
    hits = counted.with_columns(_row=pl.int_range(pl.len(), dtype=pl.UInt32))
    del counted  # a caller that hands its frame over lets the hits go before rows are built
    # only the columns the visitors need: a filtered copy of the wide hits would be freed soon
    # but held meanwhile
    link = (
        hits.select("_row", "ts", "actor", "link")
        .filter(pl.col("link"))
        .select("_row", "ts", "actor", day=pl.col("ts").dt.date())
    )
    # hits are in time order: a visitor's first hit of a day is its first row within the day,
    # its first click its first row, which is among those (no sort and no group_by over hits)
    firsts = link.filter(pl.col("actor").is_first_distinct().over("day"))
    clickers = firsts.filter(pl.col("actor").is_first_distinct()).select("actor", first="ts")
    firsts = firsts.select("_row", "actor", "day")
    if state.seen.height:
        firsts = firsts.join(state.seen, on=["actor", "day"], how="anti")
    seen = pl.concat([state.seen, firsts.select("actor", "day")])
    if state.clickers.height:
        clickers = (
            pl.concat([state.clickers, clickers]).group_by("actor").agg(pl.col("first").min())
        )
    reached = (
        hits.filter(pl.col("goal"))
        .select("_row", "actor", "ts")
        .join(clickers, on="actor", how="inner")
        .filter(pl.col("ts") >= pl.col("first"))
        .join(state.converted, on="actor", how="anti")
        .sort("_row")
        .unique(subset=["actor"], keep="first", maintain_order=True)
    )
    converted = pl.concat([state.converted, reached.select("actor")])
    active, recent = _active(link, state.recent, until)
    import numpy as np

    if active.is_empty():
        active = pl.DataFrame(schema={"ts": UTC_US, "value": pl.Float64()})
    # Which rows each hit gives (click, first visit, conversion; the gauge's own rows after the
    # hits of their instant), as one gather index: the wide frame is built once, in time order.
    flags = np.zeros((hits.height + active.height, 4), dtype=bool)
    flags[: hits.height, 0] = hits.get_column("link").to_numpy()
    flags[firsts.get_column("_row").to_numpy(), 1] = True
    flags[reached.get_column("_row").to_numpy(), 2] = True
    flags[hits.height :, 3] = True
    order = np.arange(hits.height)
    if active.height:
        at = np.searchsorted(
            hits.get_column("ts").to_numpy(), active.get_column("ts").to_numpy(), side="right"
        )
        order = np.insert(order, at, hits.height + np.arange(active.height))
    places, codes = np.nonzero(flags[order])
    pick = pl.Series(order[places], dtype=pl.UInt32)
    code = pl.Series(codes, dtype=pl.UInt8)
    if "country" not in hits.columns and country is not None:
        placed = country()
        if "_given" in hits.columns:  # sorted above: the same order for the countries
            placed = placed.gather(hits.get_column("_given"))
        hits = hits.with_columns(placed.alias("country"))
    # Dimensions are gathered as they are: a category is a code per row, and a visitor's
    # 11 characters fit inside its row's string view (no text buffer to share).
    texts = ("country", "device", "browser", "os", "path", "utm", "referrer", "actor")
    carried = [
        visitor_text(hits.get_column(name)) if name == "actor" else hits.get_column(name)
        for name in texts
    ]
    sources = pl.concat(
        [
            hits.select("ts", "line").with_columns(carried),
            active.select("ts", _value="value"),
        ],
        how="diagonal",
    )
    # all the rows need now is in `sources`, `pick` and `code`
    del hits, link, firsts, reached, flags, order, places, codes, carried
    kinds = pl.Series([CLICKS, VISITORS, CONVERSIONS, ACTIVE])
    suffixes = pl.Series(["", ":v", ":c", None], dtype=pl.String)
    kind_names = pl.Series(["event", "bucket"], dtype=ROW_KIND)

    def build(pick: pl.Series, code: pl.Series) -> pl.DataFrame:
        picked = [pl.col(name).gather(pick) for name in ("ts", *texts)]
        gauge_row = pl.lit(code) == 3
        # one eager select builds the final columns straight from the gather (no gathered
        # copy; a lazy one would copy every column of `sources` for each slice)
        rows = sources.select(
            *picked,
            metric=pl.lit(kinds).gather(code),
            id=pl.concat_str(
                pl.lit(f"{tag}:"), pl.col("line").gather(pick), pl.lit(suffixes).gather(code)
            ),
            source=pl.lit(source),
            kind=pl.lit(kind_names).gather(gauge_row.cast(pl.UInt8)),
            value=pl.when(gauge_row).then(pl.col("_value").gather(pick)).otherwise(pl.lit(1.0)),
            width_s=pl.when(gauge_row).then(pl.lit(60)).otherwise(pl.lit(0)),
        )
        return conform(rows).collect()

    # built a slice of rows at a time: the temporaries of one slice (the ids' text above all)
    # are freed before the next, so the peak is the frame plus one slice's worth
    events = pl.concat(
        [
            build(pick.slice(start, BUILD_ROWS), code.slice(start, BUILD_ROWS))
            for start in range(0, max(1, pick.len()), BUILD_ROWS)
        ],
        rechunk=False,
    )
    return events, VisitorState(seen, clickers, converted, recent)


_NOT_A_FORMULA: Final = bytes.maketrans(b"-", b".")
"""URL-safe base64's `-` (a leading one reads as a formula in a spreadsheet) becomes `.`."""


def visitor_text(hashes: pl.Series) -> pl.Series:
    """Each 64-bit visitor hash as 11 characters of base64 (null stays null): letters,
    digits, `.` and `_`, so no visitor's text starts like a spreadsheet formula.

    Eleven characters fit inside a string's 16-byte view, so a visitor's text costs its row
    nothing beyond the view (its 20-digit decimal form needs a text buffer as well: about
    40 MB more at 5M lines), and all 64 bits are kept.
    """
    import base64

    import numpy as np

    count = hashes.len()
    raw = np.zeros((count, 9), dtype=np.uint8)  # 9 bytes: 12 base64 characters, no padding
    raw[:, :8] = hashes.fill_null(0).to_numpy().astype(">u8").view(np.uint8).reshape(count, 8)
    encoded = np.frombuffer(
        base64.urlsafe_b64encode(raw.tobytes()).translate(_NOT_A_FORMULA), dtype=np.uint8
    )
    # the 12th character holds only the zero byte's bits: dropped
    text = np.ascontiguousarray(encoded.reshape(count, 12)[:, :11]).view("S11").ravel()
    visitors = pl.Series(hashes.name, text).cast(pl.String)
    return visitors.scatter(hashes.is_null().arg_true(), None) if hashes.has_nulls() else visitors


def _active(
    link: pl.DataFrame, recent: pl.DataFrame, until: datetime | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The `active` gauge rows touched by these hits, and the pairs to keep for the next poll.

    Each (visitor, minute) pair counts in its minute and the `ACTIVE_MINUTES - 1` after it;
    pairs held from earlier polls take part so a minute's value covers every poll.
    """
    pairs = link.select("actor", minute=pl.col("ts").dt.truncate("1m"))
    if pairs.is_empty():
        return pl.DataFrame(), recent
    touched = pairs.select(pl.col("minute").unique())
    held = pl.concat([recent, pairs])
    # A visitor is here over the union of [minute, minute + ACTIVE_MINUTES) of its minutes:
    # +1 where a stretch starts, -1 where it ends, summed up to each minute (no n_unique over
    # ACTIVE_MINUTES copies of every pair). A repeated (visitor, minute) pair adds an empty
    # stretch, so pairs need no dedupe; rows already in time order need only a stable sort by
    # visitor.
    span = pl.duration(minutes=ACTIVE_MINUTES)
    if held.get_column("minute").is_sorted():
        by_actor = held.sort("actor", maintain_order=True)
    else:
        by_actor = held.sort("actor", "minute")
    same_actor = pl.col("actor") == pl.col("actor").shift(1)
    stretches = by_actor.select(
        start=pl.max_horizontal(
            "minute", pl.when(same_actor).then(pl.col("minute").shift(1) + span)
        ),
        end=pl.col("minute") + span,
    ).filter(pl.col("start") < pl.col("end"))
    # counted per minute first: the +1 and -1 rows of every stretch are never all held at once
    steps = (
        pl.concat(
            [
                stretches.group_by("start")
                .agg(step=pl.len().cast(pl.Int64))
                .rename({"start": "ts"}),
                stretches.group_by("end").agg(step=-pl.len().cast(pl.Int64)).rename({"end": "ts"}),
            ]
        )
        .group_by("ts")
        .agg(pl.col("step").sum())
        .sort("ts")
        .select("ts", value=pl.col("step").cum_sum().cast(pl.Float64))
    )
    wanted = (
        touched.with_columns(offset=pl.int_ranges(0, ACTIVE_MINUTES, dtype=pl.Int64))
        .explode("offset")
        .select(ts=pl.col("minute") + pl.duration(minutes=pl.col("offset")))
        .unique()
        .sort("ts")
    )
    gauge = (
        wanted.join_asof(steps, on="ts", strategy="backward", check_sortedness=False)
        .filter(pl.col("value") > 0)
        .with_columns(kind=pl.lit("bucket"), metric=pl.lit(ACTIVE), width_s=pl.lit(60))
    )
    newest = held.get_column("minute").max()
    assert isinstance(newest, datetime)
    last = newest if until is None else max(newest, until.replace(second=0, microsecond=0))
    gauge = gauge.filter(pl.col("ts") <= pl.lit(last, dtype=UTC_US))
    keep_from = newest - timedelta(minutes=ACTIVE_MINUTES - 1)
    return gauge, held.filter(pl.col("minute") >= keep_from).unique()
