"""An opening: the dashboard's first frame before its session (and polars) exists.

`engmon demo` draws the layout and the header first, builds the scenario's session in a
thread, then shows the dashboard exactly as a start with the session ready would.
"""

from __future__ import annotations

import subprocess
import sys
import threading

from posts import frozen_clock, post_frame, small_campaign
from screen import redraw, screen_text, settle

from engmon.core.store import ObservationStore
from engmon.errors import ConfigError
from engmon.sources.playback import ReplaySource
from engmon.tui.app import EngmonApp, Opening
from engmon.tui.screens.dashboard import DashboardScreen
from engmon.tui.screens.opening import OpeningScreen
from engmon.tui.state import ClockState
from engmon.watch.session import Session

MINUTES = 45.0


def fixture_session() -> Session:
    """The snapshot tests' post, paused 45 minutes in, with its rows merged up to the clock."""
    campaign = small_campaign()
    clock = frozen_clock(MINUTES)
    store = ObservationStore(post_time=campaign.post_time)
    source = ReplaySource(post_frame(), name="replay")
    store.merge(source.take_until(clock.now()))
    return Session(campaign, [source], clock, store=store, monotonic=lambda: 0.0)


def opening(release: threading.Event | None = None) -> Opening:
    """An opening of the fixture session whose build waits for `release` when given."""
    campaign = small_campaign()
    assert campaign.post_time is not None
    clock = ClockState(campaign.post_time, live=False, speed=60.0, paused=False)

    def build() -> Session:
        if release is not None:
            assert release.wait(10)
        return fixture_session()

    return Opening(campaign, clock, build)


async def test_the_opening_frame_has_the_header_and_layout_and_no_numbers() -> None:
    release = threading.Event()
    app = EngmonApp(opening(release))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, OpeningScreen) and not app.opened
            assert screen.has_class("-narrow") and screen.has_class("-short")  # 80x24 layout
            text = screen_text(app)
            assert "example.com/blog/spring-l" in text and "REPLAY 60x" in text
            assert "… posted 14:00" in text  # the cut link never runs into the post time
            assert "waiting for the first observations" in text
            assert not any(ch.isdigit() for ch in text.split("REPLAY")[1].split("\n", 1)[1])
            # only quitting works until the session exists; the dashboard's keys show dimmed
            assert app.check_action("toggle_pause", ()) is None
            assert app.check_action("quit", ()) is True
            await pilot.press("space", "right", "m")  # nothing to act on yet: no crash
            release.set()
            await settle(pilot, lambda: app.opened and app.view is not None)
            assert isinstance(app.dashboard, DashboardScreen)
            assert app.check_action("toggle_pause", ()) is True
    finally:
        release.set()


async def test_after_the_opening_the_dashboard_is_the_one_a_ready_start_shows() -> None:
    screens: list[str] = []
    for start in (fixture_session(), opening()):
        app = EngmonApp(start)

        def polled(app: EngmonApp = app) -> bool:
            return app.opened and app.statuses["replay"].polls >= 1

        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, polled)
            await redraw(pilot)
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)
            screens.append(screen_text(app))
    ready, opened = screens
    assert opened == ready
    assert "clicks" in opened


async def test_a_session_that_cannot_be_built_ends_the_app_with_its_error() -> None:
    campaign = small_campaign()
    assert campaign.post_time is not None

    def build() -> Session:
        raise ConfigError("no such scenario")

    app = EngmonApp(Opening(campaign, ClockState(campaign.post_time, False, 60.0, False), build))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.failure is not None)
    assert isinstance(app.failure, ConfigError) and app.return_code == 2


def test_the_opening_needs_neither_polars_nor_numpy_nor_plotext() -> None:
    # what `engmon demo` imports before its first frame: the CLI, the launcher, the app and
    # the scenario catalogue
    code = (
        "import sys, engmon.cli, engmon.tui.launch, engmon.tui.app, engmon.sources.scenarios;"
        "from engmon.sources.scenarios import campaign; campaign('small-account');"
        "print(sorted({'polars', 'numpy', 'plotext', 'httpx'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
