"""The entry point: `load_observations(FileSpec)` reads any supported file into observations."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from engmon.core.campaign import Campaign
from engmon.errors import EmptyInputError, FileFormatError
from engmon.sources.files.cascade import _load_cascade
from engmon.sources.files.mapping import _load_table
from engmon.sources.files.spec import (
    FileSpec,
    LoadedFile,
    Progress,
    _campaign,
    _check_path,
    _table_kind,
    detect_format,
)

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
        file_format, table = detect_format(path, mapped=spec.mapped)
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
        from engmon.sources.accesslog.reader import read_access_log
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
