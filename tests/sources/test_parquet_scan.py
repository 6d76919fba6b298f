"""The lazy Parquet scan `report` uses: the rows it hands on are the file's rows, also when a
text column holding one value throughout is replaced by that value instead of being read."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import polars.testing
import pytest

from engmon.core.schema import conform
from engmon.sources.files import FileSpec
from engmon.sources.files.parquet import (
    PREFETCH_VARIABLE,
    local_row_groups,
    scan_parquet_observations,
)

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


def test_scans_read_one_row_group_ahead_unless_the_user_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PREFETCH_VARIABLE, raising=False)
    with local_row_groups():
        assert os.environ[PREFETCH_VARIABLE] == "1"
    assert PREFETCH_VARIABLE not in os.environ  # only for the scans inside
    monkeypatch.setenv(PREFETCH_VARIABLE, "16")
    with local_row_groups():
        assert os.environ[PREFETCH_VARIABLE] == "16"
    assert os.environ[PREFETCH_VARIABLE] == "16"


def test_report_scans_its_parquet_file_one_row_group_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engmon.watch import report

    monkeypatch.delenv(PREFETCH_VARIABLE, raising=False)
    path = tmp_path / "post.parquet"
    conform(
        pl.DataFrame(
            {
                "ts": [T0 + timedelta(minutes=m) for m in range(3)],
                "metric": ["clicks", "likes", "clicks"],
                "value": [1.0, 2.0, 3.0],
                "id": ["a", "b", "c"],
            }
        ).lazy()
    ).collect().write_parquet(path)
    seen: list[str | None] = []

    def scan_watched(spec: FileSpec, **kw: bool) -> object:
        seen.append(os.environ.get(PREFETCH_VARIABLE))
        return scan_parquet_observations(spec, **kw)

    monkeypatch.setattr("engmon.watch.report.scan_parquet_observations", scan_watched)
    text = report.run_report(FileSpec(path=path), output_format="json")
    assert seen == ["1"] and '"clicks"' in text
    assert PREFETCH_VARIABLE not in os.environ
