"""One store, one clock: the dashboard, `report --format json`, the plain watch's line and the
breakdown tables show the same velocity, engagement and peak (engmon.core.standing) and the
same verdict (engmon.core.judge)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engmon.cli import main
from engmon.core.breakdown import FilterStack
from engmon.core.drill import Drilldown
from engmon.core.outlook import OutlookTracker
from engmon.core.store import ObservationStore
from engmon.core.verdict import compact_count, peak_text, rate_text
from engmon.sources import scenarios
from engmon.tui.viewmodel import compute_view
from engmon.tui.widgets.kpis import kpi_items
from engmon.watch.plain import standing_text, watch_verdict


@pytest.fixture(scope="module")
def taking_off(tmp_path_factory: pytest.TempPathFactory) -> tuple[scenarios.Scenario, Path]:
    scenario = scenarios.build("taking-off")
    path = tmp_path_factory.mktemp("one") / "taking-off.parquet"
    scenarios.save(scenario, path)
    return scenario, path


# +1h54m is where the three surfaces used to say 43, 38.00 and 43.25; also a partial minute
@pytest.mark.parametrize("at", ["1h54m", "1h54m30s", "7m", "20m10s"])
def test_every_surface_shows_the_same_numbers(
    taking_off: tuple[scenarios.Scenario, Path],
    at: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(tmp_path / "history"))  # no past posts
    scenario, path = taking_off
    campaign = scenario.campaign
    assert campaign.post_time is not None
    offset = {
        "1h54m": timedelta(hours=1, minutes=54),
        "1h54m30s": timedelta(hours=1, minutes=54, seconds=30),
        "7m": timedelta(minutes=7),
        "20m10s": timedelta(minutes=20, seconds=10),
    }[at]
    now = campaign.post_time + offset
    # what a live watch (or a replay) holds at that clock: every row up to it
    store = ObservationStore(campaign.post_time)
    store.merge(scenario.frame.filter(pl.col("ts") <= now))

    # the dashboard: its outlook tracker, then the view model (as EngmonApp does)
    tracker = OutlookTracker(tmp_path / "history")
    outlook = tracker.update(store, campaign, now, "clicks")
    assert outlook is not None
    view = compute_view(
        store, campaign, now, outlook=outlook, history=tracker.history(outlook.metric)
    )
    result = CliRunner().invoke(main, ["report", str(path), "--format", "json", "--at", at])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    judged = watch_verdict(store, campaign, now, OutlookTracker(tmp_path / "history"))
    assert judged is not None
    line = standing_text(*judged)

    head = view.headline
    assert head == "clicks"
    row = report["metrics"][head]
    # the same figures, not just close ones
    assert row["velocity_per_min"] == view.standing.velocity
    assert report["engagement"] == view.standing.engagement
    assert row["peak"]["value"] == view.standing.peak
    assert row["peak"]["at_s"] == (view.standing.peak_minute or 0) * 60
    assert report["per_1k_followers"] == view.standing.per_1k
    # the same judgment: words, comparison and forecast sentence
    assert report["trend"] == view.verdict.trend
    assert report["verdict"] == view.verdict.text
    assert report["shape"] == view.verdict.shape
    assert report["position"] == view.verdict.position
    assert line.endswith(f" | {view.verdict.trend}")

    # and the same words on screen and in the plain watch's line
    rates = dict(kpi_items(view)[1])
    now_text = f"{rate_text(row['velocity_per_min'])}/min"
    assert rates[f"{head} now"] == now_text
    assert f"{head} now {now_text}" in line
    assert f"engaged {compact_count(report['engagement'])}" in line
    peak_minute = row["peak"]["at_s"] // 60
    assert rates["peak"] == peak_text(row["peak"]["value"], peak_minute)
    assert f"peak {rates['peak']}" in line
    counts = dict(re.findall(r"(\w+) ([\d.]+k?)(?:,| \|)", line.split(" | ")[0] + " |"))
    assert counts[head] == compact_count(row["count"])

    # the tables' /min: each referrer platform's rate over the same window; they add up
    tables = Drilldown(store).tables(
        FilterStack(),
        now_minute=view.now_minute,
        metric_names=[head],
        followers=view.followers,
        velocity_span=view.standing.velocity_span,
    )
    platforms = tables.tables["platform"]
    assert platforms.get_column("velocity").sum() == pytest.approx(view.standing.velocity)
    assert platforms.get_column("count").sum() == pytest.approx(view.standing.clicks)
