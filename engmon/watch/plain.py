"""`engmon watch --plain`: a session's sources polled, one line per poll, alerts as ALERT lines."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from typing import TextIO

from engmon.core.alerts import Alert
from engmon.core.campaign import Campaign
from engmon.core.judge import judge
from engmon.core.outlook import OutlookTracker
from engmon.core.printable import printable
from engmon.core.schema import CONVERSIONS
from engmon.core.standing import Standing, standing_at
from engmon.core.store import ObservationStore
from engmon.core.verdict import Verdict, peak_text, rate_text
from engmon.core.words import compact_count
from engmon.core.zone import local
from engmon.watch.listener import Listener
from engmon.watch.session import Session, SourcePolled

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Signals that end a watch cleanly (recording flushed and closed, exit 0)."""


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


def watch_verdict(
    store: ObservationStore, campaign: Campaign, now: datetime, tracker: OutlookTracker
) -> tuple[Standing, Verdict] | None:
    """The standing and the dashboard's verdict at `now` (the same forecast, past posts and
    public reference: `tracker` is the session's); None before there is a post time."""
    numbers = watch_standing(store, campaign, now)
    if numbers is None:
        return None
    outlook = tracker.update(store, campaign, now, numbers.headline)
    history = tracker.history(numbers.headline) if outlook is not None else None
    return numbers, judge(numbers, history=history, outlook=outlook)


def standing_text(standing: Standing | None, verdict: Verdict | None = None) -> str:
    """`clicks 12, replies 3, likes 40 | engaged 15, 7.5 per 1k, clicks now 2.1/min, peak
    6/min at +3m | ahead, slowing`: the counts per metric, the headline figures, the trend."""
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
    if CONVERSIONS in standing.present:
        rate = standing.conversion_rate
        shown = "" if rate is None else f" ({rate * 100:.1f}% of clicks)"
        figures.append(f"conversions {compact_count(standing.conversions)}{shown}")
    if standing.visitors_now is not None:
        figures.append(f"visitors now {compact_count(standing.visitors_now)}")
    trend = "" if verdict is None else f" | {verdict.trend}"
    return f"{counts} | {', '.join(figures)}{trend}"


def poll_line(session: Session, event: SourcePolled, now: datetime | None = None) -> str:
    """One log line for one poll: time, source, state, what came or what failed, then the
    standing (counts and the headline's rate now and peak)."""
    status = event.status
    at = now or datetime.now(UTC)
    stamp = local(at).strftime("%H:%M:%S")  # the zone of --tz / [campaign] tz
    if event.merged is None:
        return f"{stamp} {status.name:<12} {status.state:<8} {_tail(status.last_error or '')}" + (
            f"; next try in {event.delay:.0f}s"
        )
    judged = watch_verdict(session.store, session.campaign, at, session.outlook)
    shown = standing_text(*judged) if judged is not None else standing_text(None)
    facts = "".join(f", {name} {value:g}" for name, value in status.facts.items())
    line = (
        f"{stamp} {status.name:<12} {status.state:<8} {status.summary}"
        f" ({event.merged.changed} changed){facts} | {shown}"
    )
    if status.state in ("retrying", "failed") and status.last_error:  # kept part, failed rest
        line += f" | {_tail(status.last_error)}; next try in {event.delay:.0f}s"
    return line


class PlainPrinter(Listener):
    """Prints what the session reports: one line per poll, ALERT lines (with a bell on a
    terminal), problems."""

    def __init__(self, session: Session, stream: TextIO) -> None:
        self.session = session
        self.stream = stream
        self.bell = "\a" if stream.isatty() else ""

    def _print(self, text: str, bell: str = "") -> None:
        # source names, metric names and error lines come from feeds: escapes made visible
        print(bell + printable(text), file=self.stream, flush=True)

    def source_polled(self, event: SourcePolled) -> None:
        self._print(poll_line(self.session, event, self.session.now()))
        if event.problem:
            self._print(
                f"{local(datetime.now(UTC)):%H:%M:%S} {event.status.name:<12} {event.problem}"
            )

    def alert_fired(self, alert: Alert) -> None:
        self._print(f"{local(alert.at):%H:%M:%S} ALERT {alert.message}", bell=self.bell)

    def problem(self, text: str) -> None:
        self._print(f"{local(self.session.clock.now()):%H:%M:%S} ALERT {text}")


async def watch_plain(
    session: Session,
    *,
    out: TextIO | None = None,
    duration: float | None = None,
    stop_on_signals: bool = False,
) -> None:
    """Run the session's sources, printing one line per poll, until `duration`, cancelled, or
    (with `stop_on_signals`) SIGINT/SIGTERM.

    The signal handlers are installed explicitly: a watch started as a background job from a
    script begins with SIGINT ignored, and must still stop on `kill -INT`.
    """
    stream = out or sys.stdout
    session.listener = PlainPrinter(session, stream)
    if session.reloaded_rows and session.recorder is not None:
        print(
            f"continuing {session.recorder.path}: reloaded {session.reloaded_rows} rows",
            file=stream,
            flush=True,
        )
    runner = asyncio.create_task(session.run(duration=duration))
    loop = asyncio.get_running_loop()
    if stop_on_signals:
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, runner.cancel)
    try:
        await asyncio.gather(runner, return_exceptions=True)
    finally:
        if stop_on_signals:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def run_plain_watch(session: Session, *, duration: float | None = None) -> None:
    """The plain watch from synchronous code (the CLI): run it, then close its client."""

    async def run() -> None:
        try:
            await watch_plain(session, duration=duration, stop_on_signals=True)
        finally:
            await session.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
