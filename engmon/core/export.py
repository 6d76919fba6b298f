"""Export what is on screen: the filtered observations as CSV, Parquet or NDJSON files.

Files land in a directory the user chooses (default `./exports`, or `[export] dir` in the
campaign config), named after the campaign and the moment of export so repeated exports never
overwrite each other: `spring-launch-20261125T214501Z.csv`. Each file is written under a
temporary name and renamed, so a reader never sees half a file. The rows are in the
observation schema, so `engmon replay` and `engmon report` read an export back as they read
any observation file.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import polars as pl

from engmon.core.bounds import parse_iso
from engmon.core.printable import spreadsheet_safe_column
from engmon.core.schema import OBSERVATION_SCHEMA
from engmon.errors import EngmonError

EXPORT_FORMATS: Final = ("csv", "parquet", "ndjson")
"""Formats `export_observations` writes (file extension = format name)."""

DEFAULT_EXPORT_DIR: Final = Path("exports")


class ExportError(EngmonError):
    """The export directory cannot be created or written; the message names it."""


def campaign_slug(name: str) -> str:
    """A file-name-safe version of a campaign name (`Spring launch!` -> `spring-launch`)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:60] or "engmon"


def export_stem(campaign: str, when: datetime, label: str = "") -> str:
    """`<campaign>-<UTC time>[-<label>]`: the file name before its extension."""
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{campaign_slug(label)}" if label else ""
    return f"{campaign_slug(campaign)}-{stamp}{suffix}"


def free_path(directory: Path, stem: str, extension: str) -> Path:
    """`directory/stem.extension`, or `stem-2`, `stem-3`… when that name is taken."""
    candidate = directory / f"{stem}.{extension}"
    number = 2
    while candidate.exists():
        candidate = directory / f"{stem}-{number}.{extension}"
        number += 1
    return candidate


def _write(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    if fmt == "csv":  # for spreadsheets: no cell may run as a formula or carry raw escapes
        text_columns = [
            name for name, dtype in frame.schema.items() if dtype in (pl.String, pl.Categorical)
        ]
        frame.with_columns(spreadsheet_safe_column(name) for name in text_columns).write_csv(
            temporary
        )
    elif fmt == "parquet":
        frame.write_parquet(temporary)
    else:
        frame.write_ndjson(temporary)
    os.replace(temporary, path)


def export_observations(
    observations: pl.DataFrame,
    directory: Path | str = DEFAULT_EXPORT_DIR,
    *,
    campaign: str,
    formats: tuple[str, ...] = ("csv",),
    when: datetime | None = None,
    label: str = "",
) -> list[Path]:
    """Write `observations` (observation schema) once per format; returns the paths written.

    Raises ExportError (one line naming the directory) when it cannot be created or written,
    ValueError for a format not in `EXPORT_FORMATS`.
    """
    for fmt in formats:
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    frame = observations.select(
        [pl.col(name).cast(dtype) for name, dtype in OBSERVATION_SCHEMA.items()]
    )
    target = Path(directory)
    stem = export_stem(campaign, when or datetime.now(UTC), label)
    written: list[Path] = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            path = free_path(target, stem, fmt)
            _write(frame, path, fmt)
            written.append(path)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(
            f"cannot write exports to {target}: {reason} (choose another directory with "
            "[export] dir in the campaign config)"
        ) from exc
    return written


def read_export(path: Path | str) -> pl.DataFrame:
    """Read an exported file back in the observation schema (for checks and tests)."""
    source = Path(path)
    fmt = source.suffix.lstrip(".")
    if fmt == "parquet":
        frame = pl.read_parquet(source)
    elif fmt == "ndjson":
        frame = pl.read_ndjson(source, schema_overrides={"ts": pl.String, "kind": pl.String})
    elif fmt == "csv":
        frame = pl.read_csv(
            source, schema_overrides={name: pl.String for name in OBSERVATION_SCHEMA}
        )
    else:
        raise ValueError(f"not an export file: {source}")
    if frame.schema["ts"] == pl.String:
        frame = frame.with_columns(pl.col("ts").str.to_datetime(time_zone="UTC"))
    return frame.select([pl.col(name).cast(dtype) for name, dtype in OBSERVATION_SCHEMA.items()])


POST_TIME_KEY: Final = "engmon.post_time"
"""Parquet key-value metadata holding the post time of an observation file (ISO 8601 UTC)."""


def parquet_post_time(path: Path) -> datetime | None:
    """The post time a Parquet observation file carries in its metadata, if it does."""
    try:
        meta = pl.read_parquet_metadata(path)
    except (pl.exceptions.PolarsError, OSError):
        return None
    text = meta.get(POST_TIME_KEY)
    if not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None
