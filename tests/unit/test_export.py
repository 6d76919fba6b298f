"""Export of the filtered observations: files read back equal the filtered store (issue #6)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engmon.core.breakdown import Filter, FilterStack
from engmon.core.drill import Drilldown
from engmon.core.export import (
    EXPORT_FORMATS,
    ExportError,
    campaign_slug,
    export_observations,
    export_stem,
    read_export,
)
from engmon.core.schema import conform
from engmon.core.store import ObservationStore

POST = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
WHEN = datetime(2026, 1, 1, 14, 30, 5, tzinfo=UTC)


def store() -> ObservationStore:
    held = ObservationStore(POST)
    held.merge(
        pl.DataFrame(
            {
                "ts": [POST + timedelta(seconds=s) for s in (61.5, 125, 190, 250)],
                "source": ["log"] * 4,
                "metric": ["clicks"] * 4,
                "id": ["1", "2", "3", "4"],
                "referrer": ["https://t.co/a", "[bold red]x[/]\x1b[31m", "https://t.co/b", None],
                "country": ["RO", "US", "RO", "DE"],
                "path": ["/a,b", '/q"uote', "/c", "/d"],
                "reach": [10, None, 30, 40],
            }
        )
    )
    return held


def test_slug_and_stem() -> None:
    assert campaign_slug("Spring launch! 2026") == "spring-launch-2026"
    assert campaign_slug("///") == "engmon"
    assert export_stem("Spring launch", WHEN) == "spring-launch-20260101T143005Z"
    assert export_stem("s", WHEN, "platform=X") == "s-20260101T143005Z-platform-x"


def test_every_format_reads_back_equal_to_the_filtered_store(tmp_path: Path) -> None:
    drill = Drilldown(store())
    on_x = FilterStack().push(Filter("platform", "X"))
    shown = drill.observations(on_x)
    assert shown.height == 2
    paths = export_observations(
        shown, tmp_path / "out", campaign="Spring launch", formats=EXPORT_FORMATS, when=WHEN
    )
    assert [p.name for p in paths] == [
        "spring-launch-20260101T143005Z.csv",
        "spring-launch-20260101T143005Z.parquet",
        "spring-launch-20260101T143005Z.ndjson",
    ]
    for path in paths:
        assert_frame_equal(read_export(path), shown)


def test_hostile_strings_survive_the_round_trip(tmp_path: Path) -> None:
    everything = Drilldown(store()).observations(FilterStack())
    for path in export_observations(
        everything, tmp_path, campaign="c", formats=("parquet", "ndjson")
    ):
        assert_frame_equal(read_export(path).sort("ts"), everything.sort("ts"))


def test_csv_export_is_safe_to_open_in_a_spreadsheet(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "ts": [datetime(2026, 1, 1, 14, tzinfo=UTC)] * 6,
            "metric": ["clicks"] * 6,
            "value": [1.0] * 6,
            "referrer": [
                "=cmd|' /C calc'!A0",
                "+1+1",
                "@SUM(A1)",
                "\tx",
                "\x1b]52;c;aA==\x07",
                "-5",
            ],
        }
    )
    (path,) = export_observations(
        conform(frame).collect(), tmp_path, campaign="c", formats=("csv",)
    )
    cells = read_export(path).get_column("referrer").to_list()
    assert cells == [
        "'=cmd|' /C calc'!A0",
        "'+1+1",
        "'@SUM(A1)",
        "'\\tx",
        "\\x1b]52;c;aA==\\x07",
        "-5",
    ]
    assert "\x1b" not in path.read_text()


def test_repeated_exports_never_overwrite(tmp_path: Path) -> None:
    frame = Drilldown(store()).observations(FilterStack())
    first = export_observations(frame, tmp_path, campaign="c", when=WHEN)
    second = export_observations(frame.head(1), tmp_path, campaign="c", when=WHEN)
    assert first[0].name == "c-20260101T143005Z.csv"
    assert second[0].name == "c-20260101T143005Z-2.csv"
    assert read_export(first[0]).height == 4
    assert not list(tmp_path.glob(".*partial"))


def test_unwritable_directory_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    frame = Drilldown(store()).observations(FilterStack())
    with pytest.raises(ExportError, match=r"cannot write exports to .*file/sub"):
        export_observations(frame, blocker / "sub", campaign="c")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_directory_is_one_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="Permission denied"):
            export_observations(
                Drilldown(store()).observations(FilterStack()), locked, campaign="c"
            )
    finally:
        locked.chmod(0o700)


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format 'xlsx'"):
        export_observations(pl.DataFrame(), tmp_path, campaign="c", formats=("xlsx",))


def test_an_export_reads_back_with_its_audience_and_the_event_at_the_clock(
    tmp_path: Path,
) -> None:
    from engmon.sources.files import FileSpec, load_observations

    clock = POST + timedelta(seconds=190)  # exactly the third click
    rows = Drilldown(store()).observations(FilterStack(), until=clock, followers=2100)
    assert rows.filter(pl.col("metric") == "clicks").height == 3  # the click at the clock too
    (path,) = export_observations(rows, tmp_path, campaign="launch", when=WHEN)
    loaded = load_observations(FileSpec(path=path))
    assert loaded.campaign.followers == 2100
    assert loaded.campaign.post_time == POST
    assert loaded.frame.filter(pl.col("metric") == "clicks").height == 3
