"""One store, one clock: the dashboard, `report --format json`, the plain watch's line and the
breakdown tables show the same velocity, engagement and peak (engmon.core.standing) and the
same verdict (engmon.core.judge)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engmon.cli import main
from engmon.core.breakdown import FilterStack
from engmon.core.campaign import Campaign
from engmon.core.drill import Drilldown
from engmon.core.outlook import OutlookTracker
from engmon.core.store import ObservationStore
from engmon.core.verdict import peak_text, rate_text
from engmon.core.words import compact_count
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


def test_an_event_stamped_at_a_whole_minute_clock_counts_on_every_surface(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One definition of "up to the clock": at +10m00s, a click stamped exactly +10m00s
    counts in the dashboard's view, `report --at 10m` (text and JSON), the plain watch's
    line and the export that reads back; clicks after the clock do not."""
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(tmp_path / "history"))
    post = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    stamps = [post + timedelta(seconds=s) for s in range(0, 600, 6)]  # 100 before the clock
    stamps += [post + timedelta(minutes=10)]  # the 101st, exactly at the clock
    stamps += [post + timedelta(minutes=10, seconds=1), post + timedelta(minutes=12)]
    frame = pl.DataFrame({"ts": stamps, "metric": "clicks", "value": 1.0})
    path = tmp_path / "whole.csv"
    frame.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
    campaign = Campaign("whole", post_time=post, followers=1000)
    now = post + timedelta(minutes=10)

    store = ObservationStore(post)
    store.merge(
        frame.with_columns(source=pl.lit("file"), kind=pl.lit("event")).filter(pl.col("ts") <= now)
    )
    view = compute_view(store, campaign, now)
    assert view.kpis.clicks == 101
    assert sum(view.curve.values) == 101  # the curve holds what the KPIs count

    args = ["report", str(path), "--at", "10m", "--post-time", "2026-03-10T14:00:00Z"]
    text = CliRunner().invoke(main, [*args, "--followers", "1000"])
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[1].startswith("101 clicks")
    as_json = CliRunner().invoke(main, [*args, "--followers", "1000", "--format", "json"])
    report = json.loads(as_json.stdout)
    assert report["metrics"]["clicks"]["count"] == 101
    assert report["engagement"] == view.standing.engagement
    assert report["metrics"]["clicks"]["velocity_per_min"] == view.standing.velocity

    judged = watch_verdict(store, campaign, now, OutlookTracker(tmp_path / "history"))
    assert judged is not None
    line = standing_text(*judged)
    assert line.startswith("clicks 101 |")
    assert f"clicks now {rate_text(view.standing.velocity)}/min" in line

    # what the dashboard exports at that clock reads back with the same count
    exported = Drilldown(store).observations(FilterStack(), until=now, followers=1000)
    back = tmp_path / "export.csv"
    exported.write_csv(back)
    again = CliRunner().invoke(main, ["report", str(back), "--format", "json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["metrics"]["clicks"]["count"] == 101
