"""When the first increase came: a wall-clock bucket that holds the post's first seconds never
reads as a click before the post; an event before it still does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from engmon.core import metrics
from engmon.core.schema import conform

POST = datetime(2026, 3, 10, 14, 0, 20, tzinfo=UTC)  # mid-minute, as `posted_at = "now"`


def first_s(rows: dict[str, list[object]]) -> float | None:
    frame = conform(pl.DataFrame(rows)).collect()
    minutes = metrics.minute_counts(frame.lazy(), POST)
    summary = metrics.summary(minutes, now_minute=3, post_time=POST).collect()
    value = summary.filter(pl.col("metric") == "clicks").get_column("first_s").item()
    return None if value is None else float(value)


def test_a_minute_bucket_holding_the_post_starts_at_the_post() -> None:
    minute = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # Umami's minute 14:00, post at :20
    rows: dict[str, list[object]] = {
        "ts": [minute, minute + timedelta(minutes=1)],
        "metric": ["clicks", "clicks"],
        "value": [5.0, 8.0],
        "kind": ["bucket", "bucket"],
        "width_s": [60, 60],
        "source": ["umami", "umami"],
    }
    assert first_s(rows) == 0.0


def test_buckets_and_events_before_the_post_keep_their_time() -> None:
    rows: dict[str, list[object]] = {
        "ts": [datetime(2026, 3, 10, 13, 59, tzinfo=UTC), POST - timedelta(seconds=5)],
        "metric": ["clicks", "clicks"],
        "value": [2.0, 1.0],
        "kind": ["bucket", "event"],
        "width_s": [60, 0],
        "source": ["umami", "log"],
    }
    assert first_s(rows) == -80.0  # the bucket 13:59 ended before the post
    rows["kind"], rows["width_s"] = ["event", "event"], [0, 0]
    rows["ts"] = [POST - timedelta(seconds=5), POST]
    assert first_s(rows) == -5.0
