"""Reading the dashboard's screen as plain text, and waiting for it to settle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from engmon.tui.widgets.curve import CurvePlot


def screen_text(app: App[Any]) -> str:
    """Everything the active screen shows, as plain lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def settle(pilot: Pilot[Any], condition: Callable[[], bool], tries: int = 100) -> None:
    """Let the app process messages and render ticks until `condition` holds."""
    for _ in range(tries):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("dashboard did not reach the expected state")


async def redraw(pilot: Pilot[Any]) -> None:
    """Force a view refresh and let the screen repaint."""
    app = pilot.app
    refresh = getattr(app, "refresh_dashboard", None)
    if refresh is not None:
        refresh()
    for curve in app.query(CurvePlot):
        curve.flush()  # the curve redraws at most 4/s: draw the pending one now
    await pilot.pause()
