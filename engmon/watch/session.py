"""The one watch runtime: a `Session` that the plain watch and the dashboard both run.

A session holds the store, the recording (live watches only), one `SourcePoller` per source,
the alert rules with the expected band of past posts, and the one shared `httpx.AsyncClient`.
`poll_source` is the only poll loop: poll, record the raw rows (flushed and fsynced), merge
them, check the alerts, tell the listener; then sleep the poller's delay, so the next poll of a
source is scheduled when the last one finished (never overlapping, never cancelled in flight).
The plain watch runs the loops as asyncio tasks (`run`), the dashboard as Textual workers;
both only present what the session reports through its `Listener`. A replay is a session on
a replay clock with no recording: nothing here asks which kind of source it polls.

A watch restarted on an existing recording first reloads it into the store (buckets replace,
events dedupe, counters keep their high-water mark), so nothing is counted twice. Nothing here
imports textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from engmon import __version__
from engmon.config import CampaignConfig
from engmon.core import metrics
from engmon.core.alerts import Alert, AlertFacts, AlertRules, AlertRunner, standing_facts
from engmon.core.campaign import Campaign
from engmon.core.clock import Clock, ReplayClock, WallClock
from engmon.core.outlook import OutlookTracker
from engmon.core.recording import RecordingWriter, is_recording, read_recording
from engmon.core.schema import UTC_US
from engmon.core.standing import Standing, standing_at
from engmon.core.store import MergeResult, ObservationStore
from engmon.sources.base import LocalSource, PollResult, Progress, Source
from engmon.sources.playback import ReplaySource
from engmon.watch.listener import Listener
from engmon.watch.poller import SourcePoller, SourceStatus

if TYPE_CHECKING:  # httpx loads with the first HTTP source or webhook, not for a replay
    import httpx

BUG_RETRY_S = 30.0
"""Pause after a source raised something other than a SourceError (a bug)."""

SHUTDOWN_GRACE_S = 3.0
"""Seconds a stopping watch waits for polls in flight, so what they fetch is recorded."""


def make_client(timeout: float = 10.0) -> httpx.AsyncClient:
    """The one shared HTTP client of a watch (timeouts always set)."""
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": f"engmon/{__version__}"},
        follow_redirects=True,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
    )


@dataclass(frozen=True)
class SourcePolled:
    """One turn of a source's poll loop, as the surfaces show it.

    `status` is a copy (the poller keeps changing its own); `merged` is None when the poll
    failed; `progress` is how far a finite source got and `catching_up` whether more of it is
    due right away (a replay jumping ahead); `problem` a line to show (the recording failed).
    """

    status: SourceStatus
    merged: MergeResult | None = None
    delay: float = 0.0
    progress: Progress | None = None
    catching_up: bool = False
    problem: str | None = None


class Session:
    """Store + recording + pollers + alerts + the shared client: one watch, live or replayed."""

    def __init__(
        self,
        campaign: Campaign,
        sources: Sequence[Source],
        clock: Clock | None = None,
        *,
        store: ObservationStore | None = None,
        recorder: RecordingWriter | None = None,
        client: httpx.AsyncClient | None = None,
        alerts: AlertRules | None = None,
        history_dir: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        reloaded_rows: int = 0,
    ) -> None:
        self.campaign = campaign
        self.sources = list(sources)
        self.clock: Clock = clock or WallClock()
        self.store = store if store is not None else ObservationStore(campaign.post_time)
        self.recorder = recorder
        self._client = client
        self._owns_client = client is None
        self.monotonic = monotonic
        self.reloaded_rows = reloaded_rows
        self.pollers: dict[str, SourcePoller] = {
            s.name: SourcePoller(s, clock=monotonic) for s in self.sources
        }
        self.progress: dict[str, tuple[Progress, bool]] = {}
        # forecast and expected band of past posts (read from / saved to `history_dir`)
        self.outlook = OutlookTracker(history_dir)
        self.alert_runner = AlertRunner(alerts or AlertRules())
        self.alerts_fired: list[Alert] = []
        self.listener = Listener()
        self._alert_key: object = None
        self._alert_elapsed: float | None = None
        self._commands: set[asyncio.Task[None]] = set()
        self._closed = False
        self._stopping = asyncio.Event()

    @classmethod
    def open(
        cls, config: CampaignConfig, record_path: Path, *, history_dir: Path | None = None
    ) -> Session:
        """A live watch of `config`: open (or continue) the recording and reload what it holds."""
        store = ObservationStore(config.campaign.post_time)
        reloaded = 0
        if record_path.exists() and is_recording(record_path):
            previous = read_recording(record_path)
            if not previous.frame.is_empty():
                store.merge(previous.frame)
                reloaded = previous.frame.height
                for source in config.sources:  # what each already wrote is not written again
                    source.resume(previous.frame.filter(pl.col("source") == source.name))
        recorder = RecordingWriter(record_path, config.campaign)
        return cls(
            config.campaign,
            config.sources,
            WallClock(),
            store=store,
            recorder=recorder,
            alerts=config.alerts,
            history_dir=history_dir,
            reloaded_rows=reloaded,
        )

    # --- the client --------------------------------------------------------------------------
    @property
    def client(self) -> httpx.AsyncClient:
        """The shared HTTP client (made on first use, inside the running loop, when none was
        given)."""
        if self._client is None:
            self._client = make_client()
        return self._client

    @property
    def statuses(self) -> dict[str, SourceStatus]:
        """Each source's current status, by name."""
        return {name: poller.status for name, poller in self.pollers.items()}

    # --- the poll loop -------------------------------------------------------------------------
    def accept(self, result: PollResult) -> tuple[MergeResult, str | None]:
        """Record a poll's raw rows durably (live watches), then merge them into the store.

        Returns the merge and, when the recording failed, a line saying so: the rows are
        merged all the same (the screen keeps them)."""
        problem = None
        if self.recorder is not None and not result.frame.is_empty():
            try:
                self.recorder.append(result.frame)
            except OSError as exc:
                problem = f"recording failed: {exc}"
        frame = result.frame
        if isinstance(self.clock, ReplayClock) and not frame.is_empty():
            # rows taken before a seek back are the future now: `rewind_if_ahead` hands them
            # out again when the clock reaches them
            frame = frame.filter(pl.col("ts") <= pl.lit(self.clock.now(), dtype=UTC_US))
        return self.store.merge(frame), problem

    def rewind_if_ahead(self) -> list[SourcePoller]:
        """After a seek back the store still holds rows past the replay clock. Views count
        whole minutes, the clock's own included, so those rows would show as the present:
        rebuild the store from the replayed rows up to the clock (playing or paused; a
        million rows take a fraction of a second). Returns the pollers to start again (a
        finished replay has more to hand out)."""
        clock, post_time = self.clock, self.post_time
        replays = [s for s in self.sources if isinstance(s, ReplaySource)]
        if not isinstance(clock, ReplayClock) or post_time is None or not replays:
            return []
        now = clock.now()
        if not any((s.reached or now) > now for s in replays):
            return []
        store = ObservationStore(self.store.post_time)
        store.revision = self.store.revision + 1  # caches keyed on the revision stay apart
        for source in replays:
            source.rewind()
            while not (rows := source.take_until(now)).is_empty():
                store.merge(rows)
        self.store = store
        self.progress.clear()
        self.alert_runner.reset()  # what fired is in the clock's future
        return [self.pollers[source.name] for source in replays]

    async def poll_source(self, poller: SourcePoller) -> None:
        """Poll one source until it is done or cancelled; never raises for a source's failure.

        Poll, record + merge, check alerts, tell the listener, then sleep the poller's delay:
        the next poll starts when the last one finished.
        """
        while True:
            event = await self.poll_turn(poller)
            self.listener.source_polled(event)
            if event.status.state == "done" or self._stopping.is_set():
                return
            # sleep until the next poll is due, or until the watch is told to stop
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), event.delay)
            if self._stopping.is_set():
                return

    async def poll_turn(self, poller: SourcePoller) -> SourcePolled:
        """One turn of the loop: one poll, its rows recorded and merged, the alerts checked."""
        try:
            # a replay polls no network: no client is made for it (nor httpx imported);
            # the clock's own time: a paused live panel still polls the present
            client = None if isinstance(poller.source, LocalSource) else self.client
            result = await poller.poll_once(client, self.clock.now())
        except Exception as exc:  # a bug in one source must not end the watch: status instead
            status = poller.status
            status.state, status.errors = "retrying", status.errors + 1
            # a transport error's own text can quote a request header: never show it raw
            import httpx

            from engmon.sources.http import transport_reason

            detail = transport_reason(exc) if isinstance(exc, httpx.RequestError) else exc
            status.last_error = f"{poller.source.name}: {type(exc).__name__}: {detail}"
            status.retry_at = self.monotonic() + BUG_RETRY_S
            return SourcePolled(copy.copy(status), delay=BUG_RETRY_S)
        merged: MergeResult | None = None
        problem = None
        progress: Progress | None = None
        catching_up = False
        if result is not None:
            merged, problem = self.accept(result)
            if result.progress is not None:
                progress = result.progress
                catching_up = result.retry_in == 0.0  # a full chunk: more is due right away
                self.progress[poller.source.name] = (progress, catching_up)
        self.check_alerts()
        status = copy.copy(poller.status)
        return SourcePolled(status, merged, poller.delay(), progress, catching_up, problem)

    async def run(self, *, duration: float | None = None) -> None:
        """Run every source's loop as a task until all are done, `duration` passed, or this is
        cancelled; then stop them and wait for running alert commands."""
        tasks = [
            asyncio.create_task(self.poll_source(poller), name=name)
            for name, poller in self.pollers.items()
        ]
        try:
            if tasks:
                await asyncio.wait(tasks, timeout=duration)
        finally:
            # no new polls; a poll in flight may finish, so what it fetches is recorded
            self._stopping.set()
            running = [task for task in tasks if not task.done()]
            if running:
                await asyncio.wait(running, timeout=SHUTDOWN_GRACE_S)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.wait_for_commands()

    # --- numbers and alerts --------------------------------------------------------------------
    @property
    def post_time(self) -> datetime | None:
        """The post time: the campaign's, else the store's anchor (a replayed file's start)."""
        return self.campaign.post_time or self.store.post_time

    def now(self) -> datetime:
        """The instant the numbers are of: the clock's, held back while a replay plays to the
        instant its sources have handed out every row up to. Between two polls a fast replay's
        clock runs minutes ahead of the rows merged, and those minutes would read as empty: a
        falling rate, no visitors now, a flat stretch. A paused replay shows its clock: a seek
        moves the header at once and the next poll (a tenth of a second) fills the numbers."""
        now = self.clock.now()
        if isinstance(self.clock, ReplayClock) and not self.clock.paused:
            for source in self.sources:
                if isinstance(source, ReplaySource) and source.revealed is not None:
                    now = min(now, source.revealed)
        return now

    def standing(self, now: datetime) -> Standing | None:
        """The numbers at `now` (the same the dashboard, `report` and the plain watch's line
        show); None while no post time is known."""
        post_time = self.post_time
        if post_time is None:
            return None
        return standing_at(
            self.store.minutes(),
            self.store.levels(),
            post_time=post_time,
            elapsed_s=(now - post_time).total_seconds(),
            followers=self.campaign.followers,
            names=self.store.metric_names(),
        )

    def _alerts_possible(self) -> bool:
        rules = self.alert_runner.rules
        band = rules.band_spikes and self.outlook.history_dir is not None
        return bool(rules.spike_per_min or rules.flat_minutes or band)

    def check_alerts(self) -> list[Alert]:
        """Alerts due at the clock's now (each kind once per cool-down): their commands start,
        the listener hears of them. Computed only when the store or the minute changed."""
        post_time = self.post_time
        if post_time is None or not self._alerts_possible():
            return []
        now = self.now()
        elapsed_s = (now - post_time).total_seconds()
        key = (self.store.revision, metrics.now_minute_of(elapsed_s))
        if key == self._alert_key:
            return []
        self._alert_key = key
        # a seek back is told by the clock itself: the numbers' instant also steps back when
        # a fast replay is resumed (held to the rows read again), which is no seek
        clock_s = (self.clock.now() - post_time).total_seconds()
        if self._alert_elapsed is not None and clock_s < self._alert_elapsed - 60:
            self.alert_runner.reset()  # a replay seeked back: what fired is in its future
        self._alert_elapsed = clock_s
        if self.store.minutes().is_empty() and not self.alert_runner.rules.flat_minutes:
            return []
        standing = self.standing(now)
        if standing is None:
            return []
        facts = standing_facts(standing, now)
        minute_band = self.outlook.band(facts.metric, 1, standing.followers)
        if minute_band is not None:
            at = minute_band.filter(pl.col("minute") == metrics.now_minute_of(elapsed_s) - 1)
            if at.height:
                facts = replace(facts, band_p90=float(at.get_column("p90")[0]))
        return self.fire(facts)

    def fire(self, facts: AlertFacts) -> list[Alert]:
        """Deliver the alerts `facts` make due: start the command and webhooks, tell the
        listener."""
        due = self.alert_runner.check(facts)
        for alert in due:
            self.alerts_fired.append(alert)
            rules = self.alert_runner.rules
            if rules.command or rules.webhooks:  # in the background: a slow hook never waits
                task = asyncio.get_running_loop().create_task(self._deliver(alert))
                self._commands.add(task)
                task.add_done_callback(self._commands.discard)
            self.listener.alert_fired(alert)
        return due

    async def _deliver(self, alert: Alert) -> None:
        from engmon.watch.webhooks import deliver_alert

        problems = await deliver_alert(self.client, self.alert_runner, alert, self.campaign.name)
        for problem in problems:  # a command or hook that fails must not fail silently
            self.listener.problem(problem)

    async def wait_for_commands(self) -> None:
        """Let running alert commands and webhooks finish (each has its own timeout)."""
        if self._commands:
            await asyncio.gather(*self._commands, return_exceptions=True)

    # --- the end -------------------------------------------------------------------------------
    def save_history(self) -> Path | None:
        """Keep this post's curve among the past posts the band is drawn from."""
        return self.outlook.save(self.store, self.campaign)

    def close(self) -> None:
        """Close the recording (everything is already on disk)."""
        if self.recorder is not None:
            self.recorder.close()

    async def aclose(self, *, save_history: bool = True) -> None:
        """End the watch: wait for alert commands, keep the post in the history, release the
        sources and the client, close the recording. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self.wait_for_commands()
        if save_history:
            try:
                self.save_history()
            except OSError:  # the history is a convenience: never fail the exit on it
                self.listener.problem("history not saved")
        for source in self.sources:
            await source.aclose()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
        self.close()
