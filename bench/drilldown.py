"""Drilldown latency: with N observations in a store, how long a filter change takes.

A filter change recomputes the filtered slice, every breakdown table (platform, host, country,
device, post, path) and the filtered per-minute frame. Goal (issue #6): median within 100 ms
at 1M observations. Also reports the one-off enrichment of the store's increments and the
incremental cost of a live merge of 1k rows.

    python -m bench.drilldown [--rows 1000000] [--repeat 60] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from engmon.core.breakdown import Filter, FilterStack
from engmon.core.drill import Drilldown
from engmon.core.store import ObservationStore

POST_TIME = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
REFERRER_HOSTS = (
    "https://t.co/{}",
    "https://l.facebook.com/l.php?u={}",
    "https://lnkd.in/{}",
    "https://bsky.app/profile/a/post/{}",
    "https://www.google.com/search?q={}",
    "https://news.ycombinator.com/item?id={}",
    "https://out.reddit.com/{}",
    "android-app://com.slack/{}",
    "https://mastodon.social/@u/{}",
    "-",
)


def synthetic_observations(rows: int, seed: int = 7) -> pl.DataFrame:
    """`rows` click events over 6 hours with realistic dimension cardinalities."""
    rng = np.random.default_rng(seed)
    weights = np.array([30, 12, 10, 6, 8, 3, 3, 2, 2, 24], dtype=float)
    host = rng.choice(len(REFERRER_HOSTS), size=rows, p=weights / weights.sum())
    referrer_pool = [pattern.format(n) for pattern in REFERRER_HOSTS for n in range(400)]
    referrer = np.array(referrer_pool)[host * 400 + rng.integers(0, 400, size=rows)]
    seconds = np.sort(rng.exponential(3600.0, size=rows).clip(0, 6 * 3600 - 1))
    countries = np.array(["US", "GB", "DE", "FR", "RO", "IN", "BR", "JP", "CA", "ES"] * 5)
    countries = np.char.add(countries, np.repeat(np.arange(5).astype(str), 10))
    return pl.DataFrame(
        {
            "ts": pl.Series((seconds * 1_000_000).astype(np.int64)).cast(pl.Duration("us"))
            + POST_TIME,
            "source": "access-log",
            "kind": "event",
            "metric": np.where(rng.random(rows) < 0.8, "clicks", "visitors"),
            "value": 1.0,
            "referrer": referrer,
            "country": countries[rng.integers(0, len(countries), size=rows)],
            "device": np.array(["mobile", "desktop", "tablet", "bot"])[
                rng.choice(4, size=rows, p=[0.6, 0.3, 0.07, 0.03])
            ],
            "post": np.array([f"https://bsky.app/profile/big/post/{n}" for n in range(6)])[
                rng.integers(0, 6, size=rows)
            ],
            "path": np.array(["/blog/spring", "/blog/spring?utm_source=x", "/"])[
                rng.integers(0, 3, size=rows)
            ],
        }
    )


def timed(action: Callable[[], object]) -> float:
    """Milliseconds one call takes."""
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def filter_walk() -> list[FilterStack]:
    """The stacks a user walks through: platform, then post, then country, and back out."""
    x = FilterStack().push(Filter("platform", "X"))
    post = x.push(Filter("post", "https://bsky.app/profile/big/post/3"))
    country = post.push(Filter("country", "RO0"))
    linkedin = FilterStack().push(Filter("platform", "LinkedIn"))
    device = linkedin.push(Filter("device", "mobile"))
    return [x, post, country, post, x, FilterStack(), linkedin, device, linkedin, FilterStack()]


def tui_redraws(
    store: ObservationStore, walk: list[FilterStack], repeat: int
) -> tuple[list[float], list[float]]:
    """Milliseconds from a filter change to (a) every widget updated (view model, tables,
    breadcrumb: the app's synchronous redraw) and (b) the screen repainted, in the real app
    under Pilot (b includes Pilot's own wait for idle, about 25 ms here)."""
    import asyncio

    from engmon.core.campaign import Campaign
    from engmon.core.clock import ReplayClock
    from engmon.tui.app import EngmonApp
    from engmon.watch.session import Session

    campaign = Campaign("bench", "example.com/blog/spring", POST_TIME, 1_200_000)
    clock = ReplayClock(POST_TIME + timedelta(hours=6), paused=True, monotonic=lambda: 0.0)
    app = EngmonApp(Session(campaign, [], clock, store=store, monotonic=lambda: 0.0))
    updated: list[float] = []
    painted: list[float] = []

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            app.refresh_dashboard()
            await pilot.pause()
            for i in range(repeat):
                app.drilldown.forget()
                start = time.perf_counter()
                app.filters = walk[i % len(walk)]
                app.refresh_dashboard()
                updated.append((time.perf_counter() - start) * 1000.0)
                await pilot.pause()  # the repaint of every changed widget
                painted.append((time.perf_counter() - start) * 1000.0)

    asyncio.run(drive())
    return updated, painted


def main(argv: list[str]) -> None:
    """Print enrichment, live-merge and filter-change latencies (median, p99) in ms."""
    parser = argparse.ArgumentParser(prog="bench.drilldown")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=60, help="filter changes to time")
    parser.add_argument("--quick", action="store_true", help="100k rows, 20 changes")
    parser.add_argument("--no-tui", action="store_true", help="skip the redraw through the app")
    args = parser.parse_args(argv)
    rows, repeat = (100_000, 20) if args.quick else (args.rows, args.repeat)

    observations = synthetic_observations(rows)
    store = ObservationStore(POST_TIME)
    chunk = max(1, rows // 50)
    merge_ms = timed(
        lambda: [store.merge(observations.slice(i, chunk)) for i in range(0, rows, chunk)]
    )
    drill = Drilldown(store)
    enrich_ms = timed(drill.sync)
    now_minute = 6 * 60

    def redraw(stack: FilterStack) -> object:
        return drill.tables(
            stack, now_minute=now_minute, metric_names=["clicks"], followers=1_200_000
        )

    walk = filter_walk()
    changes: list[float] = []
    for i in range(repeat):
        stack = walk[i % len(walk)]
        drill.forget()  # a filter change: nothing cached from the last stack
        changes.append(timed(lambda stack=stack: redraw(stack)))  # type: ignore[misc]
    live = observations.slice(0, 1000).with_columns(
        pl.col("ts") + timedelta(hours=6), pl.lit("live").alias("source")
    )
    live_ms = timed(lambda: (store.merge(live), redraw(walk[1])))
    print(f"   observations in store          {store.rows:>12,}")
    print(f"   merge into store (50 chunks)   {merge_ms:>9.0f} ms")
    print(f"   enrich increments (once)       {enrich_ms:>9.0f} ms")
    print(
        f"   filter change -> tables+minutes median {statistics.median(changes):.1f} ms"
        f"  p99 {percentile(changes, 0.99):.1f} ms  (n={len(changes)}, goal median < 100 ms)"
    )
    print(f"   live merge of 1k rows + tables  {live_ms:>8.1f} ms")
    if not args.no_tui:
        updated, painted = tui_redraws(store, walk, repeat)
        for what, figures in (("widgets updated", updated), ("screen repainted", painted)):
            print(
                f"   filter change -> {what} (TUI 120x40) median "
                f"{statistics.median(figures):.1f} ms  p99 {percentile(figures, 0.99):.1f} ms"
            )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
