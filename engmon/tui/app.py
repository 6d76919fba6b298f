"""EngmonApp: the live dashboard for one campaign, fed by polled (or replayed) sources.

Data flow (attributes down, messages up): the app is a view of an `engmon.watch.Session`, the
same runtime the plain watch runs.

- one worker per source (`group="poll:<name>"`) runs the session's poll loop
  (`Session.poll_source`): poll, record (live watches), merge into the store, check alerts,
  then sleep the poller's delay, so polls of one source never overlap and are never cancelled;
- the session reports up through its listener, which posts `SourceStatusChanged`,
  `AlertFired` and `ProblemReported`: the app notifies, rings, shows;
- a render timer (10/s) redraws the header and sources line, and recomputes the view model
  (`engmon.tui.viewmodel.compute_view`) only when the store revision, the clock's minute or
  the view settings changed.

`run_dashboard(session)` is the entry point for `engmon demo`, `replay` and `watch`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding, BindingsMap
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer

from engmon.core.campaign import Campaign
from engmon.core.clock import Clock, ReplayClock
from engmon.core.words import compact_count, span_text
from engmon.errors import EngmonError
from engmon.tui.drilldown import DrilldownApp
from engmon.tui.keys import (
    DASHBOARD_KEYS,
    FOCUS_KEYS_WIDTH,
    FULL_FOOTER_WIDTH,
    REPLAY_ACTIONS,
    bindings,
)
from engmon.tui.messages import (
    AlertFired,
    ProblemReported,
    SourceStatusChanged,
    ViewSettingsChanged,
)
from engmon.tui.screens.help import HelpScreen
from engmon.tui.screens.opening import OpeningScreen
from engmon.tui.state import ClockState, ViewSettings
from engmon.watch.listener import Listener

# polars and the modules that compute with it load after the first frame (see `Opening`)
if TYPE_CHECKING:
    from engmon.core.alerts import Alert
    from engmon.core.outlook import OutlookTracker
    from engmon.core.store import ObservationStore
    from engmon.tui.screens.dashboard import DashboardScreen
    from engmon.tui.viewmodel import DashboardView, VerdictPhrase
    from engmon.watch.poller import SourcePoller, SourceStatus
    from engmon.watch.session import Session, SourcePolled

RENDER_INTERVAL = 0.1
"""Seconds between render ticks (a redraw happens only when something changed)."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Signals that close the dashboard as `q` does (also when started with SIGINT ignored)."""
USER_ERROR = 2
"""Exit code when an opening's session could not be built (the CLI's for user errors)."""
OPENING_DISABLED = frozenset(
    {"command_palette", *(key.action.split("(")[0] for key in DASHBOARD_KEYS)} - {"quit"}
)
"""Actions that wait for the session (shown dimmed until then)."""


class MessagePoster(Listener):
    """Turns what the session reports into messages to the app (messages up)."""

    def __init__(self, app: EngmonApp) -> None:
        self.app = app

    def source_polled(self, event: SourcePolled) -> None:
        self.app.post_message(SourceStatusChanged(event.status))
        if event.problem:
            self.app.post_message(ProblemReported(event.problem))

    def alert_fired(self, alert: Alert) -> None:
        self.app.post_message(AlertFired(alert))

    def problem(self, text: str) -> None:
        self.app.post_message(ProblemReported(text, "engmon alert"))


@dataclass(frozen=True)
class Opening:
    """A dashboard whose session is built after its first frame: that frame shows `campaign`
    in the header as of `clock`, and the layout; `build` (run in a thread once the frame is
    out) imports polars, makes the data and returns the session."""

    campaign: Campaign
    clock: ClockState
    build: Callable[[], Session]


class EngmonApp(DrilldownApp):
    """The dashboard. See the module docstring for the data flow."""

    CSS_PATH = "engmon.tcss"
    TITLE = "engmon"
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        *bindings(DASHBOARD_KEYS)
    ]

    def __init__(
        self,
        session: Session | Opening,
        *,
        settings: ViewSettings | None = None,
        render_interval: float = RENDER_INTERVAL,
        verdict_phrases: Sequence[VerdictPhrase] = (),
        stop_on_signals: bool = False,
    ) -> None:
        super().__init__()
        self.opening = session if isinstance(session, Opening) else None
        self.failure: EngmonError | None = None  # why an opening's session could not be built
        if not isinstance(session, Opening):
            self.attach(session)
        self.settings = settings or ViewSettings()
        self.render_interval = render_interval
        self.verdict_phrases = list(verdict_phrases)
        self.stop_on_signals = stop_on_signals
        self._told: dict[str, str | None] = {}  # the last error notified per source
        self.view: DashboardView | None = None
        self.frozen_at: datetime | None = None  # a paused live clock shows this instant
        self._view_key: object = None
        self._outlook_due: Timer | None = None
        self.renders = 0
        self._narrow_footer: bool | None = None
        self._focus_keys = False

    def attach(self, session: Session) -> None:
        """Make `session` the one this dashboard shows and runs."""
        self.session = session
        session.listener = MessagePoster(self)

    @property
    def opened(self) -> bool:
        """True once the session exists (from the start, unless built after an opening)."""
        return self.opening is None

    # --- what the session holds (read by the view) ------------------------------------------
    @property
    def campaign(self) -> Campaign:
        """The watched campaign."""
        return self.session.campaign

    @property
    def clock(self) -> Clock:
        """The session's clock (wall time, or a replay's)."""
        return self.session.clock

    @property
    def store(self) -> ObservationStore:
        """The session's store."""
        return self.session.store

    @property
    def outlook(self) -> OutlookTracker:
        """Forecast and expected band of past posts."""
        return self.session.outlook

    @property
    def monotonic(self) -> Callable[[], float]:
        """The session's monotonic clock (retry times on the sources line)."""
        return self.session.monotonic

    @property
    def pollers(self) -> dict[str, SourcePoller]:
        """One poller per source, by name."""
        return self.session.pollers

    @property
    def statuses(self) -> dict[str, SourceStatus]:
        """Each source's current status, by name."""
        return self.session.statuses

    @property
    def alerts_fired(self) -> list[Alert]:
        """Every alert delivered so far."""
        return self.session.alerts_fired

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def dashboard(self) -> DashboardScreen:
        """The dashboard screen (at the bottom of the stack, or just above an opening)."""
        from engmon.tui.screens.dashboard import DashboardScreen

        screen = self.dashboard_screen
        assert isinstance(screen, DashboardScreen)
        return screen

    def get_default_screen(self) -> Screen[None]:
        if self.opening is not None:
            return OpeningScreen(self.opening.campaign, self.opening.clock)
        from engmon.tui.screens.dashboard import DashboardScreen

        return DashboardScreen()

    def on_mount(self) -> None:
        self.fit_footer(self.size.width)
        if self.stop_on_signals:
            # `kill -INT` / `kill -TERM` close the app as `q` does (history saved, recording
            # closed), also when the process began with SIGINT ignored (a background job)
            loop = asyncio.get_running_loop()
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, self.exit)
        # the first frame goes out before the first poll (a replay's first rows, a live
        # source's requests): the screen shows at once, and fills as the rows arrive; an
        # opening's frame goes out even before the session (and polars) exists
        if self.opening is not None:
            self.call_after_refresh(self._build_session)
        else:
            self.call_after_refresh(self._start_pollers)
        self.set_interval(self.render_interval, self.refresh_dashboard, name="render")
        if not self.is_headless and not self.is_web:  # in a browser, stdin is a pipe
            self.set_interval(1.0, self.check_terminal, name="terminal")

    def on_resize(self, event: events.Resize) -> None:
        self.fit_footer(event.size.width)

    def fit_footer(self, width: int, *, focused: bool | None = None) -> None:
        """Show every key in the Footer when it fits, else the essential ones (`q`, `?` last);
        a focused curve or table puts its own keys first, which takes about 25 columns more."""
        if focused is None:
            focused = self._focus_keys
        self._focus_keys = focused
        narrow = width < FULL_FOOTER_WIDTH + (FOCUS_KEYS_WIDTH if focused else 0)
        if narrow == self._narrow_footer:
            return
        self._narrow_footer = narrow
        fitted = BindingsMap(bindings(DASHBOARD_KEYS, narrow=narrow))
        for key, chosen in fitted.key_to_bindings.items():
            self._bindings.key_to_bindings[key] = chosen
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Replay-clock keys (speed, seek) do nothing on a live watch: hidden there. Before
        the session exists only quitting works; the other keys show, dimmed."""
        if self.opening is not None:
            live = self.opening.clock.live
            if action in REPLAY_ACTIONS and live:
                return False
            return None if action in OPENING_DISABLED else True
        return not (action in REPLAY_ACTIONS and self.clock.live)

    def check_terminal(self) -> None:
        """Quit (saving as on `q`) when the terminal is gone: a closed tmux server or SSH link
        does not always deliver SIGHUP, and Textual's input thread then spins on the dead tty."""
        stdin = sys.__stdin__
        if stdin is not None and not os.isatty(stdin.fileno()):
            self.exit()

    async def on_unmount(self) -> None:
        if self.stop_on_signals:
            loop = asyncio.get_running_loop()
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
        if self.opened:
            await self.session.aclose()

    # --- opening: the session built after the first frame ------------------------------------
    def _build_session(self) -> None:
        self.run_worker(self._build_in_thread, name="open", group="open", thread=True)

    def _build_in_thread(self) -> None:
        assert self.opening is not None
        # the dashboard's modules (polars, plotext) first: a replay's clock starts with its
        # session, and should not run while they load
        import engmon.tui.screens.dashboard  # noqa: F401

        try:
            session = self.opening.build()
        except EngmonError as exc:
            self.call_from_thread(self._fail, exc)
            return
        self.call_from_thread(self._open, session)

    def _fail(self, error: EngmonError) -> None:
        self.failure = error
        self.exit(return_code=USER_ERROR)

    def _open(self, session: Session) -> None:
        """Put the session in place of the opening: the dashboard replaces its frame (and is
        drawn before the first poll, as on a start with the session ready)."""
        from engmon.tui.screens.dashboard import DashboardScreen

        self.attach(session)
        self.opening = None
        # pushed over the opening (Textual cannot switch its default screen away, and a mode
        # of its own costs a restyle of every widget): see `dashboard_screen`
        self.push_screen(DashboardScreen())
        self.refresh_bindings()
        self.call_after_refresh(self._start_pollers)

    # --- polling ---------------------------------------------------------------------------
    def _start_pollers(self) -> None:
        for poller in self.pollers.values():
            self.start_polling(poller)

    def start_polling(self, poller: SourcePoller) -> None:
        """Start the one worker that runs this source's poll loop for the app's lifetime."""
        name = poller.source.name
        self.run_worker(
            self.session.poll_source(poller),
            name=f"poll {name}",
            group=f"poll:{name}",
            exclusive=True,
            exit_on_error=False,
        )

    def on_source_status_changed(self, message: SourceStatusChanged) -> None:
        status = message.status
        if status.last_error and self._told.get(status.name) != status.last_error:
            # the sources line shows a short reason; the whole line once, as a notification
            self.notify(status.last_error, title=status.name, severity="warning", timeout=8)
        self._told[status.name] = status.last_error

    def on_alert_fired(self, message: AlertFired) -> None:
        self.bell()
        self.notify(message.alert.message, title="engmon alert", severity="warning", timeout=10)

    def on_problem_reported(self, message: ProblemReported) -> None:
        self.notify(message.text, title=message.title, severity="error", timeout=10)

    def on_view_settings_changed(self, message: ViewSettingsChanged) -> None:
        self.refresh_dashboard()

    # --- the view --------------------------------------------------------------------------
    def now(self) -> datetime:
        """The instant the dashboard shows: `Session.now` (a playing replay's held to the rows
        read), or a paused live clock's pause."""
        return self.frozen_at or self.session.now()

    def clock_state(self) -> ClockState:
        """What the header shows about the clock."""
        clock = self.clock
        paused = self.frozen_at is not None if clock.live else clock.paused
        at_end = isinstance(clock, ReplayClock) and clock.at_end
        return ClockState(self.now(), clock.live, clock.speed, paused, at_end)

    def progress_text(self) -> str:
        """`replaying 400k/1.0M rows` while a replay catches up with its clock."""
        return " · ".join(
            f"loading {name} {compact_count(p.done)}/{compact_count(p.total)} rows"
            for name, (p, catching_up) in self.session.progress.items()
            if catching_up and p.done < p.total
        )

    def refresh_dashboard(self) -> None:
        """Render tick: header and sources always; the view only when its inputs changed."""
        if not self.opened:
            return
        from engmon.tui.screens.dashboard import DashboardScreen

        screen = self.dashboard_screen
        if not isinstance(screen, DashboardScreen) or not screen.ready:
            return
        try:
            self._redraw(screen)
        except NoMatches:  # a tick that fired while the app shuts down and widgets are gone
            return

    def _redraw(self, screen: DashboardScreen) -> None:
        from engmon.core.judge import SHIPPED
        from engmon.core.metrics import now_minute_of, pick_headline
        from engmon.core.schema import FOLLOWERS
        from engmon.tui.viewmodel import compute_view, with_outlook

        for poller in self.session.rewind_if_ahead():  # a seek back, then play: no future
            self.start_polling(poller)
        clock = self.clock_state()
        post_time = self.campaign.post_time or self.store.post_time
        screen.show_clock(self.campaign, post_time, clock)
        screen.show_sources(self.statuses.values(), self.monotonic())
        elapsed = (clock.now - post_time).total_seconds() if post_time else 0.0
        progress = self.progress_text()
        # a replay that delivered every row with its clock at the end: the forecast is the count
        delivered = all(p.done >= p.total for p, _ in self.session.progress.values())
        final = clock.at_end and bool(self.session.progress) and delivered
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
        whole = not self.filters  # a slice is judged on its own numbers, compared with nothing
        view = compute_view(
            self.store,
            self.campaign,
            clock.now,
            self.settings,
            phrases=self.verdict_phrases,
            outlook=outlook,
            history=self.outlook.history(outlook.metric) if outlook and whole else None,
            public_rank=SHIPPED if whole else None,
            **self.view_inputs(),
        )
        band = (
            None
            if self.filters
            else self.outlook.band(view.curve.metric, view.curve.width, view.followers)
        )
        self.view = with_outlook(view, outlook, band)
        self.session.check_alerts()  # also after a seek, or once every source is done
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
        """auto → 1m → 5m → 15m → 1h → 6h → 1d → auto, skipping (and saying so) widths that
        would draw more bars than the curve has room for at this span."""
        span = max(1, self.view.now_minute) if self.view is not None else 1  # 1m bars drawn
        since = span_text(self.view.elapsed_s) if self.view is not None else "1m"
        from engmon.core.metrics import BUCKET_WIDTHS
        from engmon.tui.viewmodel import MAX_CURVE_BUCKETS
        from engmon.tui.widgets.statusline import width_text

        cycle: tuple[int | None, ...] = (None, *BUCKET_WIDTHS)  # auto, then every offered width
        index = cycle.index(self.settings.bucket_width)
        skipped: list[int] = []
        for step in range(1, len(cycle) + 1):
            width = cycle[(index + step) % len(cycle)]
            if width is None or span / width <= MAX_CURVE_BUCKETS:
                break
            skipped.append(width)
        if skipped:
            too_fine = ", ".join(width_text(w) for w in skipped)
            self.notify(f"{too_fine}: too many bars for {since} since the post")
        self.change_settings("bucket", bucket_width=width)

    def action_help(self) -> None:
        """Show the keys."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in DASHBOARD_KEYS:
            if key.action == "quit" or not self.check_action(key.action.split("(")[0], ()):
                continue
            shown = key.display or key.keys.split(",")[0]
            action = "drill" if key.action == "cursor_bucket" else key.action
            yield SystemCommand(key.help, f"key {shown}", self._command(action))

    def _command(self, action: str) -> Callable[[], object]:
        async def run() -> None:
            await self.run_action(action)

        return run


def run_dashboard(
    session: Session | Opening,
    *,
    settings: ViewSettings | None = None,
    export_dir: Path | None = None,
) -> None:
    """Open the dashboard on `session` in the terminal until the user quits (or SIGINT/SIGTERM).

    The session says what runs: its clock is a WallClock (header LIVE, polls recorded) or a
    ReplayClock (REPLAY Nx, seekable); its store may arrive pre-loaded (a resumed watch). An
    `Opening` draws the first frame first and builds the session after it; an `EngmonError`
    raised while building it is raised here once the terminal is restored. `export_dir` is
    where `e` writes (the config's `[export] dir`; default ./exports).
    """
    app = EngmonApp(session, settings=settings, stop_on_signals=True)
    if export_dir is not None:
        app.export_dir = export_dir
    app.run()
    if app.failure is not None:  # an opening's session could not be built: the CLI says why
        raise app.failure
    if app.return_code:  # Textual printed the traceback and returns; the shell must see it
        raise SystemExit(app.return_code)
