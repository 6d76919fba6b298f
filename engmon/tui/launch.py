"""Opening the dashboard: on a replayed file, a generated scenario or a live watch.

The pieces come from `engmon.watch` (replay setup, the live watch); this module only hands
them to the Textual app, so `engmon.watch` never imports the terminal UI.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import polars as pl

from engmon.core.campaign import Campaign
from engmon.watch.replay import load_with_progress, parse_start, replay_session

if TYPE_CHECKING:
    from pathlib import Path

    from engmon.sources.files import FileSpec
    from engmon.sources.scenarios import Scenario
    from engmon.watch.session import Session


def run_frame(
    frame: pl.DataFrame,
    campaign: Campaign,
    *,
    speed: float = 60.0,
    start: timedelta = timedelta(0),
    paused: bool = False,
    name: str = "replay",
    history: bool = True,
) -> None:
    """Replay an in-memory observation frame in the dashboard (`history`: compare with, and
    keep it among, your past posts)."""
    from engmon.core.history import default_history_dir
    from engmon.tui.app import run_dashboard

    session = replay_session(
        frame,
        campaign,
        speed=speed,
        start=start,
        paused=paused,
        name=name,
        history_dir=default_history_dir() if history else None,
    )
    run_dashboard(session)


def run_replay(
    spec: FileSpec,
    *,
    speed: float = 60.0,
    start: str | timedelta = "0",
    paused: bool = False,
) -> None:
    """Load the file `spec` describes (progress on stderr), then replay it in the dashboard."""
    offset = parse_start(start)
    loaded = load_with_progress(spec)
    run_frame(
        loaded.frame,
        loaded.campaign,
        speed=speed,
        start=offset,
        paused=paused,
        name=loaded.path.stem or "replay",
    )


def run_scenario(scenario: Scenario, *, speed: float = 60.0) -> None:
    """Replay a generated scenario (`engmon demo`) from the post onwards."""
    # generated posts are not the user's: kept out of the history the band is drawn from
    run_frame(scenario.frame, scenario.campaign, speed=speed, name=scenario.name, history=False)


def run_dashboard_watch(session: Session, *, export_dir: Path | None = None) -> None:
    """Open the dashboard on a live watch's session (`export_dir`: where `e` writes)."""
    from engmon.tui.app import run_dashboard

    run_dashboard(session, export_dir=export_dir)
