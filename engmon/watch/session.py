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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from engmon import __version__
from engmon.config import CampaignConfig
from engmon.core.alerts import AlertRules
from engmon.core.recording import (
    RecordingWriter,
    is_recording,
    read_recording,
)
from engmon.core.store import MergeResult, ObservationStore
from engmon.sources.base import PollResult
from engmon.watch.poller import SourcePoller

BUG_RETRY_S = 30.0  # a source that raised something other than a SourceError


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

    def close(self) -> None:
        """Close the recording (everything is already on disk)."""
        self.recorder.close()


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


def alert_rules(config: CampaignConfig) -> AlertRules:
    """The campaign file's `[alerts]` table as rules."""
    alerts = config.alerts
    return AlertRules(
        spike_per_min=alerts.spike_per_min,
        flat_minutes=alerts.flat_minutes,
        command=tuple(alerts.command),
        cooldown_s=alerts.cooldown_s,
        webhooks=tuple(alerts.webhooks),
    )
