"""Start-up: how long until the dashboard's first frame, and what `engmon --help` costs.

    python -m bench startup            5 alternating rounds
    python -m bench startup --rounds 9
    python -m bench startup --engmon ../other/.venv/bin/engmon   # another checkout's
    python -m bench startup --before ../other/.venv/bin/engmon   # this one and that, alternately

`engmon demo` runs in a pseudo-terminal, like a user's shell would start it, at 80x24 and
120x40 in turn. Times run from the spawn to:

- first frame: the first screen holding the header's link (the dashboard's layout: header,
  panels and Footer; `engmon demo` draws it before polars is imported, the numbers follow);
- numbers: the first screen holding the KPI row (`per 1k followers`): the dashboard itself,
  its session built (the tables' rows follow in the next frames);
- keys: the Footer's keys on screen (`quit`; before the numbers the others show dimmed);

and `cpu` is the CPU time the process had used at its first frame and at its numbers (user +
system, from /proc), which a busy machine inflates far less than wall time. `python -c pass` runs
alternately as the floor of any Python start.

Children run with Python's bytecode cache (under bench/out/pycache, filled by one uncounted
start) as a user's second start would: an environment with PYTHONDONTWRITEBYTECODE would
otherwise compile every engmon module on every start (`--cold` measures that instead).
Medians are compared with the goal (first frame at 80x24 <= 0.5 s).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYCACHE = Path(__file__).parent / "out" / "pycache"
GOAL_S = 0.5
HEADER = b"example.com/blog/launch"  # the header's link, wide (120) and narrow (80)
KEYS = b"quit"  # the Footer's last key
NUMBERS = b"per 1k followers"  # a label of the KPI row


@dataclass(frozen=True)
class Start:
    """One start of the dashboard: seconds to its first frame, its numbers and its keys."""

    first_frame: float
    cpu: float
    numbers: float
    numbers_cpu: float
    keys: float


def _engmon() -> list[str]:
    script = Path(sys.executable).with_name("engmon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "engmon"]


def child_env(*, cold: bool) -> dict[str, str]:
    """The environment the measured commands run in (bytecode cache on unless `cold`)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cold:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_dashboard(
    command: list[str], size: tuple[int, int], env: dict[str, str], timeout: float = 30.0
) -> Start:
    """Spawn `command` in a pty of `size` (columns, rows); time its first frame and keys."""
    import fcntl
    import termios

    columns, rows = size
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(follower)
    seen = b""
    first: float | None = None
    numbers: float | None = None
    keys: float | None = None
    cpu = numbers_cpu = 0.0
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                now = time.perf_counter() - start
                seen += chunk
                if first is None and HEADER in seen:
                    first = now
                    with contextlib.suppress(OSError, IndexError):
                        cpu = _cpu_seconds(process.pid)
                if numbers is None and NUMBERS in seen:
                    numbers = now
                    with contextlib.suppress(OSError, IndexError):
                        numbers_cpu = _cpu_seconds(process.pid)
                if keys is None and KEYS in seen:
                    keys = now
                if first is not None and numbers is not None and keys is not None:
                    return Start(first, cpu, numbers, numbers_cpu, keys)
            elif process.poll() is not None:
                break
        raise RuntimeError(f"bench: {command[-1]!r} showed no {HEADER!r}, numbers or keys")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        # keep reading the terminal while the app says goodbye: a full pty blocks its writes
        deadline = time.perf_counter() + 10
        while process.poll() is None and time.perf_counter() < deadline:
            if select.select([leader], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    os.read(leader, 65536)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        os.close(leader)


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of `command` to its end."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str]) -> None:
    """Print the median first frame of `engmon demo` (80x24, 120x40) and `engmon --help`."""
    parser = argparse.ArgumentParser(prog="bench.startup", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median kept)")
    parser.add_argument("--cold", action="store_true", help="no bytecode cache")
    parser.add_argument("--engmon", help="the engmon command to measure (default: this venv's)")
    parser.add_argument("--before", help="another checkout's engmon, measured alternately beside")
    args = parser.parse_args(argv)
    env = child_env(cold=args.cold)
    commands = {"now": [args.engmon] if args.engmon else _engmon()}
    if args.before:
        commands["before"] = [args.before]
    sizes = ((80, 24), (120, 40))
    if not args.cold:  # fill the bytecode cache once, uncounted
        PYCACHE.mkdir(parents=True, exist_ok=True)
        for engmon in commands.values():
            start_dashboard([*engmon, "demo", "--speed", "60"], sizes[0], env)
    starts: dict[tuple[str, tuple[int, int]], list[Start]] = {
        (name, size): [] for name in commands for size in sizes
    }
    helps: dict[str, list[float]] = {name: [] for name in commands}
    floor: list[float] = []
    for _ in range(max(1, args.rounds)):
        floor.append(timed([sys.executable, "-c", "pass"], env))
        for name, engmon in commands.items():
            helps[name].append(timed([*engmon, "--help"], env))
            for size in sizes:
                demo = [*engmon, "demo", "--speed", "60"]
                starts[name, size].append(start_dashboard(demo, size, env))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    cache = "no bytecode cache" if args.cold else "bytecode cached"
    print(f"   {cache}; load average {load} (2 cores)")
    print(f"   python -c pass          {statistics.median(floor):6.2f} s (floor of any start)")
    for name in commands:
        prefix = f"{name:6} " if args.before else ""
        print(f"   {prefix}engmon --help    {statistics.median(helps[name]):6.2f} s")
        for size in sizes:
            runs = starts[name, size]
            paint = statistics.median(run.first_frame for run in runs)
            cpu = statistics.median(run.cpu for run in runs)
            numbers = statistics.median(run.numbers for run in runs)
            numbers_cpu = statistics.median(run.numbers_cpu for run in runs)
            keys = statistics.median(run.keys for run in runs)
            spread = " ".join(f"{run.first_frame:.2f}" for run in runs)
            label = f"{prefix}demo {size[0]}x{size[1]}"
            print(
                f"   {label:23} first frame {paint:5.2f} s (cpu {cpu:.2f} s),"
                f" numbers {numbers:5.2f} s (cpu {numbers_cpu:.2f} s), keys {keys:5.2f} s"
                f"   [{spread}]"
            )
    paint = statistics.median(run.first_frame for run in starts["now", sizes[0]])
    verdict = "met" if paint <= GOAL_S else "not met"
    print(f"   first frame at 80x24 {paint:.2f} s (goal <= {GOAL_S:g} s): {verdict}")


if __name__ == "__main__":
    main(sys.argv[1:])
