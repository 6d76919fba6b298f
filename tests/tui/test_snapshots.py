"""SVG snapshots of the dashboard at 120x40 and 80x24 on a frozen clock with fixed data.

Update after an intended visual change: `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

from conftest import MakeApp
from screen import redraw, settle
from textual.pilot import Pilot


def settled(app: Any) -> Any:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot, lambda: app.statuses["replay"].polls >= 1)
        await redraw(pilot)

    return run_before


def test_dashboard_120x40(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app(45)
    assert snap_compare(app, terminal_size=(120, 40), run_before=settled(app))


def test_dashboard_80x24(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app(45)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled(app))


def test_dashboard_cumulative_5m_buckets_120x40(snap_compare: Any, make_app: MakeApp) -> None:
    app = make_app(120)

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app)(pilot)
        await pilot.press("c", "b", "b")
        await redraw(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
