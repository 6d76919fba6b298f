"""SVG snapshots of the drilldown at fixed sizes on a frozen clock (issue #6).

Update after an intended visual change:
`pytest tests/tui/test_drilldown_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

from drillposts import drill_app
from screen import redraw, screen_text, settle
from textual.pilot import Pilot

from engmon.tui.widgets.breakdown import BreakdownTable
from engmon.tui.widgets.drillcurve import DrillCurve


def drilled(*keys: str) -> Any:
    """Filter to X, then the top post, expand X's hosts, put the cursor 3 buckets back."""

    async def run_before(pilot: Pilot[None]) -> None:
        app: Any = pilot.app
        await settle(pilot, lambda: app.statuses["replay"].polls >= 1)  # sources line settled
        await redraw(pilot)
        app.screen.query_one("#table-platform", BreakdownTable).focus()
        await pilot.press("enter")
        await redraw(pilot)
        app.screen.query_one("#table-post", BreakdownTable).focus()
        await pilot.press("enter")
        await redraw(pilot)
        app.screen.query_one("#table-platform", BreakdownTable).focus()
        await pilot.press("right")
        app.screen.query_one(DrillCurve).focus()
        await pilot.press("left", "left", "left", *keys)
        await redraw(pilot)
        await redraw(pilot)  # the curve redraws at most 4/s: the last change drawn now
        # the Footer refits to the focused curve's keys a refresh later
        await settle(
            pilot,
            lambda: (
                app.screen is not app.dashboard or "q quit" in screen_text(app).splitlines()[-1]
            ),
            tries=250,
        )

    return run_before


def test_drilldown_120x40(snap_compare: Any) -> None:
    assert snap_compare(drill_app(40), terminal_size=(120, 40), run_before=drilled())


def test_drilldown_80x24(snap_compare: Any) -> None:
    assert snap_compare(drill_app(40), terminal_size=(80, 24), run_before=drilled())


def test_drilldown_observations_120x40(snap_compare: Any) -> None:
    assert snap_compare(drill_app(40), terminal_size=(120, 40), run_before=drilled("enter"))
