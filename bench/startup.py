"""Start-up: how long until the dashboard's first paint, and what `engmon --help` costs.

    python -m bench startup            5 alternating rounds
    python -m bench startup --rounds 9

`engmon demo` runs in a pseudo-terminal (80x24) like a user's shell would start it; the time
is taken from the spawn to the first screen holding the header (`engmon ·`). `python -c pass`
runs alternately as the floor of any Python start. Medians are compared with the goal
(first paint <= 0.5 s).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.5


def _engmon() -> list[str]:
    script = Path(sys.executable).with_name("engmon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "engmon"]


def first_paint(command: list[str], marker: bytes, timeout: float = 30.0) -> float:
    """Seconds from spawning `command` in an 80x24 pty to `marker` appearing on it."""
    import fcntl
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
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
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                seen += chunk
                if marker in seen:
                    return time.perf_counter() - start
            elif process.poll() is not None:
                break
        raise RuntimeError(f"bench: {command[-1]!r} showed no {marker!r} in {timeout:g}s")
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


def timed(command: list[str]) -> float:
    """Wall seconds of one run of `command` to its end."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str]) -> None:
    """Print the median first paint of `engmon demo` and `engmon --help` beside the floor."""
    parser = argparse.ArgumentParser(prog="bench.startup", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median kept)")
    args = parser.parse_args(argv)
    paint: list[float] = []
    helps: list[float] = []
    floor: list[float] = []
    for _ in range(max(1, args.rounds)):
        floor.append(timed([sys.executable, "-c", "pass"]))
        helps.append(timed([*_engmon(), "--help"]))
        paint.append(first_paint([*_engmon(), "demo", "--speed", "60"], "engmon ·".encode()))
    p, h, f = (statistics.median(values) for values in (paint, helps, floor))
    print(f"python -c pass          {f:6.2f} s (floor of any start)")
    print(f"engmon --help           {h:6.2f} s")
    print(
        f"engmon demo first paint {p:6.2f} s (goal <= {GOAL_S:g} s):"
        f" {'met' if p <= GOAL_S else 'not met'}; {p - f:.2f} s above the floor"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
