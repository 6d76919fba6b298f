"""`engmon report` on a 10M-row Parquet observation file, next to a bare polars scan.

The floor is `polars.scan_parquet(path).collect()` of the same file in its own process.
Goal (issue #2): report wall time within 2x of the floor, peak RSS under 2x the frame's
`estimated_size()`. The file is generated once (seeded) and cached under bench/out/.

    python -m bench report_parquet            # 10M rows
    python -m bench.report_parquet --quick    # 1M rows
"""

from __future__ import annotations

import argparse
import os
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
    """Generate (once), then time report and the bare scan, best of `--repeat`."""
    parser = argparse.ArgumentParser(prog="bench.report_parquet")
    parser.add_argument("--quick", action="store_true", help="1M rows instead of 10M")
    parser.add_argument("--repeat", type=int, default=3)
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
    floor_cmd = [sys.executable, "-c", floor_code, str(path)]
    report_cmd = [sys.executable, "-m", "engmon", "report", str(path), "--format", "json"]
    floor = min((measure(floor_cmd) for _ in range(args.repeat)), key=lambda r: r[0])
    report = min((measure(report_cmd) for _ in range(args.repeat)), key=lambda r: r[0])
    height, size = (int(part) for part in floor[2].split())
    size_mib = size / 2**20
    print(f"   file: {path.name}, {height:,} rows, {path.stat().st_size / 2**20:.0f} MiB on disk")
    print(f"   floor  scan_parquet().collect(): {floor[0]:.2f}s, peak RSS {floor[1]:.0f} MiB")
    print(f"   engmon report --format json:    {report[0]:.2f}s, peak RSS {report[1]:.0f} MiB")
    print(f"   wall ratio report/floor: {report[0] / floor[0]:.2f}x (goal < 2x)")
    print(
        f"   report RSS / estimated_size ({size_mib:.0f} MiB): "
        f"{report[1] / size_mib:.2f}x (goal < 2x)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
