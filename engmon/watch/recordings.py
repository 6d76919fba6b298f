"""Where watches are recorded, how a restarted watch finds its recording, `engmon history`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from engmon.config import CampaignConfig, load_campaign
from engmon.core.recording import (
    is_recording,
    read_recording,
    recording_campaign,
)
from engmon.core.schema import GAUGE_METRICS, breakdown_rows
from engmon.core.store import observations_to_deltas

RECORDING_SUFFIX = ".ndjson"


def recordings_dir() -> Path:
    """Where watches are recorded by default: `<user data dir>/engmon/recordings`."""
    import platformdirs

    return platformdirs.user_data_path("engmon", appauthor=False) / "recordings"


def slug(text: str) -> str:
    """A file-name-safe form of a campaign name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "campaign"


def default_recording_path(config: CampaignConfig) -> Path:
    """`<recordings>/<campaign>-<post time>.ndjson` (the same file for a restarted watch);
    `<campaign>-now.ndjson` for `posted_at = "now"`, whose time changes with every start, so
    a restart continues the same recording and keeps its post time."""
    if config.record is not None:
        return config.record
    if config.posted_now:
        return recordings_dir() / f"{slug(config.campaign.name)}-now.ndjson"
    post = config.campaign.post_time or datetime.now(UTC)
    return recordings_dir() / f"{slug(config.campaign.name)}-{post:%Y%m%dT%H%M%S}Z.ndjson"


def open_config(path: Path, record: Path | None) -> tuple[CampaignConfig, Path]:
    """Load a campaign and pick its recording; a restarted `posted_at = "now"` keeps its time.

    With `posted_at = "now"` and an existing recording, the post time written in that
    recording wins, so minutes since post stay where they were before the restart.
    """
    config = load_campaign(path)
    target = record or default_recording_path(config)
    if config.posted_now and target.exists() and is_recording(target):
        previous = recording_campaign(target).post_time  # the header line only
        if previous is not None:
            config = load_campaign(path, post_time=previous)
    return config, target


@dataclass(frozen=True)
class RecordingInfo:
    """One line of `engmon history`."""

    path: Path
    campaign: str
    started: datetime | None
    duration_s: float | None
    totals: dict[str, float]


def recording_info(path: Path) -> RecordingInfo:
    """Campaign, start, duration (start to last write) and engagement totals of a recording."""
    recording = read_recording(path)
    totals: dict[str, float] = {}
    if not recording.frame.is_empty():
        sums = (
            observations_to_deltas(recording.frame.lazy())
            .filter(~breakdown_rows() & ~pl.col("metric").is_in(GAUGE_METRICS))
            .group_by("metric")
            .agg(pl.col("value").sum())
            .sort("metric")
            .collect()
        )
        totals = {str(m): float(v) for m, v in sums.iter_rows()}
    duration = None
    if recording.started is not None:
        duration = max(0.0, path.stat().st_mtime - recording.started.timestamp())
    return RecordingInfo(path, recording.campaign.name, recording.started, duration, totals)


def list_recordings(folder: Path | None = None) -> list[RecordingInfo]:
    """Every recording in `folder` (default: the recordings dir), oldest first."""
    where = folder or recordings_dir()
    if not where.is_dir():
        return []
    infos = [
        recording_info(path)
        for path in sorted(where.glob(f"*{RECORDING_SUFFIX}"))
        if is_recording(path)
    ]
    return sorted(infos, key=lambda info: info.started or datetime.min.replace(tzinfo=UTC))
