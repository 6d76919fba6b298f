"""Live watching without the dashboard: recording, the poll loop, `check` and `history`.

`LiveWatch` ties a loaded campaign to an `ObservationStore` and a `RecordingWriter`: every
successful poll is appended to the recording (flushed and fsynced) *before* it is merged, so
a `kill -9` loses at most the poll in flight. A watch restarted on an existing recording first
reloads it into the store (buckets replace, events dedupe, counters keep their high-water
mark), so nothing is counted twice. The plain watch (`engmon watch --plain`) runs one worker
per source on one shared `httpx.AsyncClient` and prints one line per poll; the dashboard runs
the same pollers in Textual workers. Nothing here imports textual.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import httpx
import polars as pl

from engmon import __version__
from engmon.config import CampaignConfig, load_campaign
from engmon.core.alerts import Alert, AlertRules, AlertRunner, command_problem, store_facts
from engmon.core.clock import WallClock
from engmon.core.recording import (
    RecordingWriter,
    is_recording,
    read_recording,
    recording_campaign,
)
from engmon.core.schema import breakdown_rows
from engmon.core.store import MergeResult, ObservationStore, observations_to_deltas
from engmon.sources.base import PollResult
from engmon.sources.poller import SourcePoller

RECORDING_SUFFIX = ".ndjson"
BUG_RETRY_S = 30.0  # a source that raised something other than a SourceError


def recordings_dir() -> Path:
    """Where watches are recorded by default: `<user data dir>/engmon/recordings`."""
    import platformdirs

    return platformdirs.user_data_path("engmon", appauthor=False) / "recordings"


def slug(text: str) -> str:
    """A file-name-safe form of a campaign name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "campaign"


def default_recording_path(config: CampaignConfig) -> Path:
    """`<recordings>/<campaign>-<post time>.ndjson` (the same file for a restarted watch)."""
    if config.record is not None:
        return config.record
    post = config.campaign.post_time or datetime.now(UTC)
    return recordings_dir() / f"{slug(config.campaign.name)}-{post:%Y%m%dT%H%M%S}Z.ndjson"


def open_config(path: Path, record: Path | None) -> tuple[CampaignConfig, Path]:
    """Load a campaign and pick its recording; a restarted `posted_at = "now"` keeps its time.

    With `posted_at = "now"` and an existing recording, the post time written in that
    recording wins, so minutes since post stay where they were before the restart.
    """
    config = load_campaign(path)
    target = record or default_recording_path(config)
    if config.posted_now and target.exists() and is_recording(target):
        previous = recording_campaign(target).post_time  # the header line only
        if previous is not None:
            config = load_campaign(path, post_time=previous)
    return config, target


def _tail(text: str) -> str:
    return text if len(text) <= 160 else text[:157] + "..."


@dataclass
class LiveWatch:
    """The store, recording and one poller per source of a live campaign."""

    config: CampaignConfig
    store: ObservationStore
    recorder: RecordingWriter
    pollers: list[SourcePoller]
    reloaded_rows: int = 0

    @classmethod
    def open(cls, config: CampaignConfig, record_path: Path) -> LiveWatch:
        """Open (or continue) the recording and reload what it already holds."""
        store = ObservationStore(config.campaign.post_time)
        reloaded = 0
        if record_path.exists() and is_recording(record_path):
            previous = read_recording(record_path)
            if not previous.frame.is_empty():
                store.merge(previous.frame)
                reloaded = previous.frame.height
        recorder = RecordingWriter(record_path, config.campaign)
        pollers = [SourcePoller(source) for source in config.sources]
        return cls(config, store, recorder, pollers, reloaded)

    def accept(self, result: PollResult) -> MergeResult:
        """Record a poll's raw rows durably, then merge them into the store."""
        self.recorder.append(result.frame)
        return self.store.merge(result.frame)

    def totals(self) -> dict[str, float]:
        """Engagement so far per metric (the curve's sums; breakdown rows excluded)."""
        minutes = self.store.minutes()
        if minutes.is_empty():
            return {}
        sums = minutes.group_by("metric").agg(pl.col("value").sum()).sort("metric")
        return {str(m): float(v) for m, v in sums.iter_rows()}

    def close(self) -> None:
        """Close the recording (everything is already on disk)."""
        self.recorder.close()


def poll_line(watch: LiveWatch, poller: SourcePoller, merged: MergeResult | None) -> str:
    """One log line for one poll: time, source, state, what came or what failed, totals."""
    status = poller.status
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    if merged is None:
        wait = poller.delay()
        return f"{stamp} {status.name:<12} {status.state:<8} {_tail(status.last_error or '')}" + (
            f"; next try in {wait:.0f}s"
        )
    totals = watch.totals()
    shown = ", ".join(f"{metric} {value:g}" for metric, value in totals.items()) or "nothing yet"
    facts = "".join(f", {name} {value:g}" for name, value in status.facts.items())
    return (
        f"{stamp} {status.name:<12} {status.state:<8} {status.summary}"
        f" ({merged.changed} changed) | total: {shown}{facts}"
    )


def make_client(timeout: float = 10.0) -> httpx.AsyncClient:
    """The one shared HTTP client of a watch (timeouts always set)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": f"engmon/{__version__}"},
        follow_redirects=True,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
    )


async def run_poller(
    watch: LiveWatch,
    poller: SourcePoller,
    client: httpx.AsyncClient,
    now: Callable[[], datetime],
    on_poll: Callable[[SourcePoller, MergeResult | None], None],
) -> None:
    """Poll one source until cancelled: poll, record + merge, report, sleep; never overlaps."""
    while True:
        try:
            result = await poller.poll_once(client, now())
        except Exception as exc:  # a bug in one source must not end the watch: status instead
            status = poller.status
            status.state, status.errors = "retrying", status.errors + 1
            status.last_error = f"{poller.source.name}: {type(exc).__name__}: {exc}"
            on_poll(poller, None)
            await asyncio.sleep(BUG_RETRY_S)
            continue
        merged = watch.accept(result) if result is not None else None
        on_poll(poller, merged)
        if poller.status.state == "done":
            return
        await asyncio.sleep(poller.delay())


async def watch_plain(
    watch: LiveWatch,
    *,
    out: TextIO | None = None,
    duration: float | None = None,
    client: httpx.AsyncClient | None = None,
    clock: WallClock | None = None,
) -> None:
    """Run every source's worker, printing one line per poll, until `duration` or cancelled."""
    stream = out or sys.stdout
    wall = clock or WallClock()
    runner = AlertRunner(alert_rules(watch.config))
    post_time = watch.config.campaign.post_time
    commands: set[asyncio.Task[int | None]] = set()
    bell = "\a" if stream.isatty() else ""

    def report(poller: SourcePoller, merged: MergeResult | None) -> None:
        print(poll_line(watch, poller, merged), file=stream, flush=True)
        if post_time is None or not (runner.rules.spike_per_min or runner.rules.flat_minutes):
            return
        facts = store_facts(watch.store.minutes(), watch.store.levels(), post_time, wall.now())
        for alert in runner.check(facts):
            when = alert.at.strftime("%H:%M:%S")
            print(f"{bell}{when} ALERT {alert.message}", file=stream, flush=True)
            if runner.rules.command:
                task = asyncio.create_task(run_and_report(alert))
                commands.add(task)
                task.add_done_callback(commands.discard)

    async def run_and_report(alert: Alert) -> None:
        code = await runner.run_command(alert, watch.config.campaign.name)
        problem = command_problem(runner.rules.command, code)
        if problem is not None:
            print(f"{wall.now():%H:%M:%S} ALERT {problem}", file=stream, flush=True)

    own_client = client is None
    http = client or make_client()
    if watch.reloaded_rows:
        print(
            f"continuing {watch.recorder.path}: reloaded {watch.reloaded_rows} rows",
            file=stream,
            flush=True,
        )
    tasks = [
        asyncio.create_task(
            run_poller(watch, poller, http, wall.now, report), name=poller.status.name
        )
        for poller in watch.pollers
    ]
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=duration)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if commands:  # let a running alert command finish (it has its own timeout)
            await asyncio.gather(*commands, return_exceptions=True)
        if own_client:
            await http.aclose()


async def check_sources(config: CampaignConfig, out: TextIO) -> int:
    """One poll per source, one line each (counts and time range, never a secret).

    Returns the number of sources that failed.
    """
    pollers = [SourcePoller(source) for source in config.sources]
    async with make_client() as client:
        now = datetime.now(UTC)
        results = await asyncio.gather(
            *(poller.poll_once(client, now) for poller in pollers), return_exceptions=True
        )
    failed = 0
    for poller, result in zip(pollers, results, strict=True):
        what = poller.source.describe()
        if isinstance(result, BaseException):
            failed += 1
            print(f"FAIL {what}: {type(result).__name__}: {result}", file=out)
        elif result is None:
            failed += 1
            print(f"FAIL {what}: {poller.status.last_error}", file=out)
        else:
            facts = "".join(f", {name} {value:g}" for name, value in result.facts.items())
            print(f"ok   {what}: {result.summary or 'no data'}{facts}", file=out)
    if not pollers:
        print(f"{config.path}: no [[sources]] to poll", file=out)
    return failed


@dataclass(frozen=True)
class RecordingInfo:
    """One line of `engmon history`."""

    path: Path
    campaign: str
    started: datetime | None
    duration_s: float | None
    totals: dict[str, float]


def recording_info(path: Path) -> RecordingInfo:
    """Campaign, start, duration (start to last write) and engagement totals of a recording."""
    recording = read_recording(path)
    totals: dict[str, float] = {}
    if not recording.frame.is_empty():
        sums = (
            observations_to_deltas(recording.frame.lazy())
            .filter(~breakdown_rows())
            .group_by("metric")
            .agg(pl.col("value").sum())
            .sort("metric")
            .collect()
        )
        totals = {str(m): float(v) for m, v in sums.iter_rows()}
    duration = None
    if recording.started is not None:
        duration = max(0.0, path.stat().st_mtime - recording.started.timestamp())
    return RecordingInfo(path, recording.campaign.name, recording.started, duration, totals)


def list_recordings(folder: Path | None = None) -> list[RecordingInfo]:
    """Every recording in `folder` (default: the recordings dir), oldest first."""
    where = folder or recordings_dir()
    if not where.is_dir():
        return []
    infos = [
        recording_info(path)
        for path in sorted(where.glob(f"*{RECORDING_SUFFIX}"))
        if is_recording(path)
    ]
    return sorted(infos, key=lambda info: info.started or datetime.min.replace(tzinfo=UTC))


def run_dashboard_watch(watch: LiveWatch) -> bool:
    """Open the dashboard on the live watch; False when the dashboard is not installed."""
    try:
        from engmon.tui.app import run_dashboard
    except ImportError:
        return False
    from engmon.core.history import default_history_dir

    run_dashboard(
        watch.config.campaign,
        [poller.source for poller in watch.pollers],
        WallClock(),
        store=watch.store,
        recorder=watch.recorder,
        history_dir=default_history_dir(),
        export_dir=watch.config.export.dir,
        alerts=alert_rules(watch.config),
    )
    return True


def alert_rules(config: CampaignConfig) -> AlertRules:
    """The campaign file's `[alerts]` table as rules."""
    alerts = config.alerts
    return AlertRules(
        spike_per_min=alerts.spike_per_min,
        flat_minutes=alerts.flat_minutes,
        command=tuple(alerts.command),
        cooldown_s=alerts.cooldown_s,
    )
