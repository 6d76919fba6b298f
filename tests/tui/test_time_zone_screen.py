"""The dashboard shows the chosen time zone (`--tz`, `[campaign] tz`); UTC by default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import MakeApp
from screen import redraw, screen_text

from engmon.core.zone import set_display_zone
from engmon.tui.screens.observations import ObservationsScreen

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def utc_again() -> Iterator[None]:
    yield
    set_display_zone(None)


async def test_header_shows_the_post_time_in_the_chosen_zone(make_app: MakeApp) -> None:
    set_display_zone("Europe/Paris")  # the fixture post: 2026-11-20 14:00 UTC, winter time
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        text = screen_text(app)
        assert "posted 2026-11-20 15:00 CET · +30m · REPLAY 60x · PAUSED" in text
        assert "14:00 UTC" not in text


async def test_a_bucket_shows_its_rows_in_the_chosen_zone(make_app: MakeApp) -> None:
    set_display_zone("America/New_York")
    app = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        app.open_bucket(5, 1)  # rows of minute +5: 14:05 UTC is 09:05 in New York
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ObservationsScreen)
        assert "09:05–09:06 EST" in screen.title_text
        text = screen_text(app)
        assert "time (America/New_York)" in text and "09:05:" in text
