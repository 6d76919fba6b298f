"""`engmon replay` and `engmon demo` hand the dashboard a replay of the right data and clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

import engmon.tui.app
from engmon.cli import main
from engmon.core.clock import ReplayClock
from engmon.sources.playback import ReplaySource
from engmon.tui.app import Opening

CASCADE = Path(__file__).parent.parent / "data" / "cascades" / "tideh_RT2_seconds.txt"


@pytest.fixture
def dashboard(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Capture what would open in the terminal instead of opening it."""
    seen: dict[str, Any] = {}

    def fake_run_dashboard(session: Any, **kw: Any) -> None:
        if isinstance(session, Opening):  # `engmon demo`: its first frame, then the session
            seen["opening"] = session
            session = session.build()
        seen.update(
            campaign=session.campaign,
            sources=session.sources,
            clock=session.clock,
            store=session.store,
            history_dir=session.outlook.history_dir,
            **kw,
        )

    monkeypatch.setattr(engmon.tui.app, "run_dashboard", fake_run_dashboard)
    return seen


def test_replay_a_cascade_file(dashboard: dict[str, Any]) -> None:
    result = CliRunner().invoke(
        main,
        [
            "replay",
            str(CASCADE),
            "--read-as",
            "cascade",
            "--followers",
            "5000",
            "--start",
            "15m",
            "--speed",
            "300",
            "--paused",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = int(CASCADE.read_text().split()[0])  # the header line counts the reshares
    assert f"loaded {rows:,} observations" in result.stderr
    (source,) = dashboard["sources"]
    assert isinstance(source, ReplaySource) and source.total == rows
    clock = dashboard["clock"]
    assert isinstance(clock, ReplayClock) and clock.paused and clock.speed == 300
    campaign = dashboard["campaign"]
    assert campaign.followers == 5000
    assert clock.now() == campaign.post_time + timedelta(minutes=15)  # paused: exact
    assert clock.end == source.frame.get_column("ts").max()


def test_demo_replays_the_small_account_by_default(dashboard: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["demo", "--speed", "120"])
    assert result.exit_code == 0, result.output
    campaign = dashboard["campaign"]
    assert campaign.name == "small-account" and campaign.followers is not None
    (source,) = dashboard["sources"]
    metrics = set(source.frame.get_column("metric").unique().to_list())
    assert {"clicks", "replies", "reposts", "quotes", "likes"} <= metrics
    assert dashboard["clock"].speed == 120
    assert not dashboard["clock"].paused
    assert abs((dashboard["clock"].now() - campaign.post_time).total_seconds()) < 3600
    assert source.frame.filter(pl.col("ts") < campaign.post_time).is_empty()
    # the first frame's header says what the dashboard's first frame says: the same campaign,
    # the replay's speed, at the post
    opening = dashboard["opening"]
    assert opening.campaign == campaign
    assert opening.clock.now == campaign.post_time and opening.clock.speed == 120
    assert not opening.clock.live and not opening.clock.paused


def test_demo_of_an_unknown_scenario_is_one_line_before_the_screen(
    dashboard: dict[str, Any],
) -> None:
    result = CliRunner().invoke(main, ["demo", "no-such-post"])
    assert result.exit_code == 2
    assert result.stderr.startswith("engmon: unknown scenario 'no-such-post'")
    assert dashboard == {}


def test_replay_of_a_missing_file_is_one_line_and_exit_2(dashboard: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["replay", "/nonexistent/post.csv"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["engmon: /nonexistent/post.csv: no such file"]
    assert dashboard == {}
