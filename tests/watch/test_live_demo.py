"""`engmon demo --live`: a generated access log followed by the real watch, offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import engmon.tui.app
from engmon.cli import main
from engmon.config import load_campaign
from engmon.sources.accesslog.reader import read_access_log
from engmon.sources.accesslog.tail import AccessLogSource
from engmon.watch import livedemo
from engmon.watch.session import Session

NOW = datetime(2026, 3, 10, 14, 5, tzinfo=UTC)


def test_the_rate_rises_to_its_peak_then_fades() -> None:
    assert livedemo.clicks_per_minute(0) == 0
    assert livedemo.clicks_per_minute(2) < livedemo.clicks_per_minute(8)
    assert livedemo.clicks_per_minute(8) == livedemo.PEAK_PER_MIN
    assert livedemo.clicks_per_minute(30) < livedemo.clicks_per_minute(9)


def test_the_log_counts_what_the_writer_meant_as_clicks(tmp_path: Path) -> None:
    campaign_file, log = livedemo.prepare(tmp_path, NOW)
    with log.path.open("a", encoding="utf-8") as out:
        log.write_span(out, log.post_time, NOW)
    assert log.written > log.clicks > 50  # the noise is there, and left out below
    config = load_campaign(campaign_file)
    read = read_access_log(log.path, link=config.campaign.link)
    clicks = read.frame.filter(read.frame["metric"] == "clicks")
    assert clicks.height == log.clicks
    times = clicks["ts"].to_list()
    assert log.post_time <= min(times) and max(times) < NOW


def test_the_campaign_file_is_an_ordinary_campaign(tmp_path: Path) -> None:
    campaign_file, log = livedemo.prepare(tmp_path, NOW)
    config = load_campaign(campaign_file)
    assert config.campaign.post_time == NOW - livedemo.POSTED_AGO
    assert config.campaign.followers == livedemo.FOLLOWERS
    (source,) = config.sources
    assert isinstance(source, AccessLogSource)
    assert source.path == log.path  # relative to the campaign file, not the current folder
    assert config.alerts.spike_per_min == livedemo.SPIKE_PER_MIN


def test_demo_live_plain_polls_the_growing_log_and_alerts(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--live", "--plain", "--duration", "2.5", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    polls = [line for line in lines if " access-log " in line]
    assert len(polls) >= 2  # the first poll reads the backlog, later ones the new lines
    assert "hits" in polls[0]
    assert any(" ALERT spike: " in line for line in lines)
    assert (tmp_path / "recording.ndjson").stat().st_size > 0
    assert "kept" in result.stderr


def test_demo_live_opens_the_dashboard_on_a_live_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_run_dashboard(session: Session, **kw: Any) -> None:
        seen.update(session=session, **kw)

    monkeypatch.setattr(engmon.tui.app, "run_dashboard", fake_run_dashboard)
    result = CliRunner().invoke(main, ["demo", "--live", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    session = seen["session"]
    assert session.clock.live
    assert [s.kind for s in session.sources] == ["access-log"]
    assert session.outlook.history_dir is None  # the demo's post is not the user's
    assert session.recorder is not None
    assert session.campaign.post_time > datetime.now(UTC) - timedelta(minutes=10)


def test_live_options_need_live() -> None:
    result = CliRunner().invoke(main, ["demo", "--plain"])
    assert result.exit_code == 2
    assert "go with --live" in result.output


def test_the_offline_example_passes_check() -> None:
    example = Path(__file__).parents[2] / "examples" / "offline.toml"
    result = CliRunner().invoke(main, ["check", str(example)])
    assert result.exit_code == 0, result.output
    assert "hits" in result.output and "malformed lines 0" in result.output
