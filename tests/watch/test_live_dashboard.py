"""The dashboard on live sources, end to end through a real loopback server, driven by Pilot.

One test per source family (Plausible, Umami, Bitly, http-json) and a fault-injection run
where the server answers, in turn, 5xx, a timeout, invalid JSON, a changed shape, 401, 403,
429 with Retry-After and X-RateLimit-*, and then stops listening (connection refused), while
the dashboard keeps running, shows each fault as the source's status, and the recording ends
up with every good poll. The screen never shows the token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from textual.pilot import Pilot
from vendor_server import TOKEN, VendorServer, campaign_toml, source_tables

from engmon.config import load_campaign
from engmon.core.recording import read_recording
from engmon.core.store import MergeResult
from engmon.sources.base import PollResult
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session

SIZE = (140, 44)


@pytest.fixture
def server() -> Iterator[VendorServer]:
    vendor = VendorServer(timeout_sleep=1.0).start()
    yield vendor
    vendor.stop()


def screen_text(app: EngmonApp) -> str:
    """Everything the dashboard shows, as plain lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def settle(pilot: Pilot[Any], condition: Callable[[], bool], seconds: float = 20) -> None:
    """Let the app run until `condition` holds (fails after `seconds`)."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"dashboard did not get there:\n{screen_text(pilot.app)}")  # type: ignore[arg-type]


async def redraw(pilot: Pilot[Any]) -> str:
    """Refresh the view now and return the screen text."""
    app = pilot.app
    assert isinstance(app, EngmonApp)
    app.refresh_dashboard()
    await pilot.pause()
    return screen_text(app)


def total(watch: Session, metric: str = "clicks") -> float:
    minutes = watch.store.minutes().filter(pl.col("metric") == metric)
    return float(minutes.get_column("value").sum())


def live_app(watch: Session) -> EngmonApp:
    return EngmonApp(watch)


@pytest.mark.parametrize("family", ["plausible", "umami", "bitly", "http-json"])
async def test_dashboard_follows_each_source_family_live(
    family: str, server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    now = datetime.now(UTC)
    server.add(now, 40)
    config = load_campaign(campaign_toml(tmp_path, source_tables(server.base)[family]))
    record = tmp_path / "live.ndjson"
    watch = Session.open(config, record)
    app = live_app(watch)
    name = config.sources[0].name
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: total(watch) == 40)
        text = await redraw(pilot)
        assert "LIVE" in text and f"● {name}" in text
        assert "40" in text  # the clicks so far
        server.add(datetime.now(UTC), 2)  # more clicks in a minute already shown: replaced
        await settle(pilot, lambda: total(watch) == 42)
        text = await redraw(pilot)
        assert "42" in text
        assert TOKEN not in text
    watch.close()
    again = Session.open(load_campaign(config.path), record)
    assert total(again) == 42  # every good poll was recorded, and replays to the same curve
    again.close()
    assert TOKEN not in record.read_text()


async def test_dashboard_survives_every_fault_in_turn(
    server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 5)
    tables = source_tables(server.base)
    path = campaign_toml(
        tmp_path,
        # the server's own "timeout" fault sleeps 1 s: a longer timeout than 0.4 s keeps a slow
        # answer on a loaded machine from reading as a fault of its own
        tables["http-json"].replace("interval = 0.05", "interval = 0.5\ntimeout = 0.8")
        + tables["bitly"].replace("interval = 0.05", "interval = 0.2"),
    )
    config = load_campaign(path)
    record = tmp_path / "faults.ndjson"
    watch = Session.open(config, record)
    app = live_app(watch)
    for poller in app.pollers.values():
        poller.max_backoff = 1.0  # keep the run short; backoff itself is tested elsewhere
        poller.auth_retry = 1.0
    recorded: list[int] = []
    original_accept = watch.accept

    def counting_accept(result: PollResult) -> tuple[MergeResult, str | None]:
        recorded.append(result.frame.height)
        return original_accept(result)

    watch.accept = counting_accept  # type: ignore[method-assign]
    server.fault_prefix = "/feed"
    feed = app.pollers["feed"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: feed.status.polls >= 1)

        def recovered(polls_before: int) -> bool:
            return feed.status.polls > polls_before and feed.status.state == "ok"

        async def expect_fault(start: Callable[[], None], words: str, reason: str) -> None:
            errors = feed.status.errors
            start()
            await settle(pilot, lambda: feed.status.errors > errors, seconds=5)
            assert words in (feed.status.last_error or ""), feed.status.last_error
            assert TOKEN not in (feed.status.last_error or "")
            text = await redraw(pilot)
            assert "◐ feed " in text and "retry in" in text and f"({reason}" in text, text
            assert app.is_running

        for fault, words, reason in (
            ("500", "HTTP 500", "500"),
            ("timeout", "no answer within", "feed: no answer"),
            ("badjson", "not JSON", "feed: response from"),
            ("shape", "unexpected response shape", "feed: unexpected"),
            ("401", "HTTP 401", "401"),
            ("403", "HTTP 403", "403"),
            ("429", "rate limited; retry in 1s", "429"),
        ):
            # the fault lasts until it has been looked at: a retry that came before the
            # checks would otherwise find the feed recovered already
            await expect_fault(partial(server.faults.extend, [fault] * 1000), words, reason)
            server.faults.clear()
            await settle(pilot, partial(recovered, feed.status.polls))
        await expect_fault(server.stop, "cannot connect", "feed: cannot connect")
        server.start()
        polls = feed.status.polls
        await settle(pilot, lambda: feed.status.polls > polls)
        assert app.pollers["bitly"].status.polls >= 2  # the other source went on
        text = await redraw(pilot)
        assert "● feed" in text and TOKEN not in text
    watch.close()
    assert read_recording(record).frame.height == sum(recorded) > 0


def test_a_live_recording_reports_and_replays_to_the_same_numbers(
    server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import json

    from click.testing import CliRunner

    from engmon.cli import main
    from engmon.core.clock import ReplayClock
    from engmon.sources.files import FileSpec, load_observations
    from engmon.watch.replay import replay_setup

    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    now = datetime.now(UTC)
    server.add(now, 4)
    server.add(now.replace(second=0) - timedelta(minutes=2), 3)
    path = campaign_toml(tmp_path, source_tables(server.base)["umami"])
    record = tmp_path / "watch.ndjson"
    runner = CliRunner()
    watched = runner.invoke(
        main, ["watch", "--plain", "--record", str(record), "--duration", "1", str(path)]
    )
    assert watched.exit_code == 0, watched.output
    loaded = load_observations(FileSpec.from_cli(record))
    assert "umami:referrer" in loaded.frame.get_column("source").to_list()  # breakdowns kept
    reported = runner.invoke(main, ["report", str(record), "--format", "json"])
    assert reported.exit_code == 0, reported.output
    document = json.loads(reported.output)
    assert document["metrics"]["clicks"]["count"] == 7  # re-polls and breakdowns did not add

    campaign, source, clock, store = replay_setup(loaded.frame, loaded.campaign, speed=3600)

    async def replay() -> str:
        app = EngmonApp(Session(campaign, [source], clock, store=store))
        async with app.run_test(size=SIZE) as pilot:
            assert isinstance(clock, ReplayClock)
            clock.seek(clock.end or now)
            await settle(pilot, lambda: source.emitted == source.total)
            return await redraw(pilot)

    text = asyncio.run(replay())
    curve = store.minutes().filter(pl.col("metric") == "clicks")
    assert float(curve.get_column("value").sum()) == 7
    assert "REPLAY" in text
