"""Access-log benchmark: engmon vs a bare polars floor vs GoAccess, and a live-tail run.

    python -m bench accesslog                 1M and 5M lines (GoAccess 5M only if cached)
    python -m bench accesslog --quick         1M lines only
    python -m bench accesslog --goaccess-5m   also run GoAccess on 5M lines (~6-12 min)
    python -m bench accesslog --baseline ../main   also another checkout's engmon, alternately

Logs come from /work/shared/bench/make_access_log.py (seed 7, link /blog/spring-launch),
cached in bench/out/. Each contender runs in its own subprocess; wall time, CPU time and peak
RSS come from `os.wait4`. The contenders run alternately (engmon, floor, GoAccess, engmon, ...)
and the medians are compared, so a busy moment of a shared machine hits all of them alike.
engmon's clicks and visitors are checked against an independent recount (a line-by-line
Python pass with its own regex; only the per-agent bot verdict is engmon's `device_of`).
GoAccess on 5M lines takes minutes: its figure is cached in bench/out/goaccess_<N>.time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
GENERATOR = Path("/work/shared/bench/make_access_log.py")
LINK = "/blog/spring-launch"
SEED = 7

ENGMON = """
import sys, json
from pathlib import Path
import engmon  # first, as the `engmon` command: it sets polars' allocator up before polars loads
import polars as pl
from engmon.sources.accesslog.reader import read_access_log
from engmon.core.store import observations_to_deltas
from engmon.core import metrics
result = read_access_log(Path(sys.argv[1]), link=sys.argv[2])
frame = result.frame
first = frame.select(pl.col("ts").filter(pl.col("metric") == "clicks").min()).item()
# as `engmon report` reads an access log: its ids (file tag + line) are unique, nothing to dedupe
deltas = observations_to_deltas(frame.lazy(), pl.DataFrame(schema={"_h": pl.UInt64()}))
minutes = metrics.minute_counts(deltas, first).collect(engine="streaming")
end = int(minutes.get_column("minute").max()) + 1
summary = metrics.summary(minutes.lazy(), now_minute=end, post_time=first).collect()
clicks = summary.filter(pl.col("metric") == "clicks")
print(json.dumps({"clicks": int(clicks.get_column("count").item()),
                  "peak": clicks.get_column("peak").item(),
                  "visitors": int(summary.filter(pl.col("metric") == "visitors")
                  .get_column("count").item()),
                  "lines": result.stats.lines, "malformed": result.stats.malformed}))
"""

FLOOR = """
import sys, json
import polars as pl
columns = {f"c{i}": pl.String() for i in range(7)}
lf = pl.scan_csv(sys.argv[1], separator='"', quote_char=None, has_header=False, schema=columns,
                 truncate_ragged_lines=True)
path = pl.col("c1").str.split_exact(" ", 2).struct.field("field_1").str.split_exact("?", 1)
per_minute = (
    lf.filter(pl.col("c1").str.contains(sys.argv[2], literal=True))
    .filter(path.struct.field("field_0").is_in([sys.argv[2], sys.argv[2] + "/"]))
    .select(ts=pl.col("c0").str.extract(r"\\[([^\\]]+)\\]")
            .str.to_datetime("%d/%b/%Y:%H:%M:%S %z", time_zone="UTC"))
    .group_by(pl.col("ts").dt.truncate("1m")).len()
    .collect()
)
print(json.dumps({"hits": int(per_minute.get_column("len").sum()), "minutes": per_minute.height}))
"""


@dataclass
class Run:
    """One timed subprocess."""

    wall: float
    peak_mib: float
    output: str
    cpu: float = 0.0  # user + system seconds (less sensitive to a busy machine); 0 = unknown


def timed(command: list[str], cwd: Path = ROOT) -> Run:
    """Run `command`, returning its wall time, peak RSS (MiB) and stdout."""
    with tempfile.TemporaryFile() as captured:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=captured, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        captured.seek(0)
        output = captured.read().decode().strip()
    if process.returncode != 0:
        raise RuntimeError(f"bench: {command[:3]} failed with exit code {process.returncode}")
    return Run(wall, usage.ru_maxrss / 1024, output, usage.ru_utime + usage.ru_stime)


def ensure_log(lines: int) -> Path:
    """The generated log of `lines` lines (generated once, then cached)."""
    path = OUT / f"access_{lines}_s{SEED}.log"
    if not path.exists() and not GENERATOR.exists():
        raise RuntimeError(f"bench: {path} is missing and so is the generator {GENERATOR}")
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                "--lines",
                str(lines),
                "--seed",
                str(SEED),
                "--out",
                str(path),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def goaccess(log: Path, lines: int, *, run: bool) -> Run | None:
    """GoAccess on `log` (cached figure if present; None when absent or not asked to run)."""
    cache = OUT / f"goaccess_{lines}_s{SEED}.time"
    if cache.exists():
        fields = cache.read_text().split()
        cpu = float(fields[2]) if len(fields) > 2 else 0.0
        return Run(float(fields[0]), float(fields[1]) / 1024, "cached", cpu)
    binary = shutil.which("goaccess")
    if binary is None:
        print("  goaccess: not installed (apt-get install goaccess), skipped")
        return None
    if not run:
        print(f"  goaccess: no cached figure for {lines:,} lines; pass --goaccess-5m to measure")
        return None
    out = OUT / f"goaccess_{lines}.json"
    result = timed([binary, str(log), "--log-format=COMBINED", "-o", str(out), "--no-progress"])
    result.output = "run now"
    cache.write_text(f"{result.wall:.2f} {result.peak_mib * 1024:.0f} {result.cpu:.2f}\n")
    return result


RECOUNT = r"""
import re, sys, json
from datetime import datetime
from engmon.sources.accesslog.agents import device_of
line_re = re.compile(
    rb'^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) \S+ "[^"]*" "((?:[^"\\]|\\.)*)"'
)
link = sys.argv[2].encode()
bots = {}
clicks = 0
visitors = set()
with open(sys.argv[1], "rb") as handle:
    for raw in handle:
        m = line_re.match(raw)
        if not m:
            continue
        ip, when, method, target, status, agent = m.groups()
        path = target.split(b"?", 1)[0]
        if method != b"GET" or not 200 <= int(status) < 400 or path not in (link, link + b"/"):
            continue
        if agent not in bots:
            bots[agent] = device_of(agent.decode("utf-8", "replace")) == "bot"
        if bots[agent]:
            continue
        clicks += 1
        day = datetime.strptime(when.decode(), "%d/%b/%Y:%H:%M:%S %z").date()
        visitors.add((ip, agent, day))
print(json.dumps({"clicks": clicks, "visitors": len(visitors)}))
"""


def median_run(runs: list[Run]) -> Run:
    """The run with the median wall time (its RSS and CPU go with it)."""
    ordered = sorted(runs, key=lambda run: run.wall)
    return ordered[len(ordered) // 2]


def recount(log: Path) -> dict[str, int]:
    """Clicks and visitors of the link, counted independently of engmon's pipeline."""
    import json

    return dict(json.loads(timed([sys.executable, "-c", RECOUNT, str(log), LINK]).output))


def replay_bench(
    sizes: list[int], run_goaccess_5m: bool, repeat: int, baseline: Path | None = None
) -> None:
    """engmon replay-to-report vs the polars floor vs GoAccess, alternating, medians.

    `baseline`: another checkout whose engmon runs the same script in the same rounds.
    """
    import json

    engmon_walls: dict[int, float] = {}
    floor_walls: dict[int, float] = {}
    for lines in sizes:
        log = ensure_log(lines)
        print(
            f"{lines:,} lines ({log.stat().st_size / 2**20:,.0f} MiB), {repeat} alternating rounds:"
        )
        runs: dict[str, list[Run]] = {"engmon": [], "baseline": [], "floor": [], "goaccess": []}
        cached = goaccess(log, lines, run=False) if lines > 1_000_000 else None
        go_live = lines <= 1_000_000 or run_goaccess_5m
        for _ in range(repeat):
            runs["engmon"].append(timed([sys.executable, "-c", ENGMON, str(log), LINK]))
            if baseline is not None:  # `-c` imports engmon from the working directory first
                command = [sys.executable, "-c", ENGMON, str(log.resolve()), LINK]
                runs["baseline"].append(timed(command, cwd=baseline))
            runs["floor"].append(timed([sys.executable, "-c", FLOOR, str(log), LINK]))
            if go_live and cached is None and (lines <= 1_000_000 or not runs["goaccess"]):
                go = goaccess_run(log)
                if go is not None:
                    runs["goaccess"].append(go)
        engmon, floor = median_run(runs["engmon"]), median_run(runs["floor"])
        go = median_run(runs["goaccess"]) if runs["goaccess"] else cached
        base = median_run(runs["baseline"]) if runs["baseline"] else None
        contenders = (
            ("engmon report", engmon),
            ("baseline", base),
            ("polars floor", floor),
            ("goaccess", go),
        )
        for name, run in contenders:
            if run is not None:
                print(
                    f"  {name:14}{run.wall:7.2f} s {run.peak_mib:6.0f} MiB {run.cpu:7.2f} s cpu"
                    + (" (cached)" if run.output == "cached" else "")
                )
        counts = json.loads(engmon.output)
        truth = recount(log)
        same = counts["clicks"] == truth["clicks"] and counts["visitors"] == truth["visitors"]
        print(
            f"  counts: engmon {counts['clicks']:,} clicks, {counts['visitors']:,} visitors;"
            f" independent recount {truth['clicks']:,} / {truth['visitors']:,}"
            f" -> {'same' if same else 'MISMATCH'}"
        )
        if not same:
            raise RuntimeError("bench: engmon's counts differ from the independent recount")
        engmon_walls[lines], floor_walls[lines] = engmon.wall, floor.wall
        print(
            f"  engmon / floor: wall {engmon.wall / floor.wall:.2f}x (goal <= 1.5x),"
            f" peak RSS {engmon.peak_mib / floor.peak_mib:.2f}x (goal <= 2x)"
        )
        if base is not None:
            print(
                f"  baseline / floor: wall {base.wall / floor.wall:.2f}x,"
                f" peak RSS {base.peak_mib / floor.peak_mib:.2f}x;"
                f" engmon / baseline: wall {engmon.wall / base.wall:.2f}x,"
                f" peak RSS {engmon.peak_mib / base.peak_mib:.2f}x"
            )
        if go is not None:
            print(f"  engmon is {go.wall / engmon.wall:.1f}x faster than GoAccess (goal >= 20x)")
    if len(sizes) > 1:
        small, big = min(sizes), max(sizes)
        print(
            f"growth {small:,} -> {big:,} lines ({big / small:.0f}x): engmon"
            f" {engmon_walls[big] / engmon_walls[small]:.2f}x, floor"
            f" {floor_walls[big] / floor_walls[small]:.2f}x"
        )


def goaccess_run(log: Path) -> Run | None:
    """One timed GoAccess run on `log` (None when it is not installed)."""
    binary = shutil.which("goaccess")
    if binary is None:
        return None
    out = OUT / f"{log.stem}.goaccess.json"
    return timed([binary, str(log), "--log-format=COMBINED", "-o", str(out), "--no-progress"])


WRITER = """
import sys, time
src, dst, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with open(src, "rb") as handle:
    lines = [next(handle) for _ in range(int(rate * seconds) + 1)]
batch = max(1, rate // 20)
start = time.monotonic()
with open(dst, "ab", buffering=0) as out:
    for n in range(0, len(lines), batch):
        out.write(b"".join(lines[n:n + batch]))
        delay = start + (n + batch) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
"""


def tail_bench(rate: int, seconds: float, interval: float) -> None:
    """Follow a log growing by `rate` lines/s: per-poll latency and CPU % of one core."""
    from engmon.core.campaign import Campaign
    from engmon.sources import accesslog
    from engmon.sources.options import SourceOptions

    source_log = ensure_log(1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        live = Path(tmp) / "access.log"
        live.touch()
        options = SourceOptions({"kind": "access-log", "path": str(live)}, "bench")
        source = accesslog.SOURCE.build(options, Campaign("bench", link=LINK))
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(source_log), str(live), str(rate), str(seconds)]
        )
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        durations: list[float] = []
        behind: list[int] = []
        rows = 0
        while writer.poll() is None or len(durations) < 2:
            started = time.perf_counter()
            size_at_start = live.stat().st_size
            result = source.poll_sync()
            durations.append(time.perf_counter() - started)
            behind.append(size_at_start - source._offset)  # >0: bytes present but not read
            rows += result.frame.height
            time.sleep(max(0.0, interval - (time.perf_counter() - started)))
        source.poll_sync()
        wall = time.perf_counter() - wall_start
        cpu = time.process_time() - cpu_start
        lines = sum(1 for _ in live.open("rb"))
    durations.sort()
    p50, worst = durations[len(durations) // 2], durations[-1]
    print(
        f"live tail: {lines:,} lines appended at {rate:,}/s over {wall:.1f} s,"
        f" poll every {interval:g} s: poll-to-current p50 {p50 * 1000:.0f} ms,"
        f" worst {worst * 1000:.0f} ms (interval {interval * 1000:.0f} ms),"
        f" bytes left unread after a poll: max {max(behind)},"
        f" CPU {100 * cpu / wall:.1f}% of one core, {source.parser.stats.hits:,} hits counted"
    )


def main(argv: list[str]) -> None:
    """Run the access-log benchmarks and print figures and ratios."""
    parser = argparse.ArgumentParser(prog="bench.accesslog", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M lines only, short tail run")
    parser.add_argument("--goaccess-5m", action="store_true", help="also time GoAccess on 5M")
    parser.add_argument("--no-tail", action="store_true", help="skip the live-tail run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender (median kept)")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout (its engmon/ folder) to run alternately"
    )
    args = parser.parse_args(argv)
    sizes = [1_000_000] if args.quick else [1_000_000, 5_000_000]
    replay_bench(sizes, args.goaccess_5m, max(1, args.repeat), args.baseline)
    if not args.no_tail:
        tail_bench(rate=10_000, seconds=5.0 if args.quick else 20.0, interval=1.0)


if __name__ == "__main__":
    main(sys.argv[1:])
