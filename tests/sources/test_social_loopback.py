"""Mastodon, Bluesky and X sources through a real HTTP server on 127.0.0.1 (port 0)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from social_server import SocialServer

from engmon.core.campaign import Campaign
from engmon.core.store import ObservationStore
from engmon.sources.options import SourceOptions
from engmon.sources.registry import load_kind
from engmon.watch.poller import SourcePoller

T0 = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SocialServer]:
    monkeypatch.setenv("ENGMON_TEST_X_TOKEN", "loopback-token")
    with SocialServer() as running:
        yield running


def pollers(server: SocialServer) -> list[SourcePoller]:
    tables = tomllib.loads(server.sources_toml())["sources"]
    built = []
    for index, table in enumerate(tables):
        module = load_kind(table["kind"])
        options = SourceOptions(table, f"campaign.toml: sources[{index}] ({table['kind']})")
        built.append(SourcePoller(module.build(options, Campaign("launch", post_time=T0))))
    return built


@pytest.mark.parametrize("platform", ["mastodon", "bluesky", "x"])
async def test_post_gains_reposts_loses_a_like_and_gets_it_back(
    server: SocialServer, platform: str
) -> None:
    poller = next(p for p in pollers(server) if p.source.kind == platform)
    store = ObservationStore(T0)
    async with httpx.AsyncClient() as client:
        for step in range(len(server.script)):
            server.step = step
            result = await poller.poll_once(client, T0 + timedelta(minutes=step))
            assert result is not None, poller.status.last_error
            store.merge(result.frame)
    deltas = store.deltas()
    sums = dict(deltas.group_by("metric").agg(pl.col("value").sum()).iter_rows())
    assert sums["likes"] == 1.0  # 3 (level), 4, 3 (unlike), 4 (back): one like, once
    assert sums["reposts"] == 3.0
    assert sums["replies"] == 1.0
    assert (deltas["value"] > 0).all()
    assert poller.status.state == "ok"
    assert poller.status.facts["followers"] == 10_000
    if platform != "x":  # X's retweeted_by is off by default (tight limits)
        resharers = deltas.filter(pl.col("metric") == "resharers")
        assert sorted(resharers["reach"].to_list()) == [80, 120, 4500]
        assert poller.status.facts["reach"] == 4700


@pytest.mark.parametrize("platform", ["mastodon", "bluesky", "x"])
async def test_deleted_post_is_a_visible_status_never_a_crash(
    server: SocialServer, platform: str
) -> None:
    server.missing = True
    poller = next(p for p in pollers(server) if p.source.kind == platform)
    async with httpx.AsyncClient() as client:
        assert await poller.poll_once(client, T0) is None
    assert poller.status.state == "failed"
    message = poller.status.last_error or ""
    assert message.startswith(f"{platform}: ") and "\n" not in message
    assert "not found" in message


def test_config_example_social_tables_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commented examples in config.example.toml are valid when uncommented."""
    monkeypatch.setenv("MASTODON_TOKEN", "m")
    monkeypatch.setenv("X_BEARER_TOKEN", "b")
    monkeypatch.setenv("X_USER_TOKEN", "u")
    example = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    start = example.index("# Social posts")
    lines = example[start:].splitlines()[2:]
    block = []
    for line in lines:
        if not line.startswith("#") or line.startswith("# ---"):
            break
        block.append(line[2:])
    tables = tomllib.loads("\n".join(block))["sources"]
    assert [t["kind"] for t in tables] == ["mastodon", "bluesky", "x"]
    for index, table in enumerate(tables):
        options = SourceOptions(table, f"config.example.toml: sources[{index}]")
        source = load_kind(table["kind"]).build(options, Campaign("c"))
        assert source.kind == table["kind"]
        assert set(table) - {"kind"} <= set(load_kind(table["kind"]).keys()) | {"interval"}


async def test_a_restarted_watch_does_not_write_recorded_resharers_again(
    server: SocialServer, tmp_path: Path
) -> None:
    from engmon.config import load_campaign
    from engmon.core.recording import read_recording
    from engmon.watch.session import Session

    campaign = tmp_path / "campaign.toml"
    tables = server.sources_toml().replace(
        'token_env = "ENGMON_TEST_X_TOKEN"',
        "resharers = true\n" + 'token_env = "ENGMON_TEST_X_TOKEN"',
    )
    campaign.write_text(f'[campaign]\nname = "launch"\nposted_at = "{T0.isoformat()}"\n{tables}')
    record = tmp_path / "launch.ndjson"
    server.step = len(server.script) - 1  # all three reposters are there
    async with httpx.AsyncClient() as client:
        for run in range(2):  # the watch, then the same watch restarted on its recording
            watch = Session.open(load_campaign(campaign), record)
            for poller in watch.pollers.values():
                result = await poller.poll_once(client, T0 + timedelta(minutes=5 + run))
                assert result is not None, poller.status.last_error
                watch.accept(result)
                assert poller.status.facts["reach"] == 4700  # the restart keeps the reach
            watch.close()
    rows = read_recording(record).frame.filter(pl.col("metric") == "resharers")
    per_source = dict(rows.group_by("source").len().iter_rows())
    assert per_source == {"mastodon": 3, "bluesky": 3, "x": 3}
