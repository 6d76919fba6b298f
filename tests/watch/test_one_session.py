"""The plain watch and the dashboard run one runtime: the same `Session`, its poll loop, its
recording. Both watch the same loopback feed and must record the same rows."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import polars.testing
import pytest
from vendor_server import TOKEN, VendorServer, campaign_toml, source_tables

from engmon.config import load_campaign
from engmon.core.clock import WallClock
from engmon.core.recording import read_recording
from engmon.tui.app import EngmonApp
from engmon.watch.plain import watch_plain
from engmon.watch.poller import SourcePoller
from engmon.watch.session import Session, SourcePolled


@pytest.fixture
def server() -> Iterator[VendorServer]:
    vendor = VendorServer(timeout_sleep=1.0).start()
    yield vendor
    vendor.stop()


def clicks(session: Session) -> float:
    minutes = session.store.minutes().filter(pl.col("metric") == "clicks")
    return float(minutes.get_column("value").sum())


def settled(session: Session) -> Callable[[], bool]:
    """Every source polled a few times and the clicks all in (7 clicks, seen by both sources)."""
    return lambda: (
        clicks(session) == 14 and all(p.status.polls >= 3 for p in session.pollers.values())
    )


async def wait_for(condition: Callable[[], bool], limit: float = 20.0) -> None:
    for _ in range(int(limit / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the watch did not get there")


def recorded_rows(path: Path) -> pl.DataFrame:
    """The distinct rows of a recording (how many times a poll repeated them may differ)."""
    frame = read_recording(path).frame
    return frame.unique().sort(frame.columns, nulls_last=True)


async def test_plain_watch_and_dashboard_run_one_session_to_the_same_recording(
    server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    now = datetime.now(UTC)
    server.add(now - timedelta(minutes=2), 3)
    server.add(now, 4)
    tables = source_tables(server.base)
    path = campaign_toml(tmp_path, tables["umami"] + tables["bitly"])
    turns: dict[int, int] = {}
    poll_turn = Session.poll_turn

    async def counted_turn(self: Session, poller: SourcePoller) -> SourcePolled:
        turns[id(self)] = turns.get(id(self), 0) + 1
        return await poll_turn(self, poller)

    monkeypatch.setattr(Session, "poll_turn", counted_turn)

    # both watches poll at one frozen instant: a minute that turned between or during the two
    # runs would put a new minute's rows (the `active` gauge, an empty bucket) in one only
    polled_at = now + timedelta(seconds=1)
    plain = Session.open(load_campaign(path), tmp_path / "plain.ndjson")
    plain.clock = WallClock(lambda: polled_at)
    task = asyncio.create_task(watch_plain(plain, out=io.StringIO()))
    await wait_for(settled(plain))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await plain.aclose()

    shown = Session.open(load_campaign(path), tmp_path / "dashboard.ndjson")
    shown.clock = WallClock(lambda: polled_at)
    app = EngmonApp(shown)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(1000):
            if settled(shown)():
                break
            await pilot.pause(0.02)
        assert settled(shown)()
        assert app.session is shown
    assert shown.recorder is not None and shown.recorder.closed  # closed by the app

    assert turns[id(plain)] >= 6 and turns[id(shown)] >= 6  # both polled through Session
    assert type(plain) is type(app.session)
    plain_rows = recorded_rows(tmp_path / "plain.ndjson")
    assert plain_rows.height > 0
    assert "umami:referrer" in plain_rows.get_column("source").to_list()  # breakdowns too
    pl.testing.assert_frame_equal(plain_rows, recorded_rows(tmp_path / "dashboard.ndjson"))
    assert plain.store.minutes().equals(shown.store.minutes())


def _minute_clicks(post: datetime, per_minute: list[float]) -> pl.DataFrame:
    """One-minute click buckets from the post on."""
    return pl.DataFrame(
        {
            "ts": [post + timedelta(minutes=m) for m in range(len(per_minute))],
            "metric": "clicks",
            "value": per_minute,
            "kind": "bucket",
            "width_s": 60,
            "source": "s",
        }
    )


async def test_the_plain_watch_alerts_above_the_usual_band_when_a_history_exists(
    tmp_path: Path,
) -> None:
    from engmon.core import history
    from engmon.core.campaign import Campaign
    from engmon.core.clock import WallClock
    from engmon.core.store import ObservationStore
    from engmon.watch.plain import PlainPrinter

    post = datetime(2026, 11, 25, 14, tzinfo=UTC)
    for day in range(1, 6):  # five past posts: about one click a minute
        when = post - timedelta(days=day)
        past = ObservationStore(when)
        past.merge(_minute_clicks(when, [1.0 + day % 2] * 30))
        history.save_post(history.post_curve(past.minutes(), f"p{day}", when, 2000), tmp_path)
    store = ObservationStore(post)
    store.merge(_minute_clicks(post, [20.0] * 10))  # twenty a minute: far above the usual
    campaign = Campaign("now", post_time=post, followers=2000)
    clock = WallClock(lambda: post + timedelta(minutes=10, seconds=30))
    session = Session(campaign, [], clock, store=store, history_dir=tmp_path)
    out = io.StringIO()
    session.listener = PlainPrinter(session, out)
    fired = session.check_alerts()
    assert [a.kind for a in fired] == ["spike"]
    assert "above your usual" in fired[0].message
    assert "ALERT spike:" in out.getvalue() and "above your usual" in out.getvalue()
    assert session.check_alerts() == []  # once per cool-down, and not again for the same data
    without = Session(campaign, [], clock, store=store)  # no history, no threshold: no alert
    assert without.check_alerts() == []


async def test_a_replay_session_polls_without_an_http_client() -> None:
    from engmon.sources import scenarios
    from engmon.watch.replay import replay_session

    built = scenarios.build("small-account")
    session = replay_session(built.frame, built.campaign, speed=600.0)
    polled = await session.poll_turn(next(iter(session.pollers.values())))
    assert polled.merged is not None
    assert session._client is None  # a replay reads no network: no client, no httpx at start
    await session.aclose()
