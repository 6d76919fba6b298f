"""Generated scenarios: deterministic, shaped like their story, saved files read back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engmon.core.forecast import seismic_forecast
from engmon.core.schema import OBSERVATION_SCHEMA
from engmon.errors import ConfigError
from engmon.sources import scenarios
from engmon.sources.files import FileSpec, load_observations

ALL = ("clicks", "likes", "reposts", "quotes", "replies")


@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_seeded_and_complete(name: str) -> None:
    built = scenarios.build(name, seed=7)
    assert_frame_equal(built.frame, scenarios.build(name, seed=7).frame)
    assert not built.frame.equals(scenarios.build(name, seed=8).frame)
    frame = built.frame
    assert frame.schema == OBSERVATION_SCHEMA
    assert set(frame.get_column("metric")) == set(ALL)
    assert frame.get_column("ts").is_sorted()
    assert frame.select(pl.struct("source", "id").is_unique().all()).item()
    reshares = frame.filter(pl.col("metric").is_in(["reposts", "quotes"]))
    assert reshares.get_column("reach").null_count() == 0
    clicks = frame.filter(pl.col("metric") == "clicks")
    assert clicks.get_column("country").cast(pl.String).str.contains(r"^[A-Z]{2}$").all()
    assert set(clicks.get_column("device")) <= {"desktop", "mobile", "tablet"}
    referrers = clicks.get_column("referrer").drop_nulls()
    assert referrers.cast(pl.String).str.contains(r"^(https://|android-app://)").all()
    post = built.campaign.post_time
    assert post is not None and frame.get_column("ts").min() >= post  # type: ignore[operator]


def first_hour(name: str, metric: str) -> int:
    built = scenarios.build(name)
    post = built.campaign.post_time
    assert post is not None
    hour = built.frame.filter(
        (pl.col("metric") == metric) & (pl.col("ts") < post + timedelta(hours=1))
    )
    return hour.height


def test_big_account_is_no_magic_and_small_account_engages() -> None:
    big = scenarios.build("big-account")
    small = scenarios.build("small-account")
    assert big.campaign.followers == 1_200_000 and small.campaign.followers == 2_000
    assert 1 <= first_hour("big-account", "clicks") <= 10
    assert 1 <= first_hour("big-account", "likes") <= 10
    assert first_hour("small-account", "clicks") >= 30
    assert first_hour("small-account", "replies") >= 5
    big_rate = big.frame.filter(pl.col("metric") == "clicks").height / 1_200_000
    small_rate = small.frame.filter(pl.col("metric") == "clicks").height / 2_000
    assert small_rate > 100 * big_rate


def test_taking_off_accelerates() -> None:
    built = scenarios.build("taking-off")
    post = built.campaign.post_time
    assert post is not None
    reshares = built.frame.filter(pl.col("metric").is_in(["reposts", "quotes"]))
    since = (pl.col("ts") - post).dt.total_seconds()
    per_10m = reshares.group_by((since // 600).alias("w")).len()
    counts = dict(per_10m.iter_rows())
    busiest = max(counts, key=counts.__getitem__)
    assert busiest >= 3 and counts[busiest] > 4 * counts[0]  # it grows for an hour and more
    # ... and the forecast sees it: supercritical from the first quarter hour
    seconds = reshares.select(since.alias("s"), "reach")
    times = seconds.get_column("s").to_numpy().astype(float)
    reach = seconds.get_column("reach").to_numpy().astype(float)
    assert seismic_forecast(times, reach, 15_000.0, 15 * 60.0).state == "taking-off"


def test_unknown_scenario_lists_the_names() -> None:
    with pytest.raises(ConfigError, match="big-account, small-account"):
        scenarios.build("viral")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".ndjson"])
def test_saved_scenario_reads_back(tmp_path: Path, suffix: str) -> None:
    built = scenarios.build("small-account")
    path = tmp_path / f"small{suffix}"
    scenarios.save(built, path)
    loaded = load_observations(FileSpec.from_cli(path))
    assert loaded.campaign.followers == 2_000
    assert loaded.campaign.post_time == built.campaign.post_time
    events = loaded.frame.filter(pl.col("kind") == "event")
    assert_frame_equal(events, built.frame)


def test_save_rejects_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.xlsx"):
        scenarios.save(scenarios.build("big-account"), tmp_path / "a.xlsx")
