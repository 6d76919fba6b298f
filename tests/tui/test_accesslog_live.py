"""A followed access log in the dashboard: lines appended to the log move the curve."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engmon.core.campaign import Campaign
from engmon.core.clock import ReplayClock
from engmon.sources import accesslog
from engmon.sources.options import SourceOptions
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session

POST_TIME = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1"
)


def hits(minutes: list[float], first_ip: int = 1) -> str:
    """Combined-format lines for the campaign link, one per offset (minutes after the post)."""
    lines = []
    for n, minute in enumerate(minutes):
        when = (POST_TIME + timedelta(minutes=minute)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(
            f'81.2.69.{first_ip + n} - - [{when}] "GET /blog/spring-launch HTTP/1.1" 200 5120'
            f' "https://t.co/abc" "{AGENT}"\n'
        )
    return "".join(lines)


async def settle(pilot: Any, condition: Callable[[], bool], tries: int = 1500) -> None:
    """Let the app poll and process messages until `condition` holds."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    app = pilot.app
    raise AssertionError(f"dashboard did not reach the expected state: {app.statuses}")


async def test_appending_to_a_followed_log_moves_the_curve(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hits([1.0, 2.5, 2.6]))
    campaign = Campaign("spring-launch", "example.com/blog/spring-launch", POST_TIME, 2100)
    options = SourceOptions({"kind": "access-log", "path": str(log), "interval": 0.05}, "test")
    source = accesslog.SOURCE.build(options, campaign)
    source.timeout = 5.0  # a busy machine: the first poll loads ua-parser and GeoIP tables
    clock = ReplayClock(
        POST_TIME + timedelta(minutes=30),
        speed=60.0,
        end=POST_TIME + timedelta(minutes=240),
        paused=True,
        monotonic=lambda: 0.0,
    )
    app = EngmonApp(Session(campaign, [source], clock, monotonic=lambda: 0.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.store.rows > 0)
        app.refresh_dashboard()
        assert app.view is not None and app.view.kpis.clicks == 3
        curve_before = sum(app.view.curve.values)
        with log.open("a") as handle:  # the web server writes five more requests
            handle.write(hits([4.0, 4.2, 4.4, 4.5, 4.7], first_ip=50))
        await settle(pilot, lambda: app.store.rows >= 16)  # 8 clicks + 8 visitors
        app.refresh_dashboard()
        assert app.view.kpis.clicks == 8
        assert sum(app.view.curve.values) == curve_before + 5  # the curve moved
        assert app.statuses["access-log"].state == "ok"
