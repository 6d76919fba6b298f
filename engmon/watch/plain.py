"""`engmon watch --plain`: every source polled, one line per poll, alerts as ALERT lines."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import TextIO

import httpx

from engmon.core.alerts import Alert, AlertRunner, standing_facts
from engmon.core.campaign import Campaign
from engmon.core.clock import WallClock
from engmon.core.standing import Standing, standing_at
from engmon.core.store import MergeResult, ObservationStore
from engmon.core.verdict import compact_count, peak_text, rate_text
from engmon.watch.poller import SourcePoller
from engmon.watch.session import LiveWatch, alert_rules, make_client, run_poller
from engmon.watch.webhooks import deliver_alert


def _tail(text: str) -> str:
    return text if len(text) <= 160 else text[:157] + "..."


def watch_standing(store: ObservationStore, campaign: Campaign, now: datetime) -> Standing | None:
    """The watched post's standing at `now` (None while neither config nor data gave a post
    time): the same numbers the dashboard and `report` show at that clock."""
    post_time = campaign.post_time or store.post_time
    if post_time is None:
        return None
    return standing_at(
        store.minutes(),
        store.levels(),
        post_time=post_time,
        elapsed_s=(now - post_time).total_seconds(),
        followers=campaign.followers,
        names=store.metric_names(),
    )


def standing_text(standing: Standing | None) -> str:
    """`clicks 12, replies 3, likes 40 | engaged 15, 7.5 per 1k, clicks now 2.1/min, peak
    6/min at +3m`: the counts per metric, then the headline figures."""
    if standing is None or not standing.metrics:
        return "nothing yet"
    counts = ", ".join(
        f"{name} {compact_count(standing.figures(name).count)}" for name in standing.metrics
    )
    unit = standing.headline
    figures = [f"engaged {compact_count(standing.engagement)}"]
    if standing.per_1k is not None:
        figures.append(f"{rate_text(standing.per_1k)} per 1k followers")
    figures.append(f"{unit} now {rate_text(standing.velocity)}/min")
    figures.append(f"peak {peak_text(standing.peak, standing.peak_minute)}")
    return f"{counts} | {', '.join(figures)}"


def poll_line(
    watch: LiveWatch,
    poller: SourcePoller,
    merged: MergeResult | None,
    now: datetime | None = None,
) -> str:
    """One log line for one poll: time, source, state, what came or what failed, then the
    standing (counts and the headline's rate now and peak)."""
    status = poller.status
    at = now or datetime.now(UTC)
    stamp = at.strftime("%H:%M:%S")
    if merged is None:
        wait = poller.delay()
        return f"{stamp} {status.name:<12} {status.state:<8} {_tail(status.last_error or '')}" + (
            f"; next try in {wait:.0f}s"
        )
    shown = standing_text(watch_standing(watch.store, watch.config.campaign, at))
    facts = "".join(f", {name} {value:g}" for name, value in status.facts.items())
    return (
        f"{stamp} {status.name:<12} {status.state:<8} {status.summary}"
        f" ({merged.changed} changed){facts} | {shown}"
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
        print(poll_line(watch, poller, merged, wall.now()), file=stream, flush=True)
        if post_time is None or not (runner.rules.spike_per_min or runner.rules.flat_minutes):
            return
        standing = watch_standing(watch.store, watch.config.campaign, wall.now())
        if standing is None:
            return
        facts = standing_facts(standing, wall.now())
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
