"""Reading files into observation frames: CSV, NDJSON, Parquet, cascades, recordings, logs.

A file is read in one of these ways (`--read-as`, default `auto` by extension and content):

- ``observations``: CSV, NDJSON or Parquet in engmon's observation schema (`ts`, `metric`,
  `value` required, the other schema columns optional), or a *foreign* table whose columns
  the mapping options name (`--time-column`, `--time-unit`, `--relative`, `--metric`,
  `--metric-column`, `--value-column`, `--reach-column`, `--dimension NAME=COLUMN`);
- ``cascade``: the reshare-cascade format of the popularity-prediction literature (SEISMIC,
  TiDeH): ``<time since post> <followers>`` per line, an optional ``<count> <start>`` header
  line; the event at time 0 is the original post (its followers are the poster's audience),
  every later line is one reshare (metric `reposts`, `reach` = followers);
- ``recording``: what `engmon watch` writes (see `engmon.core.recording`);
- ``access-log``: Apache/nginx logs through `engmon.sources.accesslog`.

Every row gets a stable `id` (its line or row number) and `source` (the file name) unless the
file has its own, so merging the same file twice into one store counts every event once.

Timestamps are parsed once per *distinct* value, never per row. Numeric times are offsets
from the post unless `--absolute` or they clearly are epochs (later than 1973). A cut-off
last line (no newline at the end and short of fields or invalid JSON) is an error naming
its line in CSV, NDJSON and cascades; recordings drop it with a note (a crash mid-write).
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import polars as pl

from engmon.core.campaign import RELATIVE_ANCHOR, Campaign
from engmon.core.schema import DIMENSIONS, FOLLOWERS, KINDS, REPOSTS, UTC_US, conform
from engmon.errors import ConfigError, EmptyInputError, FileFormatError, InputError

FileFormat = Literal["auto", "observations", "cascade", "access-log", "recording"]
FILE_FORMATS: Final = ("auto", "observations", "cascade", "access-log", "recording")
TIME_UNITS: Final = ("s", "ms", "h", "iso")
EPOCH_THRESHOLD_S: Final = 1e8
"""Numeric times from this many seconds on (March 1973) are read as epochs, not offsets."""
CHUNK_BYTES: Final = 32 * 1024 * 1024

Progress = Callable[[float], None]
_LINE: Final = "_line"
_UNIT_US: Final = {"s": 1_000_000, "ms": 1_000, "h": 3_600_000_000}
_TABLE_EXTENSIONS: Final = {
    ".csv": "csv",
    ".tsv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_LOG_LINE: Final = re.compile(rb'^\S+ \S+ \S+ \[[^\]]+\] "')
_CASCADE_LINE: Final = re.compile(rb"^\s*[0-9.eE+-]+\s+[0-9.eE+-]+\s*$")


@dataclass(frozen=True)
class FileSpec:
    """A file to read and how to read it (the CLI's `--read-as` and mapping options)."""

    path: Path
    file_format: FileFormat = "auto"
    time_column: str | None = None
    time_unit: str | None = None
    relative: bool | None = None
    post_time: datetime | None = None
    metric_name: str | None = None
    metric_column: str | None = None
    value_column: str | None = None
    reach_column: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    followers: int | None = None
    link: str | None = None
    log_format: str = "combined"
    include_bots: bool = False

    @classmethod
    def from_cli(
        cls,
        path: Path | str,
        *,
        file_format: str = "auto",
        time_column: str | None = None,
        time_unit: str | None = None,
        relative: bool | None = None,
        post_time: str | datetime | None = None,
        metric_name: str | None = None,
        metric_column: str | None = None,
        value_column: str | None = None,
        reach_column: str | None = None,
        dimensions: Sequence[str] = (),
        followers: int | None = None,
        link: str | None = None,
        log_format: str | None = None,
        include_bots: bool = False,
    ) -> FileSpec:
        """Validate the command-line options; ConfigError naming the option otherwise."""
        if file_format not in FILE_FORMATS:
            raise ConfigError(
                f"--read-as {file_format!r}: unknown; use one of {', '.join(FILE_FORMATS)}"
            )
        if time_unit is not None and time_unit not in TIME_UNITS:
            raise ConfigError(f"--time-unit {time_unit!r}: use one of {', '.join(TIME_UNITS)}")
        if metric_name is not None and metric_column is not None:
            raise ConfigError("--metric and --metric-column: give one, not both")
        if followers is not None and followers < 1:
            raise ConfigError(f"--followers {followers}: must be at least 1")
        mapped: list[tuple[str, str]] = []
        for item in dimensions:
            name, sep, column = item.partition("=")
            name, column = name.strip(), column.strip()
            if not sep or not name or not column:
                raise ConfigError(f"--dimension {item!r}: expected NAME=COLUMN, e.g. country=cc")
            if name not in DIMENSIONS:
                raise ConfigError(
                    f"--dimension {item!r}: unknown dimension {name!r}; "
                    f"use one of {', '.join(DIMENSIONS)}"
                )
            mapped.append((name, column))
        return cls(
            path=Path(path),
            file_format=file_format,  # type: ignore[arg-type]
            time_column=time_column,
            time_unit=time_unit,
            relative=relative,
            post_time=parse_post_time(post_time) if isinstance(post_time, str) else post_time,
            metric_name=metric_name,
            metric_column=metric_column,
            value_column=value_column,
            reach_column=reach_column,
            dimensions=tuple(mapped),
            followers=followers,
            link=link or None,
            log_format=log_format or "combined",
            include_bots=include_bots,
        )

    @property
    def mapped(self) -> bool:
        """Whether any column-mapping option was given (a foreign file)."""
        return any(
            (
                self.time_column,
                self.metric_name,
                self.metric_column,
                self.value_column,
                self.reach_column,
                self.dimensions,
            )
        )


@dataclass
class LoadedFile:
    """A file read into observations: the frame (sorted by ts), its campaign, what was noted."""

    path: Path
    frame: pl.DataFrame
    campaign: Campaign
    notes: list[str] = field(default_factory=list)


def parse_post_time(text: str) -> datetime:
    """`--post-time` ISO 8601 text -> aware UTC datetime (naive means UTC)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--post-time {text!r}: not an ISO 8601 time; e.g. 2026-11-25T14:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- detection --------------------------------------------------------------------------------


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _head(path: Path, size: int = 8192) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a multi-byte char cut by the read is not junk
    return False


def detect_format(path: Path) -> tuple[str, str | None]:
    """(`--read-as` value, table kind csv|ndjson|parquet or None) by extension and content."""
    from engmon.core.recording import is_recording

    name = path.name.lower()
    head = _head(path)
    if head.startswith(b"PAR1") or name.endswith((".parquet", ".pq")):
        return "observations", "parquet"
    if name.endswith((".log", ".log.gz")) or head.startswith(b"\x1f\x8b"):
        return "access-log", None
    if is_recording(path):
        return "recording", None
    if not head.strip():
        raise EmptyInputError(f"{path}: empty file, no observations")
    if _looks_binary(head):
        raise FileFormatError(f"{path}: binary data, not CSV, NDJSON, Parquet or a log")
    lines = [line for line in head.splitlines()[:5] if line.strip()]
    if lines and _LOG_LINE.match(lines[0]):
        return "access-log", None
    table = _TABLE_EXTENSIONS.get(path.suffix.lower())
    if table is not None:
        return "observations", table
    if lines[0].lstrip().startswith(b"{"):
        return "observations", "ndjson"
    complete = lines[:-1] if len(lines) > 1 else lines
    if all(_CASCADE_LINE.match(line) for line in complete):
        return "cascade", None
    if b"," in lines[0] or b"\t" in lines[0]:
        return "observations", "csv"
    raise FileFormatError(
        f"{path}: unknown format; engmon reads CSV, NDJSON, Parquet, cascades, recordings "
        "and access logs (say which with --read-as)"
    )


def _table_kind(path: Path) -> str:
    table = _TABLE_EXTENSIONS.get(path.suffix.lower())
    if table is not None:
        return table
    head = _head(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.lstrip().startswith(b"{"):
        return "ndjson"
    return "csv"


# --- entry point -----------------------------------------------------------------------------


def load_observations(spec: FileSpec, progress: Progress | None = None) -> LoadedFile:
    """Read the file `spec` names into observation rows sorted by `ts`, with its campaign.

    `progress` gets the fraction read (0..1) after each chunk, so a large file shows progress.
    Every problem with the file is an `InputError` naming it (and the line when known).
    """
    path = spec.path
    _check_path(path)
    file_format: str = spec.file_format
    table: str | None = None
    if file_format == "auto":
        file_format, table = detect_format(path)
    elif file_format == "observations":
        table = _table_kind(path)
    if file_format == "recording":
        loaded = _load_recording(spec)
    elif file_format == "access-log":
        loaded = _load_access_log(spec, progress)
    elif file_format == "cascade":
        loaded = _load_cascade(spec, progress)
    else:
        assert table is not None
        loaded = _load_table(spec, table, progress)
    if loaded.frame.is_empty():
        raise EmptyInputError(f"{path}: no observations in the file")
    loaded.frame = loaded.frame.sort("ts", maintain_order=True)
    if loaded.campaign.post_time is None:  # absolute times: the first observation is the post
        first = loaded.frame.get_column("ts").first()
        if isinstance(first, datetime):
            base = loaded.campaign
            post_time = first.astimezone(UTC)
            loaded.campaign = Campaign(base.name, base.link, post_time, base.followers)
    if progress is not None:
        progress(1.0)
    return loaded


def _campaign(spec: FileSpec, post_time: datetime | None, followers: int | None) -> Campaign:
    return Campaign(
        name=spec.path.stem.removesuffix(".log"),
        link=spec.link,
        post_time=spec.post_time or post_time,
        followers=spec.followers or followers,
    )


def _load_recording(spec: FileSpec) -> LoadedFile:
    from engmon.core.recording import read_recording

    recording = read_recording(spec.path)
    base = recording.campaign
    campaign = Campaign(
        name=base.name,
        link=base.link,
        post_time=spec.post_time or base.post_time,
        followers=spec.followers or base.followers,
    )
    notes = (
        ["dropped 1 cut-off last line (a crash mid-write)"] if recording.dropped_last_line else []
    )
    frame = recording.frame.with_columns(
        source=pl.col("source").replace("", None).fill_null(pl.lit(spec.path.name))
    )
    return LoadedFile(spec.path, frame, campaign, notes)


def _load_access_log(spec: FileSpec, progress: Progress | None) -> LoadedFile:
    try:
        from engmon.sources.accesslog import read_access_log
    except ImportError:
        raise FileFormatError(
            f"{spec.path}: looks like an access log, but access-log support is not installed"
        ) from None
    result = read_access_log(
        spec.path,
        link=spec.link,
        log_format=spec.log_format,
        include_bots=spec.include_bots,
        progress=progress,
    )
    frame = result.frame  # observation rows already; the post time defaults to the first
    first = frame.get_column("ts").min() if frame.height else None
    post_time = first if isinstance(first, datetime) else None
    return LoadedFile(spec.path, frame, _campaign(spec, post_time, None), result.notes)


# --- chunked text reading --------------------------------------------------------------------


def _text_chunks(
    path: Path, progress: Progress | None, *, quoted: bool = False
) -> Iterator[tuple[int, bytes, bool]]:
    """(first line number, whole lines, is last chunk) of a text file, `CHUNK_BYTES` at a time.

    The last chunk keeps a final line without a newline (maybe cut off: the caller decides).
    `quoted` (CSV): a chunk never ends inside a double-quoted field, whose newlines belong to
    the field (a newline is outside quotes when an even number of `"` precede it).
    """
    size = max(1, path.stat().st_size)
    line = 1
    done = 0
    carry = b""
    with path.open("rb") as handle:
        while True:
            block = handle.read(CHUNK_BYTES)
            last = len(block) < CHUNK_BYTES
            data = carry + block
            if last:
                carry = b""
            else:
                cut = data.rfind(b"\n") + 1
                if quoted:
                    cut = _outside_quotes(data, cut)
                data, carry = data[:cut], data[cut:]
            if data:
                yield line, data, last
                line += data.count(b"\n")
            done += len(block)
            if progress is not None:
                progress(min(0.99, done / size))
            if last:
                return


def _outside_quotes(data: bytes, cut: int) -> int:
    """The last line end at or before `cut` with an even number of `"` before it; `cut` itself
    when there is none (an unbalanced quote: the CSV reader then reports the line)."""
    quotes = data.count(b'"', 0, cut)
    end = cut
    while end and quotes % 2:
        start = data.rfind(b"\n", 0, end - 1) + 1
        quotes -= data.count(b'"', start, end)
        end = start
    return end or cut


def _cut_off(data: bytes) -> bool:
    return bool(data) and not data.endswith(b"\n")


def _read_csv(path: Path, progress: Progress | None) -> pl.DataFrame:
    """Every column as text (parsed once per distinct value later), plus the line number."""
    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    header: list[str] | None = None
    frames: list[pl.DataFrame] = []
    for first_line, data, last in _text_chunks(path, progress, quoted=True):
        body = data
        line = first_line
        if header is None:
            head, _, body = data.partition(b"\n")
            if not head.strip():
                raise EmptyInputError(f"{path}: empty file, no observations")
            header = pl.read_csv(head + b"\n", separator=separator, infer_schema=False).columns
            if not header:
                raise EmptyInputError(f"{path}: empty file, no observations")
            line += 1
        if last and _cut_off(body):
            final = body[body.rfind(b"\n") + 1 :]
            fields = final.decode("utf-8", "replace").count(separator) + 1
            if fields < len(header) or final.count(b'"') % 2:
                final_line = line + body.count(b"\n")
                raise FileFormatError(
                    f"{path}: line {final_line}: cut off ({fields} of {len(header)} fields); "
                    "complete or remove the last line"
                )
        if not body.strip():
            continue
        try:
            frame = pl.read_csv(
                body,
                has_header=False,
                new_columns=header,
                separator=separator,
                infer_schema=False,
                row_index_name=_LINE,
                row_index_offset=line,
            )
        except pl.exceptions.PolarsError as exc:
            raise FileFormatError(f"{path}: not readable as CSV ({_first_line(exc)})") from None
        frames.append(frame)
    if header is None:
        raise EmptyInputError(f"{path}: empty file, no observations")
    if not frames:
        raise EmptyInputError(f"{path}: only a header line, no observations")
    return pl.concat(frames)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _read_ndjson(path: Path, progress: Progress | None) -> pl.DataFrame:
    frames: list[pl.DataFrame] = []
    for first_line, data, last in _text_chunks(path, progress):
        if last and _cut_off(data):
            final = data[data.rfind(b"\n") + 1 :]
            try:
                json.loads(final)
            except ValueError:
                final_line = first_line + data.count(b"\n")
                raise FileFormatError(
                    f"{path}: line {final_line}: cut off (not a whole JSON object); "
                    "complete or remove the last line"
                ) from None
        try:
            frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
        except pl.exceptions.PolarsError as exc:
            raise FileFormatError(_bad_json_line(path, data, first_line, exc)) from None
        # blank lines are skipped by the reader: number the rows by the lines that hold JSON
        lines = (
            [first_line + index for index, text in enumerate(data.split(b"\n")) if text.strip()]
            if b"\n\n" in data or data.startswith(b"\n")
            else None
        )
        if lines is not None and len(lines) == frame.height:
            frame = frame.with_columns(pl.Series(_LINE, lines, dtype=pl.Int64))
        else:
            frame = frame.with_row_index(_LINE, offset=first_line).cast({_LINE: pl.Int64})
        frames.append(frame)
    if not frames:
        raise EmptyInputError(f"{path}: empty file, no observations")
    return pl.concat(frames, how="diagonal_relaxed")


def _bad_json_line(path: Path, data: bytes, first_line: int, exc: Exception) -> str:
    """Find the first line that is not a JSON object (only on the error path)."""
    for index, text in enumerate(data.split(b"\n")):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError:
            return f"{path}: line {first_line + index}: not a JSON object"
        if not isinstance(value, dict):
            return f"{path}: line {first_line + index}: not a JSON object"
    return f"{path}: not readable as NDJSON ({_first_line(exc)})"


def _read_parquet(path: Path, progress: Progress | None) -> pl.DataFrame:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise FileFormatError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    total = max(1, parquet.metadata.num_rows)
    frames: list[pl.DataFrame] = []
    done = 0
    with parquet:
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group)
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            frames.append(frame.with_row_index(_LINE, offset=done + 1).cast({_LINE: pl.Int64}))
            done += table.num_rows
            if progress is not None:
                progress(min(0.99, done / total))
    if not frames:
        raise EmptyInputError(f"{path}: no rows")
    return pl.concat(frames, how="vertical_relaxed")


# --- tables -> observations ------------------------------------------------------------------


def _load_table(spec: FileSpec, table: str, progress: Progress | None) -> LoadedFile:
    path = spec.path
    if table == "parquet":
        raw = _read_parquet(path, progress)
        where = "row"
    else:
        head = _head(path)
        if not head.strip():
            raise EmptyInputError(f"{path}: empty file, no observations")
        if _looks_binary(head):
            raise FileFormatError(f"{path}: binary data, not {table.upper()}")
        raw = _read_csv(path, progress) if table == "csv" else _read_ndjson(path, progress)
        where = "line"
    frame, post_time, notes = to_observations(raw, spec, where=where)
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
        exprs["width_s"] = width.fill_null(0).cast(pl.Int32)

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
        return ts, None
    if isinstance(dtype, pl.Date):
        return pl.col(column).cast(UTC_US), None
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
    if relative:
        anchor = spec.post_time
        if anchor is None:
            anchor = RELATIVE_ANCHOR
            notes.append(
                "times are offsets from the post; post time unknown, set to "
                "1970-01-01T00:00Z (give --post-time)"
            )
        return pl.lit(anchor, dtype=UTC_US) + pl.duration(microseconds=micros), anchor
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC"), None


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
    opener = gzip.open if head.startswith(b"\x1f\x8b") else open
    with opener(path, "rb") as handle:
        data = handle.read()
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
    unit = spec.time_unit or "s"
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


def _cascade_header(parts: pl.DataFrame) -> bool:
    """Whether line 1 is `<count> <start time>` rather than an event (events are sorted)."""
    if parts.height < 2:
        return False
    first = parts.row(0, named=True)
    second = parts.row(1, named=True)
    count, time = first["time"], second["time"]
    if count is None or time is None or not float(count).is_integer():
        return False
    events = parts.height - 1
    return bool(abs(int(count) - events) <= 1 or count > time) and not math.isnan(count)
