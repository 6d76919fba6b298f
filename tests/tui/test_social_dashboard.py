"""End to end: the dashboard watching one post on Mastodon, Bluesky and X over loopback HTTP.

A real HTTP server on 127.0.0.1 (port 0) plays the post gaining reposts, losing a like and
getting it back; the app polls it through its own workers and shared client. The panel must
count the like once, the reposts and the reach of who reshared, and a deleted post must be a
visible source status, never a crash.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from textual.pilot import Pilot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
from social_server import SocialServer

from engmon.core.campaign import Campaign
from engmon.core.clock import WallClock
from engmon.sources.base import Source
from engmon.sources.options import SourceOptions
from engmon.sources.registry import load_kind
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session

POST_TIME = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SocialServer]:
    monkeypatch.setenv("ENGMON_TEST_X_TOKEN", "loopback-token")
    with SocialServer() as running:
        yield running


def social_sources(server: SocialServer, campaign: Campaign) -> list[Source]:
    tables = tomllib.loads(server.sources_toml())["sources"]
    built: list[Source] = []
    for index, table in enumerate(tables):
        options = SourceOptions(table, f"campaign.toml: sources[{index}] ({table['kind']})")
        built.append(load_kind(table["kind"]).build(options, campaign))
    return built


def screen_text(app: EngmonApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], tries: int = 400) -> None:
    for _ in range(tries):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("the dashboard did not get there")


def polls(app: EngmonApp) -> int:
    """Polls every source has completed (the slowest one)."""
    return min(p.status.polls for p in app.pollers.values())


async def test_post_gains_reposts_loses_a_like_and_gets_it_back(server: SocialServer) -> None:
    campaign = Campaign("launch", link="https://example.com/launch", post_time=POST_TIME)
    clock = WallClock(now=lambda: POST_TIME.replace(minute=12, second=30))
    app = EngmonApp(Session(campaign, social_sources(server, campaign), clock))
    async with app.run_test(size=(120, 40)) as pilot:
        for step in range(len(server.script)):
            server.step = step
            seen = polls(app)
            # two more polls each: at least one of them started after the step changed
            await wait_for(pilot, lambda seen=seen: polls(app) >= seen + 2)  # type: ignore[misc]
        await wait_for(pilot, lambda: app.store.revision > 0)
        app.refresh_dashboard()
        await pilot.pause()
        deltas = app.store.deltas()
        sums = dict(deltas.group_by("metric").agg(pl.col("value").sum()).iter_rows())
        # three platforms, each: likes 3 (level) 4 3 4 -> one like; reposts 0..3; one reply
        assert sums["likes"] == 3.0
        assert sums["reposts"] == 9.0
        assert sums["replies"] == 3.0
        per_post = deltas.filter(pl.col("metric") == "reposts").group_by("source").len()
        assert sorted(per_post["source"].to_list()) == ["bluesky", "mastodon", "x"]
        reach = deltas.filter(pl.col("metric") == "resharers")["reach"].sum()
        assert reach == 2 * (120 + 4500 + 80)  # Mastodon and Bluesky resharers
        assert all(status.state == "ok" for status in app.statuses.values())
        assert app.view is not None
        assert app.view.kpis.reach == reach
        assert app.view.kpis.likes == 3 * 4  # levels included: 4 likes on each platform
        text = " ".join(screen_text(app).split())
        for name in ("mastodon", "bluesky", "x"):
            assert f"● {name}" in text
        # the panel: 3 replies, 9 reposts, 12 likes (levels included), reach 9.4k
        assert "replies 3 reposts+quotes 9 likes 12" in text
        assert "reach 9.4k" in text
        assert app.is_running


async def test_deleted_post_shows_as_status_not_a_crash(server: SocialServer) -> None:
    server.missing = True
    campaign = Campaign("launch", post_time=POST_TIME)
    clock = WallClock(now=lambda: POST_TIME.replace(minute=5))
    app = EngmonApp(Session(campaign, social_sources(server, campaign), clock))
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(
            pilot, lambda: all(s.state == "failed" for s in app.statuses.values()) is True
        )
        app.refresh_dashboard()
        await pilot.pause()
        text = " ".join(screen_text(app).split())  # the sources line may wrap
        assert "◐ mastodon failed, retry in" in text and "(404)" in text
        assert "(bluesky: post not found" in text
        assert "(x: post not found" in text
        assert app.is_running
