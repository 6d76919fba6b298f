"""The lazy Parquet scan `report` uses: the rows it hands on are the file's rows, also when a
text column holding one value throughout is replaced by that value instead of being read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import polars.testing
import pytest

from engmon.core.schema import conform
from engmon.sources.files import FileSpec
from engmon.sources.files.parquet import scan_parquet_observations

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sources", "kinds"),
    [
        (["x", "x", "x"], ["event", "event", "event"]),  # one value each: neither is read
        (["x", None, "x"], ["event", "event", "event"]),  # a null is not that one value
        (["x", "y", "x"], ["event", "event", None]),
        (["x", "x", "x"], ["total", "total", "total"]),
    ],
)
def test_the_scan_hands_on_the_files_rows(
    tmp_path: Path, sources: list[str | None], kinds: list[str | None]
) -> None:
    path = tmp_path / "post.parquet"
    frame = pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=m) for m in range(3)],
            "source": sources,
            "kind": kinds,
            "metric": ["clicks", "likes", "clicks"],
            "value": [1.0, 2.0, 3.0],
            "id": ["a", "b", "c"],
        }
    )
    frame.write_parquet(path)
    scanned = scan_parquet_observations(FileSpec.from_cli(path), dimensions=True)
    assert scanned is not None
    expected = conform(frame).collect()
    polars.testing.assert_frame_equal(scanned.observations.collect(), expected)
