"""Tables -> observations: the schema's own columns or a foreign table mapped by options;
times parsed once per distinct value."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

import polars as pl

from engmon.core import bounds
from engmon.core.campaign import RELATIVE_ANCHOR
from engmon.core.export import parquet_post_time
from engmon.core.schema import DIMENSIONS, FOLLOWERS, KINDS, UTC_US, conform
from engmon.errors import ConfigError, EmptyInputError, FileFormatError
from engmon.sources.files.chunks import _read_csv, _read_ndjson
from engmon.sources.files.parquet import read_parquet_rows
from engmon.sources.files.spec import (
    _LINE,
    _UNIT_US,
    EPOCH_THRESHOLD_S,
    FileSpec,
    LoadedFile,
    Progress,
    _campaign,
    _text_head,
    refuse_binary,
)

# --- tables -> observations ------------------------------------------------------------------


def _load_table(spec: FileSpec, table: str, progress: Progress | None) -> LoadedFile:
    path = spec.path
    if table == "parquet":
        raw = read_parquet_rows(path, progress)
        where = "row"
    else:
        head = _text_head(path)
        if not head.strip():
            raise EmptyInputError(f"{path}: empty file, no observations")
        refuse_binary(path, head, table.upper())
        raw = _read_csv(path, progress) if table == "csv" else _read_ndjson(path, progress)
        where = "line"
    frame, post_time, notes = to_observations(raw, spec, where=where)
    if table == "parquet" and spec.post_time is None:  # an export names its window start
        post_time = parquet_post_time(path) or post_time
    return LoadedFile(path, frame, _campaign(spec, post_time, _poster_followers(frame)), notes)


def _poster_followers(frame: pl.DataFrame) -> int | None:
    """The poster's audience from the file's own `followers` rows (latest sample), if any."""
    rows = frame.filter(pl.col("metric") == FOLLOWERS).sort("ts")
    if rows.is_empty():
        return None
    value = rows.get_column("value").last()
    return int(value) if isinstance(value, float) and value >= 1 else None


def _missing(path: Path, column: str, present: Sequence[str], hint: str) -> FileFormatError:
    shown = ", ".join(name for name in present if name != _LINE) or "none"
    return FileFormatError(f"{path}: no column {column!r} ({hint}); columns present: {shown}")


def to_observations(
    raw: pl.DataFrame, spec: FileSpec, *, where: str = "line"
) -> tuple[pl.DataFrame, datetime | None, list[str]]:
    """Map a table read from `spec.path` (with its `_line` column) onto the schema.

    Returns the observation frame, the post time it implies (None: caller decides) and notes.
    Column checks name the missing column and list those present; value checks name the line.
    """
    path = spec.path
    present = raw.columns
    notes: list[str] = []

    def column(name: str | None, default: str, hint: str, required: bool) -> str | None:
        wanted = name or default
        if wanted in present:
            return wanted
        if name is not None or required:
            raise _missing(path, wanted, present, hint)
        return None

    def locate(bad: pl.Expr, what: str) -> None:
        hit = raw.lazy().filter(bad).select(_LINE).head(1).collect()
        if not hit.is_empty():
            raise FileFormatError(f"{path}: {where} {int(hit.item())}: {what}")

    time_col = column(spec.time_column, "ts", "map the time with --time-column", True)
    assert time_col is not None
    for name in present:
        if raw.schema[name].is_nested():
            raise FileFormatError(f"{path}: column {name!r} holds lists or objects, not values")
        if name != time_col and isinstance(raw.schema[name], (pl.Duration, pl.Time)):
            what = "durations" if isinstance(raw.schema[name], pl.Duration) else "times of day"
            raise FileFormatError(f"{path}: column {name!r} holds {what}, not values")
        if raw.schema[name] == pl.Binary:
            raw = raw.with_columns(_utf8_text(raw, name, path, where))
    exprs: dict[str, pl.Expr] = {}

    # metric
    if spec.metric_name is not None:
        exprs["metric"] = pl.lit(spec.metric_name)
    else:
        metric_col = column(
            spec.metric_column, "metric", "name it with --metric or --metric-column", True
        )
        exprs["metric"] = pl.col(str(metric_col)).cast(pl.String)
        locate(pl.col(str(metric_col)).is_null(), f"column {metric_col!r}: empty metric")

    # value: required in the plain observation schema, default 1 for a mapped foreign file
    value_col = column(
        spec.value_column, "value", "map the count with --value-column", not spec.mapped
    )
    if value_col is None:
        exprs["value"] = pl.lit(1.0)
    else:
        value = pl.col(value_col).cast(pl.Float64, strict=False)
        locate(
            value.is_null() & pl.col(value_col).is_not_null(),
            f"column {value_col!r}: not a number",
        )
        locate(value.is_nan() | value.is_infinite(), f"column {value_col!r}: NaN or infinite")
        locate(value < 0, f"column {value_col!r}: negative count")
        locate(value > bounds.MAX_COUNT, f"column {value_col!r}: count above {bounds.MAX_COUNT:g}")
        exprs["value"] = value.fill_null(1.0)

    reach_col = column(spec.reach_column, "reach", "", False)
    if reach_col is not None:
        reach = pl.col(reach_col).cast(pl.Float64, strict=False)
        locate(
            reach.is_null() & pl.col(reach_col).is_not_null(),
            f"column {reach_col!r}: not a number",
        )
        locate(reach.is_nan() | reach.is_infinite(), f"column {reach_col!r}: NaN or infinite")
        locate(reach < 0, f"column {reach_col!r}: negative follower count")
        locate(
            reach > bounds.MAX_REACH,
            f"column {reach_col!r}: follower count above {bounds.MAX_REACH:g}",
        )
        exprs["reach"] = reach.round().cast(pl.Int64)

    for name, col in spec.dimensions:
        if col not in present:
            raise _missing(path, col, present, f"mapped by --dimension {name}={col}")
        exprs[name] = pl.col(col).cast(pl.String)
    mapped_dims = {name for name, _ in spec.dimensions}
    for name in ("kind", "width_s", "post", "actor", *DIMENSIONS):
        if name in present and name not in mapped_dims and name not in exprs:
            exprs[name] = pl.col(name).cast(pl.String)
    if "kind" in exprs:
        locate(
            pl.col("kind").is_not_null() & ~pl.col("kind").cast(pl.String).is_in(list(KINDS)),
            f"column 'kind': not one of {', '.join(KINDS)}",
        )
        exprs["kind"] = pl.col("kind").cast(pl.String).fill_null("event")
    if "width_s" in exprs:
        width = pl.col("width_s").cast(pl.Float64, strict=False)
        locate(width.is_null() & pl.col("width_s").is_not_null(), "column 'width_s': not a number")
        locate(
            ~width.is_between(0, bounds.MAX_WIDTH_S),
            f"column 'width_s': not a bucket width of 0 to {bounds.MAX_WIDTH_S} seconds",
        )
        exprs["width_s"] = width.fill_null(0).round().cast(pl.Int32)

    # stable identity: the file's own id/source where given, else line number and file name
    line_id = pl.format("{}{}", pl.lit(where[0]), pl.col(_LINE))
    exprs["id"] = pl.coalesce(pl.col("id").cast(pl.String), line_id) if "id" in present else line_id
    name_lit = pl.lit(path.name)
    exprs["source"] = (
        pl.coalesce(pl.col("source").cast(pl.String).replace("", None), name_lit)
        if "source" in present
        else name_lit
    )

    ts, post_time = _times(raw, time_col, spec, where, notes)
    frame = conform(
        raw.lazy().select(ts=ts, **{name: expr for name, expr in exprs.items()})
    ).collect()
    return frame, post_time, notes


def _utf8_text(raw: pl.DataFrame, name: str, path: Path, where: str) -> pl.Series:
    """A Parquet bytes column as text (old writers store text so); FileFormatError naming the
    first row whose bytes are not UTF-8, which polars would otherwise fail on much later."""
    column = raw.get_column(name)
    try:
        return column.cast(pl.String)  # one vectorised check; the search below only on failure
    except pl.exceptions.ComputeError:
        pass
    for value in column.unique(maintain_order=True).drop_nulls().to_list():
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            rows = raw.filter(pl.col(name) == value)
            raise FileFormatError(
                f"{path}: {where} {_line_of(rows)}: column {name!r} is not UTF-8 text"
            ) from None
    raise FileFormatError(f"{path}: column {name!r} is not UTF-8 text")


def _line_of(rows: pl.DataFrame) -> int:
    """Line (or row) number of the first of `rows`, for an error message."""
    return int(rows.get_column(_LINE).first())  # type: ignore[arg-type]


def _times(
    raw: pl.DataFrame, column: str, spec: FileSpec, where: str, notes: list[str]
) -> tuple[pl.Expr, datetime | None]:
    """Expression turning the time column into UTC timestamps, and the implied post time.

    Text is parsed once per distinct value; numbers are offsets from the post or epochs.
    """
    path = spec.path
    dtype = raw.schema[column]
    series = raw.get_column(column)
    if series.null_count():
        line = _line_of(raw.filter(series.is_null()))
        raise FileFormatError(f"{path}: {where} {line}: column {column!r}: empty time")
    if isinstance(dtype, pl.Datetime):
        ts = (
            pl.col(column).cast(UTC_US)
            if dtype.time_zone
            else pl.col(column).dt.replace_time_zone("UTC").cast(UTC_US)
        )
        if spec.relative:
            raise ConfigError(f"--relative: column {column!r} of {path} holds absolute times")
        _check_range(raw, ts, column, path, where)
        return ts, None
    if isinstance(dtype, pl.Date):
        ts = pl.col(column).cast(UTC_US)
        _check_range(raw, ts, column, path, where)
        return ts, None
    if dtype == pl.Boolean():
        raise FileFormatError(f"{path}: column {column!r}: true/false, not a time")
    numeric: pl.Series | None = None
    if dtype.is_numeric():
        numeric = series.cast(pl.Float64)
    elif spec.time_unit != "iso":
        attempt = series.cast(pl.Float64, strict=False)
        if attempt.null_count() == 0:
            numeric = attempt
        elif spec.time_unit is not None:
            line = _line_of(raw.filter(attempt.is_null()))
            bad = series.filter(attempt.is_null()).first()
            raise FileFormatError(
                f"{path}: {where} {line}: column {column!r}: {bad!r} is not a number "
                f"(--time-unit {spec.time_unit})"
            )
    if numeric is None:
        if spec.relative:
            raise ConfigError(
                f"--relative: column {column!r} of {path} holds ISO times, not offsets"
            )
        return _iso_times(raw, column, path, where), None
    if not numeric.is_finite().all():
        line = _line_of(raw.filter(~numeric.is_finite()))
        raise FileFormatError(f"{path}: {where} {line}: column {column!r}: NaN or infinite time")
    unit = spec.time_unit if spec.time_unit in _UNIT_US else None
    seconds_scale = {"s": 1.0, "ms": 1e-3, "h": 3600.0}
    relative = spec.relative
    if unit is None:
        # epochs in ms are > 1e11; seconds otherwise (a guess only when the unit is not given)
        biggest = float(numeric.abs().max() or 0.0)  # type: ignore[arg-type]
        unit = "ms" if biggest > 1e11 else "s"
    if relative is None:
        smallest = float(numeric.min() or 0.0) * seconds_scale[unit]  # type: ignore[arg-type]
        relative = smallest < EPOCH_THRESHOLD_S
    micros = (pl.col(column).cast(pl.Float64) * _UNIT_US[unit]).round().cast(pl.Int64)
    anchor = None
    if relative:
        anchor = spec.post_time
        if anchor is None:
            anchor = RELATIVE_ANCHOR
            notes.append(
                "times are offsets from the post; post time unknown, set to "
                "1970-01-01T00:00Z (give --post-time)"
            )
    # the epoch second each row lands on, checked in floats before any integer cast
    landing = numeric * seconds_scale[unit] + (anchor.timestamp() if anchor else 0.0)
    outside = ~(
        landing.is_finite() & landing.is_between(bounds.EARLIEST_S, bounds.LATEST_S, "left")
    )
    if outside.any():
        line = _line_of(raw.filter(outside))
        raise FileFormatError(
            f"{path}: {where} {line}: column {column!r}: time {numeric.filter(outside).first()!r}"
            f" is not {bounds.TIME_RANGE_TEXT}"
            + (" once added to the post time" if relative else "")
        )
    if relative:
        return pl.lit(anchor, dtype=UTC_US) + pl.duration(microseconds=micros), anchor
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC"), None


def _check_range(raw: pl.DataFrame, ts: pl.Expr, column: str, path: Path, where: str) -> None:
    """FileFormatError naming the first row whose time is outside the accepted range."""
    outside = raw.lazy().filter(~bounds.in_time_range(ts)).select(_LINE, column).head(1).collect()
    if not outside.is_empty():
        raise FileFormatError(
            f"{path}: {where} {int(outside.item(0, _LINE))}: column {column!r}: "
            f"{outside.item(0, column)} is not {bounds.TIME_RANGE_TEXT}"
        )


def _iso_times(raw: pl.DataFrame, column: str, path: Path, where: str) -> pl.Expr:
    """ISO 8601 text -> UTC, parsed once per distinct value (mixed offsets and `Z` allowed)."""
    text = raw.get_column(column).cast(pl.String)
    distinct = text.unique()
    parsed = _parse_iso(distinct)
    failed = distinct.filter(parsed.is_null())
    if failed.len():
        bad = failed.first()
        line = _line_of(raw.filter(text == bad))
        raise FileFormatError(
            f"{path}: {where} {line}: column {column!r}: {bad!r} is not a time "
            "(ISO 8601 or epoch seconds)"
        )
    inside = parsed.to_frame("t").select(bounds.in_time_range(pl.col("t"))).to_series()
    outside = distinct.filter(~inside)
    if outside.len():
        bad = outside.first()
        line = _line_of(raw.filter(text == bad))
        raise FileFormatError(
            f"{path}: {where} {line}: column {column!r}: {bad!r} is not {bounds.TIME_RANGE_TEXT}"
        )
    return pl.col(column).cast(pl.String).replace_strict(distinct, parsed, return_dtype=UTC_US)


_ISO_FORMATS: Final = (
    ("%Y-%m-%dT%H:%M:%S%.f%:z", True),
    ("%Y-%m-%dT%H:%M:%S%:z", True),
    ("%Y-%m-%dT%H:%M:%S%.f%z", True),
    ("%Y-%m-%dT%H:%M:%S%z", True),
    ("%Y-%m-%dT%H:%M%:z", True),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%dT%H:%M:%S", False),
    ("%Y-%m-%dT%H:%M", False),
    ("%Y-%m-%d", False),
)


def _parse_iso(text: pl.Series) -> pl.Series:
    """Distinct ISO 8601 strings -> UTC; nulls where a string is no time.

    Each format is tried only on what the previous ones left unparsed, so a file in one
    format costs one pass. Naive times are UTC.
    """
    cleaned = text.str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
    cleaned = cleaned.str.replace(r"[zZ]$", "+00:00")
    todo = pl.DataFrame({"i": pl.int_range(0, cleaned.len(), eager=True), "t": cleaned})
    done: list[pl.DataFrame] = []
    for fmt, aware in _ISO_FORMATS:
        if todo.is_empty():
            break
        parsed = pl.col("t").str.to_datetime(
            fmt, time_unit="us", time_zone="UTC" if aware else None, strict=False
        )
        if not aware:
            parsed = parsed.dt.replace_time_zone("UTC")
        attempt = todo.with_columns(ts=parsed)
        done.append(attempt.filter(pl.col("ts").is_not_null()).select("i", "ts"))
        todo = attempt.filter(pl.col("ts").is_null()).select("i", "t")
    result = pl.concat([*done, todo.select("i", ts=pl.lit(None, dtype=UTC_US))])
    return result.sort("i").get_column("ts").cast(UTC_US)
