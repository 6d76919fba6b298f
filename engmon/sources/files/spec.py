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
- ``access-log``: Apache/nginx logs through `engmon.sources.accesslog.parse`.

Every row gets a stable `id` (its line or row number) and `source` (the file name) unless the
file has its own, so merging the same file twice into one store counts every event once.

Timestamps are parsed once per *distinct* value, never per row. Numeric times are offsets
from the post unless `--absolute` or they clearly are epochs (later than 1973). A cut-off
last line (no newline at the end and short of fields or invalid JSON) is an error naming
its line in CSV, NDJSON and cascades; recordings drop it with a note (a crash mid-write).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import polars as pl

from engmon.core.bounds import MAX_REACH, parse_iso
from engmon.core.campaign import Campaign
from engmon.core.readable import check_regular_file
from engmon.core.schema import DIMENSIONS
from engmon.errors import ConfigError, EmptyInputError, FileFormatError

FileFormat = Literal["auto", "observations", "cascade", "access-log", "recording"]
FILE_FORMATS: Final = ("auto", "observations", "cascade", "access-log", "recording")
TIME_UNITS: Final = ("s", "ms", "h", "iso")
EPOCH_THRESHOLD_S: Final = 1e8
"""Numeric times from this many seconds on (March 1973) are read as epochs, not offsets."""

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
    log_format: str = "auto"
    include_bots: bool = False
    goal: str | None = None
    keep_spam: bool = False

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
        goal: str | None = None,
        keep_spam: bool = False,
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
        if followers is not None and not 1 <= followers <= MAX_REACH:
            raise ConfigError(f"--followers {followers}: must be from 1 to {MAX_REACH:g}")
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
            log_format=log_format or "auto",
            include_bots=include_bots,
            goal=goal or None,
            keep_spam=keep_spam,
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
    unique_ids: bool = False
    """Every event id occurs once (an access log's `<file tag>:<line>`): nothing to dedupe."""


def parse_post_time(text: str) -> datetime:
    """`--post-time` ISO 8601 text -> aware UTC datetime (naive means UTC)."""
    try:
        value = parse_iso(text)
    except ValueError as exc:
        raise ConfigError(f"--post-time {text!r}: {exc}") from None
    return value.astimezone(UTC)


# --- detection --------------------------------------------------------------------------------


def _check_path(path: Path) -> None:
    check_regular_file(path)


def _head(path: Path, size: int = 8192) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


GZIP_MAGIC: Final = b"\x1f\x8b"


def _text_head(path: Path, size: int = 8192) -> bytes:
    """The first bytes of `path`'s text: decompressed when it is gzip (`data.csv.gz`)."""
    import gzip
    import zlib

    if not _head(path, 2).startswith(GZIP_MAGIC):
        return _head(path, size)
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(size)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileFormatError(f"{path}: damaged gzip data ({exc})") from None


def _inner_suffix(path: Path) -> str:
    """The extension that says what a file holds: `.csv` for `data.csv` and `data.csv.gz`."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if len(suffixes) > 1 and suffixes[-1] == ".gz":
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a multi-byte char cut by the read is not junk
    return False


_CONTROL: Final = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def refuse_binary(path: Path, head: bytes, what: str) -> None:
    """Raise a FileFormatError when `head` is not UTF-8 text: binary data, or text in another
    encoding (Latin-1, Windows-1252: one line named, with how to fix it)."""
    if not _looks_binary(head):
        return
    if b"\x00" not in head and len(_CONTROL.findall(head)) <= len(head) // 100:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = head.count(b"\n", 0, exc.start) + 1
            byte = head[exc.start]
            raise FileFormatError(
                f"{path}: line {line}: not UTF-8 text (byte 0x{byte:02X}); save the file as UTF-8"
            ) from None
    raise FileFormatError(f"{path}: binary data, not {what}")


def detect_format(path: Path, *, mapped: bool = False) -> tuple[str, str | None]:
    """(`--read-as` value, table kind csv|ndjson|parquet or None) by extension and content.

    A CSV/TSV whose header names request columns (time, URL, status...) is a tabular access
    log, unless the user `mapped` its columns as observations.
    """
    from engmon.core.recording import is_recording
    from engmon.sources.accesslog.tabular import is_tabular_log

    name = path.name.lower()
    head = _head(path)
    if head.startswith(b"PAR1") or name.endswith((".parquet", ".pq")):
        return "observations", "parquet"
    if name.endswith((".log", ".log.gz")):
        return "access-log", None
    gzipped = head.startswith(GZIP_MAGIC)
    if gzipped:
        head = _text_head(path)
    elif is_recording(path):
        return "recording", None
    if not head.strip():
        raise EmptyInputError(f"{path}: empty file, no observations")
    refuse_binary(path, head, "CSV, NDJSON, Parquet or a log")
    lines = [line for line in head.splitlines()[:5] if line.strip()]
    if lines and _LOG_LINE.match(lines[0]):
        return "access-log", None
    if not mapped and is_tabular_log(head):
        return "access-log", None
    if gzipped:
        from engmon.sources.accesslog.sniff import sniff_format

        if sniff_format(head) is not None:  # Caddy, Traefik... compressed by logrotate
            return "access-log", None
    table = _TABLE_EXTENSIONS.get(_inner_suffix(path))
    if table == "parquet":
        raise FileFormatError(f"{path}: a compressed Parquet file; decompress it first")
    if table is not None:
        return "observations", table
    if lines[0].lstrip().startswith(b"{"):
        return "observations", "ndjson"
    complete = lines[:-1] if len(lines) > 1 else lines
    if all(_CASCADE_LINE.match(line) for line in complete):
        return "cascade", None
    if b"," in lines[0] or b"\t" in lines[0]:
        return "observations", "csv"
    if gzipped:  # a compressed log whose format the access-log reader works out (or names)
        return "access-log", None
    raise FileFormatError(
        f"{path}: unknown format; engmon reads CSV, NDJSON, Parquet, cascades, recordings "
        "and access logs (say which with --read-as)"
    )


def _table_kind(path: Path) -> str:
    table = _TABLE_EXTENSIONS.get(_inner_suffix(path))
    if table is not None:
        return table
    head = _text_head(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.lstrip().startswith(b"{"):
        return "ndjson"
    return "csv"


def _bare_name(path: Path) -> str:
    """`spring` for `spring.csv`, `spring.csv.gz` or `spring.log.gz`."""
    name = path.name.removesuffix(".gz") if path.name.lower().endswith(".gz") else path.name
    stem = Path(name).stem if Path(name).suffix else name
    return stem.removesuffix(".log") or path.name


def _campaign(spec: FileSpec, post_time: datetime | None, followers: int | None) -> Campaign:
    return Campaign(
        name=_bare_name(spec.path),
        link=spec.link,
        post_time=spec.post_time or post_time,
        followers=spec.followers or followers,
    )
