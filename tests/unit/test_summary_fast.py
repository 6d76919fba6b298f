"""metrics.summary on a literal minutes frame: ties, minutes before the post, levels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from engmon.core import metrics

POST = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def minutes_frame() -> pl.DataFrame:
    rows = [  # metric, minute, value, reach
        ("clicks", -2, 9.0, 0),  # before the post: counts in totals, never the peak
        ("clicks", 1, 3.0, 0),
        ("clicks", 4, 3.0, 0),  # ties with minute 1: the earliest peak wins
        ("clicks", 8, 1.0, 0),
        ("reposts", 2, 2.0, 500),
        ("reposts", 12, 5.0, 900),  # after now_minute=10: not seen yet
    ]
    return pl.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "minute": [r[1] for r in rows],
            "value": [r[2] for r in rows],
            "reach": [r[3] for r in rows],
            "first_ts": [POST + timedelta(minutes=r[1], seconds=10) for r in rows],
        }
    ).cast(metrics.MINUTES_SCHEMA)


def test_summary_per_minute_peak_velocity_first_and_levels() -> None:
    levels = pl.DataFrame({"metric": ["likes"], "level": [40.0]})
    out = metrics.summary(
        minutes_frame().lazy(),
        now_minute=10,
        velocity_window=5,
        levels=levels.lazy(),
        post_time=POST,
    ).collect()
    rows = {r["metric"]: r for r in out.iter_rows(named=True)}
    assert rows["clicks"]["count"] == 16.0
    assert rows["clicks"]["peak"] == 3.0 and rows["clicks"]["peak_minute"] == 1
    assert rows["clicks"]["velocity"] == 1.0 / 5  # only minute 8 is within [5, 10)
    assert rows["clicks"]["first_s"] == -110.0
    assert rows["reposts"]["count"] == 2.0 and rows["reposts"]["reach"] == 500
    assert rows["likes"]["count"] == 40.0 and rows["likes"]["peak"] == 0.0
    assert rows["likes"]["peak_minute"] is None


def test_summary_with_wider_buckets() -> None:
    out = metrics.summary(minutes_frame().lazy(), now_minute=10, width=5).collect()
    clicks = out.filter(pl.col("metric") == "clicks").row(0, named=True)
    assert clicks["peak"] == 6.0 and clicks["peak_minute"] == 0  # minutes 1 and 4
