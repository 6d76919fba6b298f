"""A fast replay shows the instant its rows have been read up to, not its clock.

At 600x a clock runs minutes ahead of the rows merged between two polls; shown at the clock,
those minutes read as empty: no visitors now, a falling rate, a flat stretch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from screen import redraw, screen_text

from engmon.core.alerts import AlertRules
from engmon.core.campaign import Campaign
from engmon.core.clock import ReplayClock
from engmon.core.store import ObservationStore
from engmon.sources.accesslog.reader import read_access_log
from engmon.sources.playback import ReplaySource
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session

POSTED = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
SPEED = 600.0  # ten minutes of the post per second


def replayed_log(tmp_path: Path) -> pl.DataFrame:
    """Two new visitors a minute on the link for an hour, read as `engmon replay` reads it."""
    lines = []
    for second in range(0, 3600, 30):
        when = POSTED + timedelta(seconds=second)
        lines.append(
            f'203.0.113.{second // 30 % 250} - - [{when:%d/%b/%Y:%H:%M:%S +0000}] "GET /launch'
            f' HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:{second}) Firefox/1"'
        )
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    return read_access_log(log, link="/launch").frame


def fast_session(
    frame: pl.DataFrame, wall: list[float], *, interval: float = 0.1, max_rows: int = 200_000
) -> tuple[Session, ReplaySource]:
    source = ReplaySource(frame, name="replay", interval=interval, max_rows=max_rows)
    clock = ReplayClock(
        POSTED, speed=SPEED, end=POSTED + timedelta(hours=1), monotonic=lambda: wall[0]
    )
    campaign = Campaign("launch", "/launch", POSTED, None)
    store = ObservationStore(post_time=POSTED)
    return Session(campaign, [source], clock, store=store, monotonic=lambda: 0.0), source


async def test_numbers_between_two_polls_are_of_the_rows_read(tmp_path: Path) -> None:
    wall = [0.0]
    session, source = fast_session(replayed_log(tmp_path), wall)
    wall[0] = 1.5  # fifteen minutes in
    await session.poll_turn(session.pollers["replay"])
    read_until = POSTED + timedelta(minutes=15)
    assert source.revealed == read_until
    wall[0] += 0.5  # five more minutes of the clock before the next poll
    assert session.clock.now() == POSTED + timedelta(minutes=20)
    assert session.now() == read_until
    held = session.standing(session.now())
    assert held is not None and held.visitors_now == 10  # 2 a minute, the 5 minutes up to it
    assert held.clicks == 31  # one every 30 s, 14:00:00 to 14:15:00 included
    ahead = session.standing(session.clock.now())
    assert ahead is not None and ahead.visitors_now == 0  # what the clock alone would show
    await session.poll_turn(session.pollers["replay"])
    assert session.now() == session.clock.now()


async def test_a_capped_poll_holds_at_the_first_row_it_left(tmp_path: Path) -> None:
    wall = [0.0]
    session, source = fast_session(replayed_log(tmp_path), wall, max_rows=25)
    wall[0] = 3.0  # thirty minutes in, read 25 rows at a time
    await session.poll_turn(session.pollers["replay"])
    left = source.frame.get_column("ts")[25]
    assert session.now() == left - timedelta(microseconds=1)
    while source.emitted < source.total:
        wall[0] += 10.0  # the clock at its end: every row is handed out in turn
        await session.poll_turn(session.pollers["replay"])
    assert source.revealed is None  # nothing left to hold the numbers back
    assert session.now() == session.clock.now()
    source.rewind()
    assert source.revealed is None


async def test_the_dashboard_shows_the_instant_it_has_read_up_to(tmp_path: Path) -> None:
    wall = [0.0]
    # one poll at the start, then none for a minute of wall time: the clock runs on alone
    session, _ = fast_session(replayed_log(tmp_path), wall, interval=60.0)
    wall[0] = 1.5
    app = EngmonApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            await redraw(pilot)
            if app.view is not None and app.view.kpis.clicks:
                break
            await pilot.pause(0.02)
        wall[0] += 0.5
        await redraw(pilot)
        assert app.view is not None
        assert app.view.now == POSTED + timedelta(minutes=15)
        assert app.view.kpis.visitors_now == 10
        header = screen_text(app).splitlines()[0]
        assert "+15m" in header and "+20m" not in header


async def test_resuming_a_fast_replay_fires_no_alert_again(tmp_path: Path) -> None:
    wall = [0.0]
    source = ReplaySource(replayed_log(tmp_path), name="replay")
    clock = ReplayClock(
        POSTED, speed=SPEED, end=POSTED + timedelta(hours=1), monotonic=lambda: wall[0]
    )
    campaign = Campaign("launch", "/launch", POSTED, None)
    session = Session(
        campaign,
        [source],
        clock,
        store=ObservationStore(post_time=POSTED),
        alerts=AlertRules(spike_per_min=1.0),
        monotonic=lambda: 0.0,
    )
    wall[0] = 1.5
    await session.poll_turn(session.pollers["replay"])  # +15m: 2 clicks a minute, a spike
    assert [alert.kind for alert in session.alerts_fired] == ["spike"]
    wall[0] = 2.0  # +20m on the clock, the numbers still of +15m
    clock.toggle_pause()  # paused: the numbers are of the clock's +20m
    session.check_alerts()
    clock.toggle_pause()  # playing again: back to the rows read (+15m), which is no seek back
    assert session.now() == POSTED + timedelta(minutes=15)
    session.check_alerts()
    assert [alert.kind for alert in session.alerts_fired] == ["spike"]
