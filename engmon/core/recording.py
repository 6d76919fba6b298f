"""Recordings: every raw poll of a watch, appended to an NDJSON file and flushed per poll.

Layout (one JSON object per line, UTF-8):

    {"engmon": "recording", "version": 1, "campaign": {...}, "started": "2026-11-25T14:00:00Z"}
    {"ts": "...", "source": "umami", "kind": "bucket", "metric": "clicks", "value": 3.0, ...}
    ...

Line 1 is the header (campaign name, link, post time, followers). Every later line is one
observation row with the schema's columns (`ts` in ISO 8601 UTC), written in the order polled.
A `kill -9` can cut at most the last line short; `read_recording` drops such a line, so a
crash loses at most the poll in flight. Recordings are replayed and reported like any file,
and a watch restarted on the same recording reloads it before polling again.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from engmon.core.bounds import MAX_REACH, first_problem, parse_iso
from engmon.core.campaign import Campaign
from engmon.core.readable import check_regular_file
from engmon.core.schema import OBSERVATION_SCHEMA, conform
from engmon.errors import FileFormatError, InputError

MAGIC: Final = "recording"
VERSION: Final = 1


def _ndjson_schema() -> pl.Schema:
    columns: dict[str, pl.DataType] = {}
    for name, dtype in OBSERVATION_SCHEMA.items():
        # text read as text (a number where text belongs reads as its digits), then conformed
        text = name in ("ts", "kind") or dtype == pl.Categorical
        columns[name] = pl.String() if text else dtype
    return pl.Schema(columns)


@dataclass(frozen=True)
class Recording:
    """A recording read back: its campaign, when it started, and all its observations."""

    path: Path
    campaign: Campaign
    started: datetime | None
    frame: pl.DataFrame
    dropped_last_line: bool


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def header_line(campaign: Campaign, started: datetime) -> str:
    """The first line of a recording."""
    head: dict[str, Any] = {
        "engmon": MAGIC,
        "version": VERSION,
        "campaign": {
            "name": campaign.name,
            "link": campaign.link,
            "post_time": _iso(campaign.post_time),
            "followers": campaign.followers,
        },
        "started": _iso(started),
    }
    return json.dumps(head, separators=(",", ":")) + "\n"


def is_recording(path: Path) -> bool:
    """Whether `path` starts with a recording header (a FIFO or device is never opened)."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return False
    return first.startswith(b'{"engmon":"recording"')


class RecordingWriter:
    """Appends observation frames to a recording; each `append` is flushed and fsynced.

    Opening an existing recording appends to it (a restarted watch continues its file).
    """

    def __init__(self, path: Path, campaign: Campaign, started: datetime | None = None) -> None:
        self.path = path
        if path.exists():  # a FIFO would block the open below; a directory cannot be appended
            check_regular_file(path, "an engmon recording")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{path}: cannot create its folder ({exc.strerror})") from None
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh and not is_recording(path):
            raise InputError(f"{path}: exists and is not an engmon recording; choose another path")
        self._handle = path.open("ab")
        if fresh:
            self._handle.write(header_line(campaign, started or datetime.now(UTC)).encode())
            self._flush()
        else:
            self._repair_tail()
        self.rows = 0

    def _repair_tail(self) -> None:
        """After a crash the file may end mid-line: cut that partial row off (it was the poll
        in flight) so the next row starts on a clean line and the file stays readable."""
        with self.path.open("rb") as handle:
            data = handle.read()
        if data and not data.endswith(b"\n"):
            self._handle.truncate(data.rfind(b"\n") + 1)
            self._flush()

    def _flush(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def append(self, frame: pl.DataFrame) -> None:
        """Write the rows of one poll and make them durable before returning."""
        if frame.is_empty():
            return
        rows = (
            conform(frame)
            .collect()
            .with_columns(
                pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"), pl.col("kind").cast(pl.String)
            )
        )
        buffer = io.BytesIO()
        rows.write_ndjson(buffer)
        self._handle.write(buffer.getvalue())
        self._flush()
        self.rows += rows.height

    def close(self) -> None:
        """Close the file (everything is already on disk)."""
        self._handle.close()

    @property
    def closed(self) -> bool:
        """True once the recording is closed."""
        return self._handle.closed


def _parse_time(path: Path, key: str, text: object) -> datetime | None:
    """A header time (ISO 8601 text or null); FileFormatError naming the key otherwise."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise FileFormatError(f"{path}: line 1: {key} {text!r} is not an ISO 8601 time")
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise FileFormatError(f"{path}: line 1: {key} {text!r} {exc}") from None


def recording_campaign(path: Path) -> Campaign:
    """The campaign in a recording's header line, without reading its observations."""
    check_regular_file(path, "an engmon recording")
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    return _header(path, first.rstrip(b"\n"))[1]


def _header(path: Path, first: bytes) -> tuple[dict[str, Any], Campaign]:
    """The parsed header line and its campaign; FileFormatError when it is not one."""
    try:
        head = json.loads(first)
    except (ValueError, RecursionError):
        raise FileFormatError(f"{path}: line 1: not an engmon recording header") from None
    if not isinstance(head, dict) or head.get("engmon") != MAGIC:
        raise FileFormatError(f"{path}: line 1: not an engmon recording header")
    meta = head.get("campaign") or {}
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path}: line 1: 'campaign' is not an object")
    name, link, followers = meta.get("name"), meta.get("link"), meta.get("followers")
    if not isinstance(name, str | None) or not isinstance(link, str | None):
        raise FileFormatError(f"{path}: line 1: campaign name and link must be text")
    if followers is not None and (
        not isinstance(followers, int)
        or isinstance(followers, bool)
        or not 1 <= followers <= MAX_REACH
    ):
        raise FileFormatError(f"{path}: line 1: followers {followers!r} is not a follower count")
    campaign = Campaign(
        name=name or path.stem,
        link=link,
        post_time=_parse_time(path, "post_time", meta.get("post_time")),
        followers=followers,
    )
    return head, campaign


def read_recording(path: Path) -> Recording:
    """Read a recording; a cut-off last line (a crash mid-write) is dropped, not an error."""
    check_regular_file(path, "an engmon recording")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    first, _, body = raw.partition(b"\n")
    head, campaign = _header(path, first)
    dropped = False
    if body and not body.endswith(b"\n"):
        cut = body.rfind(b"\n")
        body = body[: cut + 1] if cut >= 0 else b""
        dropped = True
    started = _parse_time(path, "started", head.get("started"))
    frame = _rows(path, body) if body.strip() else OBSERVATION_SCHEMA.to_frame()
    return Recording(path, campaign, started, frame, dropped)


def _rows(path: Path, body: bytes) -> pl.DataFrame:
    """The observation lines after the header; FileFormatError naming the first bad row."""
    try:
        raw = pl.read_ndjson(io.BytesIO(body), schema=_ndjson_schema())
    except pl.exceptions.PolarsError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid JSON"
        raise FileFormatError(f"{path}: unreadable observation rows ({reason})") from None
    staged = raw.with_columns(
        pl.col("ts").str.to_datetime(time_zone="UTC", time_unit="us", strict=False).alias("_t")
    )
    unparsed = staged.with_row_index("_row").filter(pl.col("_t").is_null()).head(1)
    if not unparsed.is_empty():
        row = int(unparsed.item(0, "_row")) + 1
        raise FileFormatError(
            f"{path}: observation row {row}: ts {unparsed.item(0, 'ts')!r} is not an ISO 8601 time"
        )
    staged = staged.with_columns(ts=pl.col("_t")).drop("_t")
    found = first_problem(staged)
    if found is not None:
        raise FileFormatError(f"{path}: observation row {found[0] + 1}: {found[1]}")
    return conform(staged).collect()
