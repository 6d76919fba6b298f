"""`engmon report` on a 10M-row Parquet observation file, next to a bare polars scan.

Beside it, in their own processes and alternating: the floor `polars.scan_parquet(path)
.collect()` and a plain polars reading with the same dedupe `report` does on (source, id)
(`unique` over the collected frame). Goals (issue #19): report's wall time ahead of plain
polars with the dedupe, and its peak RSS at most 1.2x the frame's `estimated_size()` (the
file's rows in memory). Medians of `--repeat` rounds. RSS moves with the machine's load (fewer
threads running at once hold fewer row groups): note the load printed. The file is generated
once (seeded) and cached under bench/out/.

    python -m bench report_parquet            # 10M rows
    python -m bench.report_parquet --quick    # 1M rows
    python -m bench report_parquet --engmon ../other/.venv/bin/engmon   # and another checkout
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

OUT = Path(__file__).parent / "out"
POST_TIME = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
METRICS = ("clicks", "likes", "reposts", "quotes", "replies")
REFERRERS = (
    None,
    "https://l.facebook.com/",
    "https://www.linkedin.com/",
    "android-app://com.linkedin.android/",
    "https://www.google.com/",
)


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A day of events after one post: decaying rate, five metrics, referrers with t.co codes."""
    rng = np.random.default_rng(seed)
    chunks: list[pl.DataFrame] = []
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        seconds = np.minimum(rng.pareto(1.2, n) * 900.0, 86_399.0)
        metric = rng.choice(len(METRICS), n, p=[0.5, 0.3, 0.1, 0.04, 0.06])
        referrer_pick = rng.choice(len(REFERRERS) + 1, n, p=[0.2, 0.08, 0.07, 0.04, 0.06, 0.55])
        tco = rng.integers(0, 200_000, n)
        chunks.append(
            pl.DataFrame(
                {
                    "s": seconds,
                    "m": metric,
                    "r": referrer_pick,
                    "tco": tco,
                    "reach": np.maximum(1, rng.lognormal(np.log(250), 1.6, n)).astype(np.int64),
                    "country": rng.choice(np.array(["US", "GB", "DE", "IN", "FR", "BR"]), n),
                    "device": rng.choice(np.array(["mobile", "desktop", "tablet"]), n),
                }
            ).with_row_index("row", offset=start)
        )
    raw = pl.concat(chunks)
    is_click = pl.col("metric") == "clicks"
    frame = (
        raw.with_columns(metric=pl.col("m").replace_strict(list(range(5)), list(METRICS)))
        .select(
            ts=pl.lit(POST_TIME) + pl.duration(microseconds=(pl.col("s") * 1e6).cast(pl.Int64)),
            source=pl.lit("bench"),
            kind=pl.lit("event"),
            metric=pl.col("metric"),
            value=pl.lit(1.0),
            id=pl.col("row").cast(pl.String),
            reach=pl.when(pl.col("metric").is_in(["reposts", "quotes"])).then(pl.col("reach")),
            referrer=pl.when(is_click).then(
                pl.when(pl.col("r") == 5)
                .then(pl.format("https://t.co/{}", pl.col("tco")))
                .otherwise(pl.col("r").replace_strict(list(range(5)), list(REFERRERS)))
            ),
            country=pl.when(is_click).then(pl.col("country")),
            device=pl.when(is_click).then(pl.col("device")),
        )
        .sort("ts")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, row_group_size=1_000_000)


def measure(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one child process (rusage of that child)."""
    began = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    out = child.stdout.read().decode()
    err = child.stderr.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    if status != 0:
        raise RuntimeError(f"{command[:3]} failed: {err.strip()[-300:]}")
    return wall, usage.ru_maxrss / 1024.0, out


def main(argv: list[str]) -> None:
    """Generate (once), then time report, the bare scan and polars with the dedupe."""
    parser = argparse.ArgumentParser(prog="bench.report_parquet")
    parser.add_argument("--quick", action="store_true", help="1M rows instead of 10M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engmon", help="another checkout's engmon, run alternately beside")
    args = parser.parse_args(argv)
    rows = 1_000_000 if args.quick else 10_000_000
    path = OUT / f"observations_{rows // 1_000_000}M.parquet"
    if not path.exists():
        began = time.perf_counter()
        generate(path, rows)
        print(f"   generated {path} in {time.perf_counter() - began:.1f}s")
    floor_code = (
        "import sys, polars as pl\n"
        "frame = pl.scan_parquet(sys.argv[1]).collect()\n"
        "print(frame.height, frame.estimated_size())\n"
    )
    dedupe_code = (
        "import sys, polars as pl\n"
        "frame = pl.scan_parquet(sys.argv[1]).collect()\n"
        "frame = frame.unique(subset=['source', 'id'], keep='first', maintain_order=True)\n"
        "print(frame.height)\n"
    )
    commands = {
        "floor": [sys.executable, "-c", floor_code, str(path)],
        "dedupe": [sys.executable, "-c", dedupe_code, str(path)],
        "report": [sys.executable, "-m", "engmon", "report", str(path), "--format", "json"],
    }
    if args.engmon:
        commands["other"] = [args.engmon, "report", str(path), "--format", "json"]
    runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in commands}
    for _ in range(max(1, args.repeat)):
        for name, command in commands.items():
            runs[name].append(measure(command))
    wall = {name: statistics.median(run[0] for run in got) for name, got in runs.items()}
    rss = {name: statistics.median(run[1] for run in got) for name, got in runs.items()}
    height, size = (int(part) for part in runs["floor"][0][2].split())
    size_mib = size / 2**20
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"   file: {path.name}, {height:,} rows, {path.stat().st_size / 2**20:.0f} MiB on disk")
    print(f"   frame estimated_size {size_mib:.0f} MiB; load average {load} (2 cores)")
    labels = {
        "floor": "floor  scan_parquet().collect():",
        "dedupe": "polars + unique on (source, id):",
        "report": "engmon report --format json:   ",
        "other": "the other checkout's report:    ",
    }
    for name, label in labels.items():
        if name not in runs:
            continue
        spread = " ".join(f"{run[0]:.2f}s/{run[1]:.0f}" for run in runs[name])
        print(f"   {label} {wall[name]:.2f}s, peak RSS {rss[name]:.0f} MiB   [{spread}]")
    print(
        f"   wall report/floor {wall['report'] / wall['floor']:.2f}x;"
        f" report/polars+dedupe {wall['report'] / wall['dedupe']:.2f}x (goal < 1x)"
    )
    if "other" in runs:
        print(
            f"   other checkout: RSS / frame {rss['other'] / size_mib:.2f}x,"
            f" wall report/other {wall['report'] / wall['other']:.2f}x"
        )
    ratio = rss["report"] / size_mib
    print(
        f"   report RSS / frame: {ratio:.2f}x (goal <= 1.2x):"
        f" {'met' if ratio <= 1.2 else 'not met'}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
