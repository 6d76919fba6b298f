"""ClickHouse source vs engmon reading the same events from a local Parquet file.

For each table size (default 1M and 10M events; `--quick`: 100k and 1M) the same generated
events go into a throwaway ClickHouse server (the Debian binary, started here on loopback) and
into a Parquet file. Printed per size:

- ClickHouse, first poll: per-minute buckets since the post + 3 top-10 breakdowns;
- ClickHouse, steady poll: the incremental bucket query of a live watch (last complete minute
  minus 2 minutes of overlap), median of several polls;
- Parquet: polars computing the same per-minute curve and top referrers (lazy scan, filter,
  truncate, group_by), the whole-file work a local-file source repeats per refresh.

Time per poll and bytes transferred per poll: the poll's transfer stays in kilobytes whatever
the table size, while the Parquet route reads a file that grows with it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.sources.clickhouse import source as clickhouse

# the local ClickHouse server the tests drive is a test helper, not part of engmon
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sources"))
from clickhouse_local import (
    EVENT_COLUMNS,
    LINK,
    POST_TIME,
    LocalServer,
    generate_events,
    polars_minutes,
    polars_top,
    start_cluster,
    tab_separated,
)

from engmon.sources.options import SourceOptions

CHUNK_ROWS = 1_000_000
STEADY_POLLS = 7
FIRST_POLL_AT = POST_TIME + timedelta(minutes=90)


def load(server: LocalServer, events: pl.DataFrame) -> float:
    """Insert the events in chunks; seconds taken."""
    started = time.perf_counter()
    server.query(f"CREATE TABLE events ({EVENT_COLUMNS}) ENGINE = MergeTree ORDER BY ts")
    for offset in range(0, events.height, CHUNK_ROWS):
        chunk = events.slice(offset, CHUNK_ROWS)
        server.query("INSERT INTO events FORMAT TabSeparated", tab_separated(chunk), timeout=600)
    server.query("OPTIMIZE TABLE events FINAL", timeout=600)
    return time.perf_counter() - started


def source_for(server: LocalServer) -> clickhouse.ClickHouseSource:
    """The source a campaign config would build for the bench table."""
    table = {
        "kind": "clickhouse",
        "url": server.url,
        "table": "events",
        "time_column": "ts",
        "link_column": "path",
        "referrer_column": "referrer",
        "country_column": "country",
        "device_column": "device",
        "visitor_column": "user_id",
        "link": LINK,
        "timeout": 60,
    }
    campaign = Campaign(name="bench", post_time=POST_TIME)
    return clickhouse.SOURCE.build(SourceOptions(table, "bench"), campaign)


async def clickhouse_polls(server: LocalServer) -> tuple[float, int, float, int]:
    """(first poll s, first poll bytes, median steady poll s, median steady poll bytes)."""
    source = source_for(server)
    async with httpx.AsyncClient() as client:
        await source.client.resolve_binding(client)  # once per source, not per poll
        started = time.perf_counter()
        await source.poll(client, FIRST_POLL_AT)
        first_s = time.perf_counter() - started
        first = source.client.transfer
        first_bytes = first.sent + first.received
        times: list[float] = []
        sizes: list[int] = []
        for index in range(1, STEADY_POLLS + 1):
            moment = FIRST_POLL_AT + timedelta(seconds=10 * index)
            source._last_breakdown = moment  # steady state: buckets only, as between breakdowns
            started = time.perf_counter()
            await source.poll(client, moment)
            times.append(time.perf_counter() - started)
            sizes.append(source.client.transfer.sent + source.client.transfer.received)
    return first_s, first_bytes, statistics.median(times), int(statistics.median(sizes))


def parquet_poll(path: Path) -> float:
    """Seconds for polars to compute the curve and top referrers from the Parquet file."""
    started = time.perf_counter()
    events = pl.scan_parquet(path)
    end = FIRST_POLL_AT
    window = (pl.col("path") == LINK) & (pl.col("ts") >= POST_TIME) & (pl.col("ts") < end)
    curve = (
        events.filter(window)
        .group_by(minute=pl.col("ts").dt.truncate("1m"))
        .agg(clicks=pl.len(), visitors=pl.col("user_id").n_unique())
    )
    referrers = (
        events.filter(window)
        .group_by("referrer")
        .agg(clicks=pl.len())
        .sort("clicks", descending=True)
        .head(10)
    )
    pl.collect_all([curve, referrers])
    return time.perf_counter() - started


def check_equal(server: LocalServer, events: pl.DataFrame) -> bool:
    """Whether the first poll's curve and top referrers equal polars on the same events."""
    source = source_for(server)

    async def run() -> pl.DataFrame:
        async with httpx.AsyncClient() as client:
            return (await source.poll(client, FIRST_POLL_AT)).frame

    frame = asyncio.run(run())
    got_curve = (
        frame.filter(pl.col("width_s") == 60)
        .pivot("metric", index="ts", values="value")
        .select(minute="ts", clicks="clicks", visitors="visitors")
        .sort("minute")
    )
    got_top = frame.filter(pl.col("source").str.ends_with(":referrer")).select(
        value="referrer", clicks="value"
    )
    return got_curve.equals(polars_minutes(events, LINK, FIRST_POLL_AT)) and got_top.equals(
        polars_top(events, LINK, "referrer", FIRST_POLL_AT)
    )


def run_size(count: int, workdir: Path) -> None:
    """Generate, load and measure one table size; prints one block of figures."""
    events = generate_events(count, seed=11)
    parquet = workdir / f"events-{count}.parquet"
    events.write_parquet(parquet)
    (server,) = start_cluster(workdir / f"ch-{count}", 1)
    try:
        load_s = load(server, events)
        first_s, first_bytes, steady_s, steady_bytes = asyncio.run(clickhouse_polls(server))
        equal = check_equal(server, events)
    finally:
        server.stop()
    parquet_times = [parquet_poll(parquet) for _ in range(3)]
    size = parquet.stat().st_size
    print(f"   {count:>10,} events (ClickHouse load {load_s:.1f}s; results equal polars: {equal})")
    print(f"     clickhouse first poll  {first_s * 1000:8.1f} ms  {first_bytes / 1024:8.1f} KiB")
    print(f"     clickhouse steady poll {steady_s * 1000:8.1f} ms  {steady_bytes / 1024:8.1f} KiB")
    print(
        f"     parquet + polars       {statistics.median(parquet_times) * 1000:8.1f} ms"
        f"  {size / 1024:8.1f} KiB file read"
    )


def main(argv: list[str]) -> None:
    """Run the benchmark for each size and print time and bytes per poll."""
    parser = argparse.ArgumentParser(prog="bench/clickhouse.py", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k and 1M events")
    parser.add_argument("--sizes", type=int, nargs="+", help="event counts to run")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000])
    if clickhouse_binary_missing():
        print("   skipped: no clickhouse-server binary (apt-get install clickhouse-server)")
        return
    with tempfile.TemporaryDirectory(prefix="engmon-bench-ch-") as tmp:
        for count in sizes:
            run_size(count, Path(tmp))


def clickhouse_binary_missing() -> bool:
    """True when no ClickHouse server can be started here."""
    from clickhouse_local import find_server_binary

    return find_server_binary() is None


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
