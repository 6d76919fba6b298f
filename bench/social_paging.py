"""A Mastodon post with thousands of boosters: cost of each poll while paging through them.

In-process (httpx MockTransport), so the figures are engmon's own work per poll: parsing pages,
building rows, merging into the store. Prints polls needed to read every booster, the slowest
and median poll, and the baseline of reading all pages in one poll (what "stalling" would be).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from engmon.core.store import ObservationStore
from engmon.sources.mastodon import PAGE_SIZE, MastodonSource
from engmon.sources.posturl import MastodonPost

T0 = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
BASE = "https://masto.bench"
STATUS = "113000000000000001"


def handler_for(boosters: int) -> Any:
    """A fake instance: the status and `boosters` accounts, newest first, 80 per page."""
    accounts = [
        {"id": str(i), "acct": f"fan{i}@far.example", "username": f"fan{i}", "followers_count": i}
        for i in range(boosters, 0, -1)
    ]
    status = {
        "id": STATUS,
        "replies_count": 1,
        "reblogs_count": boosters,
        "favourites_count": 5,
        "account": {"acct": "poster", "followers_count": 100_000},
    }

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/reblogged_by"):
            start = int(request.url.params.get("max_id", "0"))
            page = accounts[start : start + PAGE_SIZE]
            headers = {}
            if start + PAGE_SIZE < len(accounts):
                url = f"{BASE}/api/v1/statuses/{STATUS}/reblogged_by?max_id={start + PAGE_SIZE}"
                headers["Link"] = f'<{url}>; rel="next"'
            return httpx.Response(200, json=page, headers=headers)
        return httpx.Response(200, json=status)

    return handle


async def run(boosters: int, pages_per_poll: int) -> tuple[int, list[float], int]:
    """Poll until every booster is read; (polls, seconds per poll, events in the store)."""
    post = MastodonPost(f"{BASE}/@poster/{STATUS}", BASE, "poster", STATUS)
    source = MastodonSource("masto", [post], pages_per_poll=pages_per_poll)
    store = ObservationStore(T0)
    times: list[float] = []
    transport = httpx.MockTransport(handler_for(boosters))
    async with httpx.AsyncClient(transport=transport) as client:
        polls = 0
        while True:
            started = time.perf_counter()
            result = await source.poll(client, T0 + timedelta(seconds=polls * 60))
            store.merge(result.frame)
            times.append(time.perf_counter() - started)
            polls += 1
            if not source.paging or polls > 10_000:
                break
    events = store.deltas().filter(store.deltas()["metric"] == "resharers").height
    return polls, times, events


def main(argv: list[str]) -> None:
    """Print per-poll cost for paged reading versus one unbounded poll."""
    parser = argparse.ArgumentParser(prog="bench.social_paging")
    parser.add_argument("--quick", action="store_true", help="1,000 boosters instead of 20,000")
    parser.add_argument("--pages", type=int, default=3, help="pages per poll (default 3)")
    args = parser.parse_args(argv)
    boosters = 1_000 if args.quick else 20_000
    polls, times, events = asyncio.run(run(boosters, args.pages))
    print(f"   {boosters:,} boosters, {args.pages} pages/poll: {polls} polls, {events:,} events")
    print(
        f"   per poll: median {statistics.median(times) * 1000:.1f} ms,"
        f" max {max(times) * 1000:.1f} ms"
    )
    whole = boosters // PAGE_SIZE + 1
    _, one, _ = asyncio.run(run(boosters, whole))
    print(f"   baseline, all {whole} pages in one poll: {one[0] * 1000:.1f} ms (the stall avoided)")
    print(f"   ratio slowest paged poll / one-shot poll: {max(times) / one[0]:.3f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
