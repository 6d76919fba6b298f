"""Reshare cascades (`<time since post> <followers>` per line, SEISMIC/TiDeH format)."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import Final

import polars as pl

from engmon.core import bounds
from engmon.core.campaign import RELATIVE_ANCHOR, Campaign
from engmon.core.schema import REPOSTS, UTC_US, conform
from engmon.errors import ConfigError, EmptyInputError, FileFormatError
from engmon.sources.files.chunks import _cut_off
from engmon.sources.files.mapping import _line_of
from engmon.sources.files.spec import (
    _CASCADE_LINE,
    _LINE,
    _UNIT_US,
    EPOCH_THRESHOLD_S,
    FileSpec,
    LoadedFile,
    Progress,
    _head,
    _looks_binary,
)

# --- cascades --------------------------------------------------------------------------------


def _load_cascade(spec: FileSpec, progress: Progress | None) -> LoadedFile:
    """The reshare-cascade preset: `<time since post> <followers>` per line."""
    path = spec.path
    if spec.time_unit == "iso":
        raise ConfigError("--time-unit iso: cascades hold numeric offsets; use s, ms or h")
    head = _head(path)
    if not head.strip():
        raise EmptyInputError(f"{path}: empty file, no observations")
    if _looks_binary(head):
        raise FileFormatError(f"{path}: binary data, not a cascade")
    data = _read_cascade_bytes(path, gzipped=head.startswith(b"\x1f\x8b"))
    if progress is not None:
        progress(0.5)
    if _cut_off(data):
        final = data[data.rfind(b"\n") + 1 :]
        final_line = data.count(b"\n") + 1
        if not _CASCADE_LINE.match(final):
            raise FileFormatError(
                f"{path}: line {final_line}: cut off (expected "
                "'<time> <followers>'); complete or remove the last line"
            )
    lines = pl.DataFrame({"text": data.decode("utf-8", "replace").split("\n")}).with_row_index(
        _LINE, offset=1
    )
    lines = lines.filter(pl.col("text").str.strip_chars() != "").cast({_LINE: pl.Int64})
    if lines.is_empty():
        raise EmptyInputError(f"{path}: empty file, no observations")
    parts = lines.with_columns(
        time=pl.col("text").str.extract(r"^\s*(\S+)\s+\S+\s*$").cast(pl.Float64, strict=False),
        followers=pl.col("text").str.extract(r"^\s*\S+\s+(\S+)\s*$").cast(pl.Float64, strict=False),
    )
    bad = parts.filter(
        pl.col("time").is_null()
        | pl.col("followers").is_null()
        | ~pl.col("time").is_finite()
        | ~pl.col("followers").is_finite()
    )
    header = _cascade_header(parts)
    if header:
        bad = bad.filter(pl.col(_LINE) != parts.get_column(_LINE).first())
        parts = parts.slice(1)
    if not bad.is_empty():
        line = _line_of(bad)
        raise FileFormatError(
            f"{path}: line {line}: expected '<time since post> <followers>' (two numbers)"
        )
    negative = parts.filter((pl.col("time") < 0) | (pl.col("followers") < 0))
    if not negative.is_empty():
        raise FileFormatError(f"{path}: line {_line_of(negative)}: negative time or followers")
    unit = spec.time_unit or _sniff_unit(parts.get_column("time"))
    seconds = pl.col("time") * {"s": 1.0, "ms": 1e-3, "h": 3600.0}[unit]
    base = spec.post_time.timestamp() if spec.post_time else RELATIVE_ANCHOR.timestamp()
    too_late = parts.filter(~bounds.epoch_seconds_ok(seconds + base))
    if not too_late.is_empty():
        raise FileFormatError(
            f"{path}: line {_line_of(too_late)}: time since post ends past the year 2999"
        )
    too_many = parts.filter(pl.col("followers") > bounds.MAX_REACH)
    if not too_many.is_empty():
        raise FileFormatError(
            f"{path}: line {_line_of(too_many)}: more than {bounds.MAX_REACH:g} followers"
        )
    if parts.is_empty():
        raise EmptyInputError(f"{path}: only a header line, no reshares")
    notes: list[str] = []
    followers: int | None = None
    first_time = float(parts.get_column("time").first())  # type: ignore[arg-type]
    if first_time == 0:
        # the first event at time 0 is the original post: its followers are the poster's
        followers = int(parts.get_column("followers").first())  # type: ignore[arg-type]
        parts = parts.slice(1)
    else:
        notes.append("no event at time 0: poster's followers unknown (give --followers)")
    if spec.time_unit is None and unit == "h":
        span = float(parts.get_column("time").max() or 0.0)  # type: ignore[arg-type]
        notes.append(
            f"times read as hours (fractions of an hour spanning {span:.0f} h, not a cascade of"
            f" {span:.0f} s); give --time-unit s if they are seconds"
        )
    anchor = spec.post_time
    if anchor is None:
        anchor = RELATIVE_ANCHOR
        notes.append(
            "times are offsets from the post; post time unknown, set to 1970-01-01T00:00Z "
            "(give --post-time)"
        )
    micros = (pl.col("time") * _UNIT_US[unit]).round().cast(pl.Int64)
    frame = conform(
        parts.lazy().select(
            ts=pl.lit(anchor, dtype=UTC_US) + pl.duration(microseconds=micros),
            source=pl.lit(path.name),
            metric=pl.lit(REPOSTS),
            value=pl.lit(1.0),
            id=pl.format("l{}", pl.col(_LINE)),
            reach=pl.col("followers").round().cast(pl.Int64),
        )
    ).collect()
    campaign = Campaign(
        name=path.stem, post_time=anchor, followers=spec.followers or followers or None
    )
    return LoadedFile(path, frame, campaign, notes)


MAX_CASCADE_BYTES = 1 << 30
"""A cascade is one line per reshare: a gigabyte is millions of reshares, more is a bomb."""


def _read_cascade_bytes(path: Path, *, gzipped: bool) -> bytes:
    """The (decompressed) text; binary, damaged gzip or a bomb is a FileFormatError."""
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as handle:
            first = handle.read(8192)
            if _looks_binary(first):  # before anything accumulates
                raise FileFormatError(f"{path}: binary data, not a cascade")
            rest = handle.read(MAX_CASCADE_BYTES)
            if handle.read(1):
                raise FileFormatError(
                    f"{path}: more than {MAX_CASCADE_BYTES >> 20} MiB of text; not a cascade"
                )
    except (OSError, EOFError, zlib.error) as exc:
        raise FileFormatError(f"{path}: damaged gzip data ({exc})") from None
    return first + rest


HOURS_MAX: Final = 1000.0
"""A cascade whose times have fractions and all fall below this reads as hours: seconds files
(SEISMIC, TiDeH's `_seconds`) hold whole seconds, and a cascade that took off and ended within
17 minutes while timed to the microsecond is far less likely than one of a few days in hours."""


def _sniff_unit(times: pl.Series) -> str:
    """`h` when the times are fractions below HOURS_MAX (TiDeH's hours files), else `s`."""
    if times.is_empty():
        return "s"
    fractional = bool((times != times.floor()).any())
    return "h" if fractional and float(times.max() or 0.0) < HOURS_MAX else "s"  # type: ignore[arg-type]


def _cascade_header(parts: pl.DataFrame) -> bool:
    """Whether line 1 is `<count> <start time>` rather than an event.

    A header's count is a whole number of at least one and its start is an epoch time; the
    post (time 0) follows it, or the count matches the lines after it. An event line `0 5000`
    (the post itself) is never a header, so a two-line cascade keeps its poster's followers.
    """
    first = parts.row(0, named=True)
    count, start = first["time"], first["followers"]
    if count is None or start is None or math.isnan(count) or not float(count).is_integer():
        return False
    if count < 1:
        return False
    if parts.height < 2:
        return bool(start >= EPOCH_THRESHOLD_S)  # `<count> <epoch>` alone: a header, no events
    second = parts.row(1, named=True)["time"]
    events = parts.height - 1
    return bool(second == 0 or abs(int(count) - events) <= 1 or count > second)
