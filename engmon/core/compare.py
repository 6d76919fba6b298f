"""Compare: another post, or a past recording, aligned at its own post time.

"This post vs my last one" means the same minute since posting, not the same clock time: each
comparison is a minutes frame (`metrics.MINUTES_SCHEMA`) counted from its own post time, so
the curve can overlay it bucket by bucket on the current one. A post of the campaign starts at
its earliest observation unless its post time is known; a recording at the post time in its
header (else its first row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from engmon.core import metrics
from engmon.core.recording import read_recording
from engmon.core.store import observations_to_deltas


@dataclass(frozen=True)
class Comparison:
    """A curve to overlay: its label, per-minute counts since its own post, its audience."""

    label: str
    minutes: pl.DataFrame
    post_time: datetime | None
    followers: int | None = None


def post_starts(deltas: pl.LazyFrame) -> pl.LazyFrame:
    """Per post: its earliest observation (`start`), the post time when no source gives one."""
    return (
        deltas.filter(pl.col("post").is_not_null())
        .group_by(pl.col("post").cast(pl.String))
        .agg(start=pl.col("ts").min(), rows=pl.len())
        .sort("start", "post")
    )


def compare_post(
    deltas: pl.DataFrame,
    post: str,
    *,
    post_time: datetime | None = None,
    followers: int | None = None,
) -> Comparison:
    """The increments of one `post` of the campaign, counted from its own post time."""
    rows = deltas.lazy().filter(pl.col("post").cast(pl.String) == post)
    start = post_time or rows.select(pl.col("ts").min()).collect().item()
    if not isinstance(start, datetime):
        return Comparison(post, metrics.empty_minutes(), None, followers)
    minutes = metrics.minute_counts(rows, start).sort("metric", "minute").collect()
    return Comparison(post, minutes, start, followers)


def compare_observations(
    observations: pl.DataFrame,
    label: str,
    *,
    post_time: datetime | None = None,
    followers: int | None = None,
) -> Comparison:
    """A whole observation frame (a file, a recording) as a comparison curve."""
    start = post_time or observations.get_column("ts").min()
    if not isinstance(start, datetime):
        return Comparison(label, metrics.empty_minutes(), None, followers)
    deltas = observations_to_deltas(observations.lazy())
    minutes = metrics.minute_counts(deltas, start).sort("metric", "minute").collect()
    return Comparison(label, minutes, start, followers)


def compare_recording(path: Path) -> Comparison:
    """A past recording (`engmon watch` writes them) as a comparison curve.

    Raises the recording reader's InputError/FileFormatError for a file that is not one.
    """
    recording = read_recording(path)
    campaign = recording.campaign
    label = campaign.name or path.stem
    return compare_observations(
        recording.frame, label, post_time=campaign.post_time, followers=campaign.followers
    )


def overlay(
    current: pl.DataFrame,
    other: Comparison,
    *,
    metric: str | list[str],
    width: int,
    end_minute: int,
) -> pl.DataFrame:
    """Per bucket since post, `value` of the current curve and `other` of the comparison.

    Both are dense from bucket 0 up to `end_minute` (the curve's x range), so minute m of one
    sits beside minute m of the other.
    """
    mine = metrics.dense(
        metrics.bucketed(current.lazy(), width, metric).collect(), width, end_minute
    )
    theirs = metrics.dense(
        metrics.bucketed(other.minutes.lazy(), width, metric).collect(),
        width,
        end_minute,
    )
    return mine.select("bucket", "value").join(
        theirs.select("bucket", other=pl.col("value")), on="bucket", how="left"
    )
