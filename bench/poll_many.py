"""Poll 10 live sources at 1 s intervals against a loopback server: CPU and poll latency.

A separate process serves an http-json feed (60 one-minute buckets per answer, the current
minute growing) on 127.0.0.1; this process runs the real watch machinery (a `Session`: one
shared httpx client, one poll loop per source, every poll recorded with fsync, then merged into
the store). Figures: CPU % of one core used by the watching process, and per poll the latency
from the poll's start to its rows being merged in the store ("poll-to-store"; the dashboard
draws from the store on its next refresh), plus the part after the answer arrived.

    python -m bench.poll_many [--quick] [--seconds N] [--sources N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _serve(port_out: Any) -> None:
    started = time.time()

    class Feed(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            grow = int(time.time() - started)
            rows = [
                {
                    "t": (now - timedelta(minutes=m)).isoformat(),
                    "n": 100 - m + (grow if m == 0 else 0),
                }
                for m in range(60)
            ]
            body = json.dumps({"rows": rows}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the default 5 drops SYNs when 10 sources connect at once

    server = Server(("127.0.0.1", 0), Feed)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _config(port: int, count: int, folder: Path) -> Any:
    from engmon.config import CampaignConfig
    from engmon.core.campaign import Campaign
    from engmon.sources.httpjson import HttpJsonSource

    campaign = Campaign("bench", post_time=datetime.now(UTC) - timedelta(hours=1))
    sources: list[Any] = [
        HttpJsonSource(
            f"feed{i}",
            url=f"http://127.0.0.1:{port}/feed{i}",
            shape="buckets",
            items="rows",
            time_field="t",
            value_field="n",
            interval=1.0,
            timeout=5.0,
        )
        for i in range(count)
    ]
    return CampaignConfig(folder / "bench.toml", campaign, sources)


def _figures(
    latency: list[float],
    after: list[float],
    cpu: float,
    wall: float,
    errors: int,
    rows: int,
) -> dict[str, Any]:
    return {
        "polls": len(latency),
        "errors": errors,
        "cpu_pct": 100 * cpu / wall,
        "median_ms": 1000 * statistics.median(latency),
        "p99_ms": 1000 * _percentile(latency, 0.99),
        "after_median_ms": 1000 * statistics.median(after),
        "after_p99_ms": 1000 * _percentile(after, 0.99),
        "rows_recorded": rows,
    }


def _time_polls(sources: list[Any], started: dict[int, tuple[float, float]]) -> None:
    """Wrap each source's poll to note, per returned frame, when the poll began and answered."""
    for source in sources:
        original_poll = source.poll

        async def timed_poll(client: Any, now: datetime, _poll: Any = original_poll) -> Any:
            began = time.perf_counter()
            result = await _poll(client, now)
            started[id(result.frame)] = (began, time.perf_counter())
            return result

        source.poll = timed_poll


async def _run(port: int, seconds: float, count: int, folder: Path) -> dict[str, Any]:
    from engmon.core.store import MergeResult
    from engmon.watch.session import Session

    config = _config(port, count, folder)
    watch = Session.open(config, folder / "bench.ndjson")
    started: dict[int, tuple[float, float]] = {}
    to_store: list[float] = []
    after_answer: list[float] = []
    _time_polls(config.sources, started)
    original_accept = watch.accept

    def timed_accept(result: Any) -> tuple[MergeResult, str | None]:
        accepted = original_accept(result)
        done = time.perf_counter()
        began, answered = started.pop(id(result.frame), (done, done))
        to_store.append(done - began)
        after_answer.append(done - answered)
        return accepted

    watch.accept = timed_accept  # type: ignore[method-assign]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await watch.run(duration=seconds)  # the plain watch's own loop: one task per source
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    errors = sum(p.status.errors for p in watch.pollers.values())
    await watch.aclose(save_history=False)
    rows = watch.recorder.rows if watch.recorder is not None else 0
    return _figures(to_store, after_answer, cpu, wall, errors, rows)


async def _run_dashboard(port: int, seconds: float, count: int, folder: Path) -> dict[str, Any]:
    """The same sources through the dashboard (headless Textual app, 10 renders/s).

    Latency per poll: from the poll's start to the end of the first dashboard refresh that
    saw the store revision its rows produced (view recomputed and widgets updated).
    """
    from engmon.tui.app import EngmonApp
    from engmon.watch.session import Session

    config = _config(port, count, folder)
    watch = Session.open(config, folder / "bench-tui.ndjson")
    started_by_frame: dict[int, tuple[float, float]] = {}
    waiting: list[tuple[int, float, float]] = []
    to_screen: list[float] = []
    after_answer: list[float] = []
    _time_polls(config.sources, started_by_frame)

    store = watch.store
    original_merge = store.merge

    def timed_merge(frame: Any) -> Any:
        merged = original_merge(frame)
        began = started_by_frame.pop(id(frame), None)
        if began is not None:
            waiting.append((store.revision, began[0], time.perf_counter()))
        return merged

    store.merge = timed_merge  # type: ignore[method-assign]
    app = EngmonApp(watch)  # the app runs the session and closes it when it ends
    original_refresh = app.refresh_dashboard

    def timed_refresh() -> None:
        original_refresh()
        shown = time.perf_counter()
        for entry in [w for w in waiting if w[0] <= store.revision]:
            waiting.remove(entry)
            to_screen.append(shown - entry[1])
            after_answer.append(shown - entry[2])

    app.refresh_dashboard = timed_refresh  # type: ignore[method-assign]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    async with app.run_test(size=(140, 44)):
        await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    errors = sum(p.status.errors for p in app.pollers.values())
    rows = watch.recorder.rows if watch.recorder is not None else 0
    return _figures(to_screen, after_answer, cpu, wall, errors, rows)


def main(argv: list[str]) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="bench.poll_many")
    parser.add_argument("--quick", action="store_true", help="15 s instead of 60 s")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--no-dashboard", action="store_true", help="skip the dashboard run")
    args = parser.parse_args(argv)
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=10)
        with tempfile.TemporaryDirectory() as folder:
            store_figures = asyncio.run(_run(port, seconds, args.sources, Path(folder)))
            screen_figures = None
            if not args.no_dashboard:
                screen_figures = asyncio.run(
                    _run_dashboard(port, seconds, args.sources, Path(folder))
                )
    finally:
        server.terminate()
        server.join()
    _print("plain watch, poll-to-store", args.sources, seconds, store_figures)
    if screen_figures is not None:
        _print("dashboard, poll-to-screen", args.sources, seconds, screen_figures)


def _print(label: str, sources: int, seconds: float, figures: dict[str, Any]) -> None:
    print(
        f"   {label}: {sources} sources x 1 s for {seconds:g} s: {figures['polls']} polls,"
        f" {figures['errors']} errors, {figures['rows_recorded']} rows recorded (fsync per poll)"
    )
    print(f"     CPU {figures['cpu_pct']:.1f}% of one core (the watching process only)")
    print(
        f"     latency median {figures['median_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms"
        " (request start -> shown)"
    )
    print(
        f"     after the answer: median {figures['after_median_ms']:.1f} ms,"
        f" p99 {figures['after_p99_ms']:.1f} ms (record + merge [+ wait for the render tick])"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
