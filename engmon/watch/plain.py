"""`engmon watch --plain`: every source polled, one line per poll, alerts as ALERT lines."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import TextIO

import httpx

from engmon.core.alerts import Alert, AlertRunner, store_facts
from engmon.core.clock import WallClock
from engmon.core.store import MergeResult
from engmon.watch.poller import SourcePoller
from engmon.watch.session import LiveWatch, alert_rules, make_client, run_poller
from engmon.watch.webhooks import deliver_alert


def _tail(text: str) -> str:
    return text if len(text) <= 160 else text[:157] + "..."


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
            if runner.rules.command or runner.rules.webhooks:  # in the background: never wait
                task = asyncio.create_task(run_and_report(alert))
                commands.add(task)
                task.add_done_callback(commands.discard)

    async def run_and_report(alert: Alert) -> None:
        for problem in await deliver_alert(http, runner, alert, watch.config.campaign.name):
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
        if commands:  # let a running alert command or webhook finish (each has its timeout)
            await asyncio.gather(*commands, return_exceptions=True)
        if own_client:
            await http.aclose()
