"""EngmonApp: the live dashboard for one campaign, fed by polled (or replayed) sources.

Data flow (attributes down, messages up):

- one worker per source (`group="poll:<name>"`) awaits `SourcePoller.poll_once`, appends the
  frame to the recording (live watches), posts `ObservationsPolled` and `SourceStatusChanged`,
  then sleeps `poller.delay()`: the next poll is scheduled when the last one finished, so polls
  of one source never overlap and are never cancelled;
- the app merges frames into the `ObservationStore` (incremental per-minute aggregate);
- a render timer (10/s) redraws the header and sources line, and recomputes the view model
  (`engmon.tui.viewmodel.compute_view`) only when the store revision, the clock's minute or
  the view settings changed.

`run_dashboard(...)` is the entry point for `engmon demo`, `replay` and `watch`.
"""

from __future__ import annotations

import asyncio
import copy
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import polars as pl
from textual.app import SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer

from engmon.core import metrics
from engmon.core.alerts import (
    Alert,
    AlertFacts,
    AlertRules,
    AlertRunner,
    store_facts,
)
from engmon.core.campaign import Campaign
from engmon.core.clock import Clock, ReplayClock
from engmon.core.metrics import now_minute_of, pick_headline
from engmon.core.outlook import OutlookTracker
from engmon.core.recording import RecordingWriter
from engmon.core.schema import FOLLOWERS
from engmon.core.store import ObservationStore
from engmon.sources.base import Source
from engmon.sources.playback import ReplaySource
from engmon.tui.drilldown import DrilldownApp
from engmon.tui.keys import DASHBOARD_KEYS, bindings
from engmon.tui.messages import (
    ObservationsPolled,
    ReplayProgressed,
    SourceStatusChanged,
    ViewSettingsChanged,
)
from engmon.tui.screens import DashboardScreen, HelpScreen
from engmon.tui.viewmodel import (
    ClockState,
    DashboardView,
    VerdictPhrase,
    ViewSettings,
    compute_view,
    with_outlook,
)
from engmon.watch.poller import SourcePoller, SourceStatus
from engmon.watch.webhooks import deliver_alert

RENDER_INTERVAL = 0.1
"""Seconds between render ticks (a redraw happens only when something changed)."""
ERROR_RETRY_S = 30.0
"""Pause after a source failed with something other than a SourceError (a bug)."""
BUCKET_CYCLE: tuple[int | None, ...] = (None, *metrics.BUCKET_WIDTHS)
"""`b` steps through these: auto, then every offered width."""


def default_client() -> httpx.AsyncClient:
    """The one shared HTTP client: timeouts always set, a few connections per host."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"User-Agent": "engmon"},
        follow_redirects=True,
    )


def count_text(value: int) -> str:
    """`950`, `200k`, `1.2M` rows."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value // 1000}k"
    return str(value)


class EngmonApp(DrilldownApp):
    """The dashboard. See the module docstring for the data flow."""

    CSS_PATH = "engmon.tcss"
    TITLE = "engmon"
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        *bindings(DASHBOARD_KEYS)
    ]

    def __init__(
        self,
        campaign: Campaign,
        sources: Sequence[Source],
        clock: Clock,
        *,
        store: ObservationStore | None = None,
        recorder: RecordingWriter | None = None,
        client: httpx.AsyncClient | None = None,
        settings: ViewSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        render_interval: float = RENDER_INTERVAL,
        verdict_phrases: Sequence[VerdictPhrase] = (),
        history_dir: Path | None = None,
        alerts: AlertRules | None = None,
    ) -> None:
        super().__init__()
        self.campaign = campaign
        self.sources = list(sources)
        self.clock = clock
        self.store = store if store is not None else ObservationStore(campaign.post_time)
        self.recorder = recorder
        self._client = client
        self._owns_client = client is None
        self.settings = settings or ViewSettings()
        self.monotonic = monotonic
        self.render_interval = render_interval
        self.verdict_phrases = list(verdict_phrases)
        # forecast, expected band of past posts (read from / saved to `history_dir`), alerts
        self.outlook = OutlookTracker(history_dir)
        self.alert_runner = AlertRunner(alerts or AlertRules())
        self.alerts_fired: list[Alert] = []
        self._alert_elapsed: float | None = None
        self.pollers: dict[str, SourcePoller] = {
            s.name: SourcePoller(s, clock=monotonic) for s in self.sources
        }
        self.statuses: dict[str, SourceStatus] = {
            name: copy.copy(p.status) for name, p in self.pollers.items()
        }
        self.progress: dict[str, ReplayProgressed] = {}
        self.view: DashboardView | None = None
        self.frozen_at: datetime | None = None  # a paused live clock shows this instant
        self._view_key: object = None
        self._outlook_due: Timer | None = None
        self.renders = 0

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def client(self) -> httpx.AsyncClient:
        """The shared HTTP client (created on first use when none was given)."""
        if self._client is None:
            self._client = default_client()
        return self._client

    @property
    def dashboard(self) -> DashboardScreen:
        """The dashboard screen (always at the bottom of the stack)."""
        screen = self.screen_stack[0] if self.screen_stack else None
        assert isinstance(screen, DashboardScreen)
        return screen

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen()

    def on_mount(self) -> None:
        for poller in self.pollers.values():
            self.start_polling(poller)
        self.set_interval(self.render_interval, self.refresh_dashboard, name="render")
        if not self.is_headless and not self.is_web:  # in a browser, stdin is a pipe
            self.set_interval(1.0, self.check_terminal, name="terminal")

    def check_terminal(self) -> None:
        """Quit (saving as on `q`) when the terminal is gone: a closed tmux server or SSH link
        does not always deliver SIGHUP, and Textual's input thread then spins on the dead tty."""
        stdin = sys.__stdin__
        if stdin is not None and not os.isatty(stdin.fileno()):
            self.exit()

    async def on_unmount(self) -> None:
        try:
            self.outlook.save(self.store, self.campaign)
        except OSError as exc:  # the history is a convenience: never fail the exit on it
            self.log.warning(f"history not saved: {exc}")
        for source in self.sources:
            await source.aclose()
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    # --- polling ---------------------------------------------------------------------------
    def start_polling(self, poller: SourcePoller) -> None:
        """Start the one worker that polls this source for the app's lifetime."""
        name = poller.source.name
        self.run_worker(
            self.poll_source(poller),
            name=f"poll {name}",
            group=f"poll:{name}",
            exclusive=True,
            exit_on_error=False,
        )

    async def poll_source(self, poller: SourcePoller) -> None:
        """Poll, record, post; then wait the poller's delay. Never raises (status instead)."""
        source = poller.source
        while True:
            done = False
            try:
                # the clock's own time: a paused live panel still polls the present
                result = await poller.poll_once(self.client, self.clock.now())
            except Exception as exc:  # a bug in one source must not take the dashboard down
                status = poller.status
                status.state = "retrying"
                status.errors += 1
                status.last_error = f"{type(exc).__name__}: {exc}"
                status.retry_at = self.monotonic() + ERROR_RETRY_S
                self.post_message(SourceStatusChanged(copy.copy(status)))
                await asyncio.sleep(ERROR_RETRY_S)
                continue
            if result is not None:
                done = result.done
                if not result.frame.is_empty():
                    self.record(result.frame)
                    self.post_message(ObservationsPolled(source.name, result.frame, done))
                if isinstance(source, ReplaySource):
                    behind = result.retry_in == 0.0  # a full chunk: more is due right away
                    self.post_message(
                        ReplayProgressed(source.name, source.emitted, source.total, behind)
                    )
            self.post_message(SourceStatusChanged(copy.copy(poller.status)))
            if done:
                return
            await asyncio.sleep(poller.delay())

    def record(self, frame: pl.DataFrame) -> None:
        """Append a live poll's raw rows to the recording before they are merged."""
        if self.recorder is None or not self.clock.live:
            return
        try:
            self.recorder.append(frame)
        except OSError as exc:
            self.notify(f"recording failed: {exc}", severity="error", timeout=10)

    def on_observations_polled(self, message: ObservationsPolled) -> None:
        self.store.merge(message.frame)

    def on_source_status_changed(self, message: SourceStatusChanged) -> None:
        status = message.status
        before = self.statuses.get(status.name)
        self.statuses[status.name] = status
        if status.last_error and (before is None or before.last_error != status.last_error):
            # the sources line shows a short reason; the whole line once, as a notification
            self.notify(status.last_error, title=status.name, severity="warning", timeout=8)

    def on_replay_progressed(self, message: ReplayProgressed) -> None:
        self.progress[message.source] = message

    def on_view_settings_changed(self, message: ViewSettingsChanged) -> None:
        self.refresh_dashboard()

    # --- the view --------------------------------------------------------------------------
    def now(self) -> datetime:
        """The instant the dashboard shows (a paused live clock stays at its pause)."""
        return self.frozen_at or self.clock.now()

    def clock_state(self) -> ClockState:
        """What the header shows about the clock."""
        clock = self.clock
        paused = self.frozen_at is not None if clock.live else clock.paused
        at_end = isinstance(clock, ReplayClock) and clock.at_end
        return ClockState(self.now(), clock.live, clock.speed, paused, at_end)

    def progress_text(self) -> str:
        """`replaying 400k/1.0M rows` while a replay catches up with its clock."""
        return " · ".join(
            f"loading {p.source} {count_text(p.emitted)}/{count_text(p.total)} rows"
            for p in self.progress.values()
            if p.catching_up and p.emitted < p.total
        )

    def refresh_dashboard(self) -> None:
        """Render tick: header and sources always; the view only when its inputs changed."""
        screen = self.screen_stack[0] if self.screen_stack else None
        if not isinstance(screen, DashboardScreen) or not screen.ready:
            return
        try:
            self._redraw(screen)
        except NoMatches:  # a tick that fired while the app shuts down and widgets are gone
            return

    def _redraw(self, screen: DashboardScreen) -> None:
        clock = self.clock_state()
        post_time = self.campaign.post_time or self.store.post_time
        screen.show_clock(self.campaign, post_time, clock)
        screen.show_sources(self.statuses.values(), self.monotonic())
        elapsed = (clock.now - post_time).total_seconds() if post_time else 0.0
        progress = self.progress_text()
        # a replay that delivered every row with its clock at the end: the forecast is the count
        delivered = all(p.emitted >= p.total for p in self.progress.values())
        final = clock.at_end and bool(self.progress) and delivered
        key = (
            self.store.revision,
            now_minute_of(elapsed),
            self.settings,
            progress,
            self.drill_key(),
            final,
        )
        if key == self._view_key and self.view is not None:
            return
        self._view_key = key
        outlook = None
        if not self.filters:  # the forecast and band are of the whole campaign, not of a slice
            metric = pick_headline([m for m in self.store.metric_names() if m != FOLLOWERS])
            outlook = self.outlook.update(
                self.store, self.campaign, clock.now, metric, wall=time.monotonic(), final=final
            )
        phrases = list(self.verdict_phrases)
        if outlook is not None:
            phrases.append(lambda *_: ". ".join(outlook.phrases()))
        view = compute_view(
            self.store,
            self.campaign,
            clock.now,
            self.settings,
            phrases=phrases,
            **self.view_inputs(),
        )
        band = (
            None
            if self.filters
            else self.outlook.band(view.curve.metric, view.curve.width, view.followers)
        )
        self.view = with_outlook(view, outlook, band)
        self.check_alerts(self.view)
        self.renders += 1
        with self.batch_update():  # one layout pass for the view and the tables, not several
            screen.show_view(self.view, progress)
            self.show_drilldown(screen, self.view)
        if self.outlook.pending and self._outlook_due is None:
            # the forecast waited for newer data: recompute once its pause is over
            self._outlook_due = self.set_timer(self.outlook.every_s, self._outlook_catch_up)

    def _outlook_catch_up(self) -> None:
        self._outlook_due = None
        self._view_key = None
        self.refresh_dashboard()

    def check_alerts(self, view: DashboardView) -> None:
        """Ring, notify and run the configured command for alerts due now (once per cool-down)."""
        if view.post_time is None:
            return
        if self._alert_elapsed is not None and view.elapsed_s < self._alert_elapsed - 60:
            self.alert_runner.reset()  # a replay seeked back: what fired is in its future
        self._alert_elapsed = view.elapsed_s
        facts = AlertFacts(
            now=view.now,
            elapsed_s=view.elapsed_s,
            metric=view.headline,
            velocity=view.kpis.velocity,
            engagement=view.kpis.engagement,
        )
        if self.filters:  # alerts are about the whole campaign, not the slice on screen
            facts = store_facts(self.store.minutes(), self.store.levels(), view.post_time, view.now)
        minute_band = self.outlook.band(facts.metric, 1, view.followers)
        if minute_band is not None:
            at = minute_band.filter(pl.col("minute") == view.now_minute - 1)
            if at.height:
                facts = replace(facts, band_p90=float(at.get_column("p90")[0]))
        for alert in self.alert_runner.check(facts):
            self.alerts_fired.append(alert)
            self.bell()
            self.notify(alert.message, title="engmon alert", severity="warning", timeout=10)
            rules = self.alert_runner.rules
            if rules.command or rules.webhooks:  # a worker: a slow hook never holds the screen
                self.run_worker(
                    self._run_alert_command(alert),
                    name=f"alert {alert.kind}",
                    group="alerts",
                    exit_on_error=False,
                )

    async def _run_alert_command(self, alert: Alert) -> None:
        problems = await deliver_alert(self.client, self.alert_runner, alert, self.campaign.name)
        for problem in problems:  # a hook that fails must not fail silently
            self.notify(problem, title="engmon alert", severity="error", timeout=10)

    def change_settings(self, reason: str, **changes: Any) -> None:
        """Apply a view-settings change and redraw."""
        self.settings = replace(self.settings, **changes)
        self.post_message(ViewSettingsChanged(reason))

    # --- actions (keys, command palette) ---------------------------------------------------
    def _replay_clock(self, what: str) -> ReplayClock | None:
        if isinstance(self.clock, ReplayClock):
            return self.clock
        self.notify(f"{what} works when replaying; a live watch follows the wall clock")
        return None

    def action_toggle_pause(self) -> None:
        """Pause or resume (a live watch keeps polling; the panel holds still)."""
        if isinstance(self.clock, ReplayClock):
            self.clock.toggle_pause()
        else:
            self.frozen_at = None if self.frozen_at is not None else self.clock.now()
        self.refresh_dashboard()

    def action_faster(self) -> None:
        """Next replay speed up."""
        if clock := self._replay_clock("speed"):
            clock.faster()
            self.refresh_dashboard()

    def action_slower(self) -> None:
        """Next replay speed down."""
        if clock := self._replay_clock("speed"):
            clock.slower()
            self.refresh_dashboard()

    def action_seek(self, buckets: int) -> None:
        """Move the replay clock to the previous/next bucket boundary of the curve."""
        clock = self._replay_clock("seeking")
        post_time = self.campaign.post_time or self.store.post_time
        if clock is None or post_time is None:
            return
        width = self.view.curve.width if self.view else 1
        elapsed_min = (clock.now() - post_time).total_seconds() / 60.0
        index = elapsed_min / width
        target = (-(-index // 1) - 1) if buckets < 0 else (index // 1 + 1)
        target_min = max(0.0, target * width) if elapsed_min >= 0 else elapsed_min
        clock.seek(post_time + timedelta(minutes=target_min))
        self.refresh_dashboard()

    def action_seek_start(self) -> None:
        """Back to the moment of the post."""
        clock = self._replay_clock("seeking")
        post_time = self.campaign.post_time or self.store.post_time
        if clock is not None and post_time is not None:
            clock.seek(post_time)
            self.refresh_dashboard()

    def action_seek_end(self) -> None:
        """To the end of the replayed data (it arrives in chunks, with progress)."""
        clock = self._replay_clock("seeking")
        if clock is not None and clock.end is not None:
            clock.seek(clock.end)
            self.refresh_dashboard()

    def action_cycle_metric(self) -> None:
        """The curve shows the next metric the data has."""
        present = self.view.metrics if self.view else []
        if not present:
            self.notify("no metrics yet")
            return
        current = self.view.curve.metric if self.view else present[0]
        index = present.index(current) if current in present else -1
        self.change_settings("metric", metric=present[(index + 1) % len(present)])

    def action_toggle_cumulative(self) -> None:
        """Show or hide the cumulative line."""
        self.change_settings("cumulative", cumulative=not self.settings.cumulative)

    def action_cycle_bucket(self) -> None:
        """auto → 1m → 5m → 15m → 1h → 6h → 1d → auto."""
        index = BUCKET_CYCLE.index(self.settings.bucket_width)
        width = BUCKET_CYCLE[(index + 1) % len(BUCKET_CYCLE)]
        self.change_settings("bucket", bucket_width=width)

    def action_help(self) -> None:
        """Show the keys."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in DASHBOARD_KEYS:
            if key.action == "quit":
                continue
            shown = key.display or key.keys.split(",")[0]
            yield SystemCommand(f"{key.help} ({shown})", key.help, self._command(key.action))

    def _command(self, action: str) -> Callable[[], object]:
        async def run() -> None:
            await self.run_action(action)

        return run


def run_dashboard(
    campaign: Campaign,
    sources: Sequence[Source],
    clock: Clock,
    *,
    store: ObservationStore | None = None,
    recorder: RecordingWriter | None = None,
    client: httpx.AsyncClient | None = None,
    settings: ViewSettings | None = None,
    export_dir: Path | None = None,
    history_dir: Path | None = None,
    alerts: AlertRules | None = None,
) -> None:
    """Open the dashboard in the terminal until the user quits.

    `sources` are polled on one shared HTTP client (`client`, or one made with timeouts);
    `clock` is a WallClock (live: header says LIVE, frames go to `recorder` before merging)
    or a ReplayClock (REPLAY Nx, seekable). `store` may arrive pre-loaded (a resumed watch).
    `history_dir`: past posts for the expected band (this one is saved there on exit);
    `alerts`: the config's `[alerts]` rules.
    `export_dir` is where `e` writes (the config's `[export] dir`; default ./exports).
    """
    app = EngmonApp(
        campaign,
        sources,
        clock,
        store=store,
        recorder=recorder,
        client=client,
        settings=settings,
        history_dir=history_dir,
        alerts=alerts,
    )
    if export_dir is not None:
        app.export_dir = export_dir
    app.run()
