"""Fixtures for the dashboard tests: a deterministic post on a frozen replay clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from posts import frozen_clock, post_frame, small_campaign

from engmon.core.clock import ReplayClock
from engmon.core.store import ObservationStore
from engmon.sources.playback import ReplaySource
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session

MakeApp = Callable[..., EngmonApp]


@pytest.fixture
def make_app() -> MakeApp:
    """Build a dashboard replaying the small fixture post, paused `minutes` after the post."""

    def build(minutes: float = 30.0, *, preload: bool = True, **kwargs: object) -> EngmonApp:
        frame = post_frame()
        campaign = small_campaign()
        clock: ReplayClock = frozen_clock(minutes)
        store = ObservationStore(post_time=campaign.post_time)
        source = ReplaySource(frame, name="replay")
        if preload:  # what the worker would have merged by now, so the first frame is final
            store.merge(source.take_until(clock.now()))
        session = Session(
            campaign,
            [source],
            clock,
            store=store,
            monotonic=lambda: 0.0,
            **kwargs,  # type: ignore[arg-type]
        )
        return EngmonApp(session)

    return build
