"""Opening the dashboard: on a replayed file, a generated scenario or a live watch.

The pieces come from `engmon.watch` (replay setup, the live watch); this module only hands
them to the Textual app, so `engmon.watch` never imports the terminal UI.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

    from engmon.core.campaign import Campaign
    from engmon.sources.files import FileSpec
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
    from engmon.watch.replay import replay_session

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
    from engmon.watch.replay import load_with_progress, parse_start

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


def run_scenario(name: str, *, seed: int = 7, speed: float = 60.0) -> None:
    """Replay generated scenario `name` (`engmon demo`) from the post onwards.

    The dashboard's first frame (its layout, and the header with the link and the replay's
    mode) goes out before numpy and polars are imported and the scenario generated; the
    dashboard replaces it once the session is built. An unknown name fails before the screen.
    """
    from engmon.sources import scenarios
    from engmon.tui.app import Opening, run_dashboard
    from engmon.tui.state import ClockState

    campaign = scenarios.campaign(name)

    def build() -> Session:
        from engmon.watch.replay import replay_session

        built = scenarios.build(name, seed=seed)
        # generated posts are not the user's: kept out of the history the band is drawn from
        return replay_session(built.frame, built.campaign, speed=speed, name=built.name)

    assert campaign.post_time is not None  # every scenario has its post time
    clock = ClockState(campaign.post_time, live=False, speed=speed, paused=False)
    run_dashboard(Opening(campaign, clock, build))


def run_dashboard_watch(session: Session, *, export_dir: Path | None = None) -> None:
    """Open the dashboard on a live watch's session (`export_dir`: where `e` writes)."""
    from engmon.tui.app import run_dashboard

    run_dashboard(session, export_dir=export_dir)
