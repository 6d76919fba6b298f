"""Metrics on the real TiDeH retweet cascades against figures computed with the csv module."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from engmon.core import metrics
from engmon.core.store import observations_to_deltas
from engmon.sources.files import FileSpec, load_observations
from engmon.watch.report import run_report

DATA = Path(__file__).parent.parent / "data" / "cascades"
CASES = [
    ("tideh_RT1_seconds.txt", None),
    ("tideh_RT2_seconds.txt", None),
    ("tideh_sample_hours.txt", "h"),
]


@dataclass
class Cascade:
    poster_followers: int
    reshares: list[tuple[int, int]]  # (microseconds since post, followers)


def read_with_csv(name: str, unit: str | None) -> Cascade:
    """Line 1 is `<count> <start>`; line 2 (time 0) the original post; then one reshare a line."""
    scale = 3600 if unit == "h" else 1
    with (DATA / name).open(newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter=" ") if row]
    events = [(float(row[0]), int(float(row[1]))) for row in rows[1:]]
    assert events[0][0] == 0
    return Cascade(
        poster_followers=events[0][1],
        reshares=[(round(t * scale * 1_000_000), f) for t, f in events[1:]],
    )


@pytest.mark.parametrize(("name", "unit"), CASES)
def test_cumulative_busiest_minute_and_reach(name: str, unit: str | None) -> None:
    truth = read_with_csv(name, unit)
    loaded = load_observations(FileSpec.from_cli(DATA / name, time_unit=unit))
    assert loaded.campaign.followers == truth.poster_followers
    assert loaded.frame.height == len(truth.reshares)
    post = loaded.campaign.post_time
    assert post is not None
    minutes = metrics.minute_counts(observations_to_deltas(loaded.frame.lazy()), post).collect()

    for minute in (10, 60, 360, 1440):
        expected = sum(1 for us, _ in truth.reshares if us < minute * 60_000_000)
        got = metrics.until(minutes.lazy(), minute).collect().get_column("value").sum()
        assert got == expected, (name, minute)

    per_minute = Counter(us // 60_000_000 for us, _ in truth.reshares)
    busiest_count = max(per_minute.values())
    busiest_minute = min(m for m, c in per_minute.items() if c == busiest_count)
    reach_1h = sum(f for us, f in truth.reshares if us < 3_600_000_000)
    last_minute = max(per_minute) + 1
    summary = metrics.summary(minutes.lazy(), now_minute=last_minute, post_time=post).collect()
    row = summary.row(0, named=True)
    assert (row["peak"], row["peak_minute"]) == (busiest_count, busiest_minute)
    hour = metrics.summary(minutes.lazy(), now_minute=60).collect().row(0, named=True)
    assert hour["reach"] == reach_1h
    assert hour["count"] == sum(1 for us, _ in truth.reshares if us < 3_600_000_000)


def test_report_at_offsets_matches_csv() -> None:
    truth = read_with_csv("tideh_RT1_seconds.txt", None)
    spec = FileSpec.from_cli(DATA / "tideh_RT1_seconds.txt")
    for at, seconds in (("90s", 90), ("15m", 900), ("1h", 3600), ("86400", 86400)):
        report = json.loads(
            run_report(spec, output_format="json", bucket="1m", at=at, forecast=False)
        )
        limit = seconds * 1_000_000
        reposts = report["metrics"]["reposts"]
        assert reposts["count"] == sum(1 for us, _ in truth.reshares if us <= limit), at
        assert reposts["reach"] == sum(f for us, f in truth.reshares if us <= limit), at
        assert report["at_s"] == seconds
        assert report["buckets"]["reposts"][-1]["cumulative"] == reposts["count"]
    first = min(us for us, _ in truth.reshares) / 1_000_000
    assert reposts["first_s"] == pytest.approx(first)
    assert report["followers"] == truth.poster_followers
    assert report["per_1k_followers"] == pytest.approx(reposts["count"] * 1000 / 90)


def test_hours_preset_differs_from_seconds() -> None:
    as_hours = load_observations(FileSpec.from_cli(DATA / "tideh_sample_hours.txt", time_unit="h"))
    as_seconds = load_observations(
        FileSpec.from_cli(DATA / "tideh_sample_hours.txt", time_unit="s")
    )

    def span_s(frame: pl.DataFrame) -> float:
        return float(frame.select(pl.col("ts").max() - pl.col("ts").min()).item().total_seconds())

    assert span_s(as_hours.frame) == pytest.approx(span_s(as_seconds.frame) * 3600, rel=1e-6)
    assert as_hours.frame.filter(pl.col("metric") != "reposts").is_empty()


def test_an_hours_file_is_read_as_hours_and_says_so() -> None:
    sniffed = load_observations(FileSpec.from_cli(DATA / "tideh_sample_hours.txt"))
    told = load_observations(FileSpec.from_cli(DATA / "tideh_sample_hours.txt", time_unit="h"))
    assert sniffed.frame.get_column("ts").to_list() == told.frame.get_column("ts").to_list()
    assert any("times read as hours" in note for note in sniffed.notes)
    assert not any("hours" in note for note in told.notes)
    seconds = load_observations(FileSpec.from_cli(DATA / "tideh_RT2_seconds.txt"))
    span = seconds.frame.select(pl.col("ts").max() - pl.col("ts").min()).item()
    assert span.total_seconds() > 86_400  # whole seconds stay seconds: a week-long cascade
    assert not any("hours" in note for note in seconds.notes)
