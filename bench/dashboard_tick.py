"""The dashboard's update per replay tick with 1M observations loaded (goal: median < 16 ms).

Loads N observations (default 1M events over 48 hours, five metrics, referrers, reach) into an
`ObservationStore` in replay-sized chunks, then replays a further stretch tick by tick: each
tick merges the rows a 60x replay reveals in 0.1 s and computes the dashboard's view model
(`compute_view`, what the widgets draw). With `--widgets` (default on) the same ticks run in
`EngmonApp.run_test()` and also push the view into the widgets and repaint the screen.

    python -m bench dashboard_tick            # or: python bench/dashboard_tick.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.clock import ReplayClock
from engmon.core.schema import conform
from engmon.core.store import ObservationStore
from engmon.sources.playback import ReplaySource
from engmon.tui.state import ViewSettings
from engmon.tui.viewmodel import compute_view

POST = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
METRICS = {"clicks": 0.55, "likes": 0.25, "reposts": 0.1, "quotes": 0.04, "replies": 0.06}


def observations(rows: int, hours: float, seed: int = 1) -> pl.DataFrame:
    """`rows` events over `hours` after the post, decaying like a real post's engagement."""
    rng = np.random.default_rng(seed)
    # exponential decay truncated at the horizon (inverse CDF), so nothing piles up at the end
    scale, horizon = hours * 3600e6 / 4, hours * 3600e6
    uniform = rng.random(rows) * (1 - np.exp(-horizon / scale))
    offsets_us = np.sort(-scale * np.log1p(-uniform))
    names = list(METRICS)
    metric = rng.choice(len(names), rows, p=list(METRICS.values()))
    frame = pl.DataFrame(
        {
            "ts": pl.Series(offsets_us.astype(np.int64)).cast(pl.Duration("us")),
            "metric": pl.Series(metric).replace_strict(dict(enumerate(names))),
            "source": "bench",
            "kind": "event",
            "value": 1.0,
            "id": pl.int_range(0, rows, eager=True).cast(pl.String),
            "reach": rng.lognormal(6, 1.5, rows).astype(np.int64),
            "referrer": rng.choice(
                ["t.co", "linkedin.com", "direct", "news.ycombinator.com"], rows
            ),
        }
    ).with_columns(ts=pl.lit(POST, dtype=pl.Datetime("us", "UTC")) + pl.col("ts"))
    return conform(frame).collect()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of `values`."""
    return float(np.percentile(np.array(values), q))


def load(frame: pl.DataFrame, upto: datetime, chunk: int) -> tuple[ObservationStore, ReplaySource]:
    """Merge everything up to `upto` in replay chunks; prints the chunk merge times."""
    store = ObservationStore(post_time=POST)
    source = ReplaySource(frame, max_rows=chunk)
    times: list[float] = []
    began = time.perf_counter()
    while True:
        rows = source.take_until(upto)
        if rows.is_empty():
            break
        start = time.perf_counter()
        store.merge(rows)
        times.append((time.perf_counter() - start) * 1000)
    total = time.perf_counter() - began
    print(
        f"   loaded {store.rows:,} observations in {total:.1f}s"
        f" ({len(times)} chunks of {chunk:,}: median {statistics.median(times):.0f} ms,"
        f" max {max(times):.0f} ms); minutes aggregate: {store.minutes().height:,} rows",
        flush=True,
    )
    return store, source


def tick_times(
    store: ObservationStore, source: ReplaySource, start: datetime, ticks: int, step: timedelta
) -> tuple[list[float], list[float], int]:
    """Per tick: (merge + view) ms, view-only ms, rows merged in total."""
    campaign = Campaign("bench", post_time=POST, followers=1_200_000)
    both: list[float] = []
    view_only: list[float] = []
    merged = 0
    now = start
    settings = ViewSettings()
    for _ in range(ticks):
        now += step
        t0 = time.perf_counter()
        rows = source.take_until(now)
        if not rows.is_empty():
            store.merge(rows)
            merged += rows.height
        t1 = time.perf_counter()
        compute_view(store, campaign, now, settings)
        t2 = time.perf_counter()
        both.append((t2 - t0) * 1000)
        view_only.append((t2 - t1) * 1000)
    return both, view_only, merged


async def widget_ticks(
    store: ObservationStore, source: ReplaySource, start: datetime, ticks: int, step: timedelta
) -> tuple[list[float], list[float]]:
    """The same ticks inside the app (120x40).

    Returns per tick (a) merge + view model + widget updates (`refresh_dashboard`) and
    (b) a full repaint of every widget including a plotext build of the curve, which the app
    throttles to 4/s.
    """
    from engmon.tui.app import EngmonApp
    from engmon.tui.widgets.curve import CurvePlot
    from engmon.watch.session import Session

    campaign = Campaign("bench", post_time=POST, followers=1_200_000)
    clock = ReplayClock(start, speed=60, paused=True, monotonic=lambda: 0.0)
    app = EngmonApp(Session(campaign, [], clock, store=store, monotonic=lambda: 0.0))
    updates: list[float] = []
    repaints: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        curve = app.screen.query_one(CurvePlot)
        now = start
        for _ in range(ticks):
            now += step
            t0 = time.perf_counter()
            rows = source.take_until(now)
            if not rows.is_empty():
                store.merge(rows)
            clock.seek(now)
            app.refresh_dashboard()
            t1 = time.perf_counter()
            curve.flush()
            app.screen._compositor.render_strips()  # paint every widget as the driver would
            t2 = time.perf_counter()
            updates.append((t1 - t0) * 1000)
            repaints.append((t2 - t1) * 1000)
            await pilot.pause()
    return updates, repaints


def report(label: str, values: list[float]) -> None:
    """One line of figures."""
    print(
        f"   {label}: median {statistics.median(values):.2f} ms, p99 {percentile(values, 99):.2f}"
        f" ms, max {max(values):.2f} ms over {len(values)} ticks",
        flush=True,
    )


def main(argv: list[str]) -> None:
    """Print median and p99 ms of the dashboard update per replay tick."""
    parser = argparse.ArgumentParser(prog="bench/dashboard_tick.py")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ticks", type=int, default=600)
    parser.add_argument("--quick", action="store_true", help="200k rows, 150 ticks")
    parser.add_argument("--no-widgets", action="store_true", help="skip the in-app measurement")
    args = parser.parse_args(argv)
    rows, ticks = (200_000, 150) if args.quick else (args.rows, args.ticks)
    hours = 48.0
    frame = observations(rows, hours)
    # load the first 40 hours, then replay at 60x with a 0.1 s render tick: 6 s per tick
    loaded_until = POST + timedelta(hours=40)
    step = timedelta(seconds=6)
    print(f"   {rows:,} observations over {hours:.0f} h; ticks of {step.seconds} s replay time")
    store, source = load(frame, loaded_until, chunk=200_000)
    both, view_only, merged = tick_times(store, source, loaded_until, ticks, step)
    print(f"   {merged:,} rows merged during the ticks")
    report("merge + view model", both)
    report("view model only", view_only)
    if not args.no_widgets:
        start = loaded_until + step * ticks
        updates, repaints = asyncio.run(
            widget_ticks(store, source, start, max(50, ticks // 3), step)
        )
        report("in app: merge + view model + widget updates", updates)
        report("in app: full repaint incl. plotext curve (throttled to 4/s)", repaints)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
