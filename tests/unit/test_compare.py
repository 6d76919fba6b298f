"""Compare curves aligned at each post's own post time (issue #6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engmon.core.campaign import Campaign
from engmon.core.compare import (
    compare_observations,
    compare_post,
    compare_recording,
    overlay,
    post_starts,
)
from engmon.core.recording import RecordingWriter
from engmon.core.schema import conform
from engmon.errors import InputError

POST = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return POST + timedelta(minutes=minutes)


def two_posts() -> pl.DataFrame:
    """p1 posted at 14:00, p2 at 15:00 (its first row); both get clicks in their minutes 0-2."""
    return conform(
        pl.DataFrame(
            {
                "ts": [at(0.5), at(1), at(2), at(60), at(60.5), at(62.5)],
                "metric": ["clicks"] * 6,
                "post": ["p1", "p1", "p1", "p2", "p2", "p2"],
            }
        )
    ).collect()


def test_post_starts() -> None:
    got = post_starts(two_posts().lazy()).collect()
    expected = pl.DataFrame(
        {"post": ["p1", "p2"], "start": [at(0.5), at(60)], "rows": [3, 3]},
        schema_overrides={"rows": pl.UInt32},
    )
    assert_frame_equal(got, expected)


def test_another_post_is_aligned_at_its_own_start() -> None:
    other = compare_post(two_posts(), "p2")
    assert other.post_time == at(60)
    assert other.minutes.select("minute", "value").rows() == [(0, 2.0), (2, 1.0)]
    known = compare_post(two_posts(), "p2", post_time=at(59))
    assert known.minutes.select("minute", "value").rows() == [(1, 2.0), (3, 1.0)]
    assert compare_post(two_posts(), "nope").minutes.is_empty()


def test_overlay_puts_minute_m_beside_minute_m() -> None:
    frame = two_posts()
    current = compare_post(frame, "p1", post_time=POST).minutes
    got = overlay(current, compare_post(frame, "p2"), metric="clicks", width=1, end_minute=4)
    expected = pl.DataFrame(
        {
            "bucket": [0, 1, 2, 3],
            "value": [1.0, 1.0, 1.0, 0.0],
            "other": [2.0, 0.0, 1.0, 0.0],
        }
    )
    assert_frame_equal(got, expected)


def test_recording_compares_from_its_header_post_time(tmp_path: Path) -> None:
    path = tmp_path / "last.ndjson"
    writer = RecordingWriter(path, Campaign("last launch", post_time=at(-1), followers=900))
    writer.append(two_posts().filter(pl.col("post") == "p1"))
    writer.close()
    other = compare_recording(path)
    assert other.label == "last launch"
    assert other.followers == 900
    # rows at +0.5, +1 and +2 min after 14:00 are minutes 1, 2 and 3 after its 13:59 post
    assert other.minutes.select("minute", "value").rows() == [(1, 1.0), (2, 1.0), (3, 1.0)]


def test_recording_header_alone_gives_the_same_campaign(tmp_path: Path) -> None:
    from engmon.core.recording import read_recording, recording_campaign

    path = tmp_path / "last.ndjson"
    writer = RecordingWriter(path, Campaign("last launch", post_time=at(-1), followers=900))
    writer.append(two_posts())
    writer.close()
    assert recording_campaign(path) == read_recording(path).campaign
    junk = tmp_path / "junk.ndjson"
    junk.write_text("hello\n")
    with pytest.raises(InputError, match="not an engmon recording header"):
        recording_campaign(junk)


def test_not_a_recording_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.ndjson"
    path.write_text("hello\n")
    with pytest.raises(InputError):
        compare_recording(path)


def test_observations_without_post_time_start_at_their_first_row() -> None:
    other = compare_observations(two_posts(), "file")
    assert other.post_time == at(0.5)
    assert compare_observations(two_posts().head(0), "empty").minutes.is_empty()
