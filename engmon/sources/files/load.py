"""The entry point: `load_observations(FileSpec)` reads any supported file into observations."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import polars as pl

from engmon.core import bounds
from engmon.core.campaign import Campaign
from engmon.core.printable import printable
from engmon.core.words import plural
from engmon.errors import EmptyInputError, FileFormatError, InputError
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
    try:
        loaded = _load(spec, progress)
    except (EOFError, zlib.error) as exc:
        raise FileFormatError(f"{path}: damaged compressed data ({exc})") from None
    except OSError as exc:  # e.g. /proc/self/mem: "regular", yet reading it fails
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except RecursionError:
        raise FileFormatError(f"{path}: nested too deeply to be observations") from None
    except (pl.exceptions.PolarsError, OverflowError, ValueError) as exc:
        # the readers name the line for every check they know; this is the last guard
        raise FileFormatError(f"{path}: unreadable value ({_first_line(exc)})") from None
    _check_rows(loaded)
    return loaded


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return printable(text.splitlines()[0] if text else type(exc).__name__, 200)


def _check_rows(loaded: LoadedFile) -> None:
    """The ranges of `engmon.core.bounds` over the whole frame (one pass, no row loop)."""
    found = bounds.first_problem(loaded.frame)
    if found is None:
        campaign = loaded.campaign
        if campaign.post_time is not None and (why := bounds.time_problem(campaign.post_time)):
            raise FileFormatError(f"{loaded.path}: post time {why}")
        return
    row, what = found
    ident = loaded.frame.item(row, "id")
    where = f"row {row + 1}"
    if isinstance(ident, str) and ident[:1] in "lr" and ident[1:].isdigit():
        where = f"{'line' if ident[0] == 'l' else 'row'} {ident[1:]}"
    raise FileFormatError(f"{loaded.path}: {where}: {what}")


def _load(spec: FileSpec, progress: Progress | None) -> LoadedFile:
    path = spec.path
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
    if not loaded.frame.get_column("ts").is_sorted():  # a sort copies the whole frame
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
        goal=spec.goal,
        spam=() if spec.keep_spam else None,
        progress=progress,
    )
    frame = result.frame  # observation rows already; the post time defaults to the first
    if frame.is_empty() and result.stats.parsed:  # lines were read, none counted: say why
        lines = plural(result.stats.parsed, "request")
        if spec.link:
            raise EmptyInputError(
                f"{spec.path}: none of its {lines} is for --link {spec.link!r} (a GET answered"
                " 2xx/3xx); check the path, or leave --link out to count every page"
            )
        raise EmptyInputError(
            f"{spec.path}: none of its {lines} is a page view (a GET answered 2xx/3xx, not a"
            " static asset or a bot; --include-bots counts bots)"
        )
    first = frame.get_column("ts").min() if frame.height else None
    post_time = first if isinstance(first, datetime) else None
    campaign = _campaign(spec, post_time, None)
    return LoadedFile(spec.path, frame, campaign, result.notes, unique_ids=True)
