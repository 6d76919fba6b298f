"""Soak: ten sources of every HTTP kind against a loopback fault server, 30 simulated minutes.

The watch's real pollers, sources and recording run against `fault_server.FaultServer`, whose
clock is the simulated time this test advances from one poll to the next (a discrete-event
loop: the poller due soonest polls, then waits its own `delay()` in simulated seconds), so half
an hour of faults takes well under a minute of real time. Afterwards the recording is read back
and compared, minute by minute, with the server's truth; every wait a poller chose is checked
against what its backoff allows; and the process's memory is sampled while polls go on with
nothing new to fetch. `FIGURES` holds what docs/reliability.md reports.
"""

from __future__ import annotations

import gc
import heapq
import os
import random
import resource
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from clickhouse_local import LocalServer, find_server_binary, start_cluster
from fault_server import DID, RKEY, STATUS_ID, TOKEN, TWEET_ID, FaultServer, Schedule, Truth

from engmon.config import load_campaign
from engmon.core.recording import RecordingWriter, read_recording
from engmon.core.store import ObservationStore
from engmon.watch.poller import SourcePoller

pytestmark = pytest.mark.slow

POST = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
START = POST + timedelta(minutes=2)  # the watch starts two minutes after the post
FAULTS_END = START + timedelta(minutes=30)  # 30 simulated minutes of faults and outages
SETTLE_END = POST + timedelta(minutes=42)  # then fault-free until every source caught up
CLICK_MINUTES = 36  # the post's clicks stop here; later polls find nothing new
OUTAGES = [(POST + timedelta(minutes=10), POST + timedelta(minutes=14))]
OUTAGES.append((POST + timedelta(minutes=18), POST + timedelta(minutes=30)))  # > a 10 min window


def sources_toml(base: str, clickhouse: bool) -> str:
    """Ten `[[sources]]` tables, every HTTP kind, pointed at the fault server."""
    common = 'timeout = 0.25\ntoken_env = "ENGMON_SOAK_TOKEN"\n'
    tables = f"""
[[sources]]
kind = "plausible"
url = "{base}"
site_id = "example.com"
key_env = "ENGMON_SOAK_TOKEN"
hourly_limit = 100000
timeout = 0.25

[[sources]]
kind = "umami"
name = "umami-cloud"
api = "{base}/api"
website_id = "w-1"
api_key_env = "ENGMON_SOAK_TOKEN"
window_minutes = 10
timeout = 0.25

[[sources]]
kind = "umami"
name = "umami-self"
api = "{base}/api"
website_id = "w-1"
username_env = "ENGMON_SOAK_USER"
password_env = "ENGMON_SOAK_TOKEN"
interval = 20
timeout = 0.25

[[sources]]
kind = "bitly"
api = "{base}/v4"
bitlink = "bit.ly/soak"
units = 5
interval = 30
{common}
[[sources]]
kind = "http-json"
name = "feed-buckets"
url = "{base}/feed"
items = "data.rows"
shape = "buckets"
time = "minute"
value = "count"
interval = 20
{common}
[[sources]]
kind = "http-json"
name = "feed-events"
url = "{base}/events"
shape = "events"
time = "at"
id = "id"
interval = 20
{common}
[[sources]]
kind = "mastodon"
posts = ["{base}/@poster/{STATUS_ID}"]
interval = 30
timeout = 0.25

[[sources]]
kind = "bluesky"
posts = ["https://bsky.app/profile/{DID}/post/{RKEY}"]
api_url = "{base}"
interval = 30
timeout = 0.25

[[sources]]
kind = "x"
posts = ["https://x.com/poster/status/{TWEET_ID}"]
api_url = "{base}"
resharers = true
interval = 60
{common}"""
    if clickhouse:
        tables += f"""
[[sources]]
kind = "clickhouse"
url = "{base}/ch"
table = "clicks"
time_column = "ts"
link_column = "path"
referrer_column = "referrer"
link = "/launch"
binding = "external"
interval = 10
timeout = 0.5
"""
    return tables


@dataclass
class Turn:
    """One poll as the soak saw it: when, by whom, how it went and what wait followed."""

    at: float
    source: str
    ok: bool
    failures: int  # consecutive failed polls, this one included
    delay: float
    error: str = ""
    rate_limited: bool = False
    auth: bool = False


@dataclass
class Soak:
    """A running soak: server, pollers on the simulated clock, the recording, the log."""

    server: FaultServer
    pollers: list[SourcePoller]
    recorder: RecordingWriter
    store: ObservationStore
    turns: list[Turn] = field(default_factory=list)
    now: float = 0.0
    queue: list[tuple[float, int]] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    async def run_until(self, client: httpx.AsyncClient, end: datetime) -> None:
        """Poll whichever source is due first until the simulated clock reaches `end`."""
        stop = end.timestamp()
        while self.queue and self.queue[0][0] < stop:
            at, index = heapq.heappop(self.queue)
            self.now = at
            moment = datetime.fromtimestamp(at, UTC)
            self.server.clock = moment
            poller = self.pollers[index]
            result = await poller.poll_once(client, moment)
            name = poller.source.name
            if result is not None:
                self.recorder.append(result.frame)
                self.store.merge(result.frame)
            partial = None if result is None else result.partial_error
            ok = result is not None and partial is None
            self.failures[name] = 0 if ok else self.failures[name] + 1
            error = poller.status.last_error or "" if result is None else str(partial or "")
            self.turns.append(
                Turn(
                    at,
                    name,
                    result is not None,
                    self.failures[name],
                    poller.delay(),
                    error,
                    "HTTP 429" in error or "rate limited" in error,
                    "HTTP 401" in error or "rejected" in error,
                )
            )
            heapq.heappush(self.queue, (at + poller.delay(), index))


@pytest.fixture
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer | None]:
    """A real ClickHouse server holding the truth's clicks (None when none is installed)."""
    if find_server_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no clickhouse-server binary", pytrace=False)
        yield None
        return
    server = start_cluster(tmp_path_factory.mktemp("soak-clickhouse"), 1)[0]
    try:
        yield server
    finally:
        server.stop()


def _fill_clickhouse(server: LocalServer, truth: Truth) -> None:
    server.query(
        "CREATE TABLE clicks (ts DateTime, path String, referrer String)"
        " ENGINE = MergeTree ORDER BY ts"
    )
    rows = "".join(f"{c:%Y-%m-%d %H:%M:%S}\t/launch\tTwitter\n" for c in truth.clicks)
    rows += "".join(f"{c:%Y-%m-%d %H:%M:%S}\t/other\t\n" for c in truth.clicks[::3])
    server.query("INSERT INTO clicks FORMAT TabSeparated", rows.encode())


def _rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _objects() -> int:
    """Objects the collector tracks, without this test's own log of turns."""
    return sum(1 for item in gc.get_objects() if not isinstance(item, Turn))


FIGURES: dict[str, Any] = {}


async def test_soak_thirty_minutes_of_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clickhouse: LocalServer | None
) -> None:
    monkeypatch.setenv("ENGMON_SOAK_TOKEN", TOKEN)
    monkeypatch.setenv("ENGMON_SOAK_USER", "soak")
    truth = Truth(POST, minutes=CLICK_MINUTES)
    schedule = Schedule(rate=0.1, outages=OUTAGES)
    began = time.perf_counter()
    with FaultServer(truth, schedule) as server:
        if clickhouse is not None:
            server.clickhouse = clickhouse.url
            _fill_clickhouse(clickhouse, truth)
        campaign = tmp_path / "campaign.toml"
        campaign.write_text(
            f'[campaign]\nname = "soak"\nlink = "https://example.com/launch"\n'
            f'posted_at = "{POST.isoformat()}"\nfollowers = 30000\n'
            + sources_toml(server.base, clickhouse is not None)
        )
        config = load_campaign(campaign)
        assert len(config.sources) == (10 if clickhouse is not None else 9)
        record = tmp_path / "soak.ndjson"
        sim = [START.timestamp()]
        pollers = [  # seeded jitter: the same run every time
            SourcePoller(s, clock=lambda: sim[0], rng=random.Random(i))
            for i, s in enumerate(config.sources)
        ]
        soak = Soak(
            server, pollers, RecordingWriter(record, config.campaign), ObservationStore(POST)
        )
        soak.queue = [(START.timestamp() + i * 0.5, i) for i in range(len(pollers))]
        heapq.heapify(soak.queue)
        async with httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as client:
            await soak.run_until(client, FAULTS_END)
            schedule.enabled = False
            await soak.run_until(client, SETTLE_END)
            # nothing new from here on: memory must not grow with more polls
            await soak.run_until(client, SETTLE_END + timedelta(minutes=5))
            gc.collect()
            before_rss, before_objects = _rss_kib(), _objects()
            polls_before = len(soak.turns)
            await soak.run_until(client, SETTLE_END + timedelta(minutes=30))
            gc.collect()
            after_rss, after_objects = _rss_kib(), _objects()
            plateau_polls = len(soak.turns) - polls_before
        soak.recorder.close()

    fault_turns = [t for t in soak.turns if t.at < FAULTS_END.timestamp()]
    FIGURES.update(
        sources=len(pollers),
        simulated_minutes=(FAULTS_END - START).total_seconds() / 60,
        polls=len(fault_turns),
        failed_polls=sum(not t.ok for t in fault_turns),
        partial_polls=sum(t.ok and t.failures > 0 for t in fault_turns),
        requests=server.requests,
        faults=dict(schedule.counts),
        plateau_polls=plateau_polls,
        rss_growth_kib=after_rss - before_rss,
        object_growth=after_objects - before_objects,
        max_rss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        real_seconds=round(time.perf_counter() - began, 1),
        longest_wait_s=round(max(t.delay for t in soak.turns), 1),
    )

    # every fault kind happened, and during the outages every source kept trying
    assert set(schedule.counts) >= {"500", "429", "timeout", "cut", "reset", "html502", "401"}
    _check_waits(soak, pollers)
    recorded = read_recording(record).frame
    _check_curves(recorded, truth, clickhouse is not None)
    _check_social(recorded, truth, soak)
    # memory: hundreds of polls with nothing new leave the heap where it was
    assert plateau_polls > 500
    assert after_objects - before_objects < 1_000, FIGURES
    assert after_rss - before_rss < 16 * 1024, FIGURES
    print("soak figures:", FIGURES)


def _check_waits(soak: Soak, pollers: list[SourcePoller]) -> None:
    """Each wait is what the backoff allows: never the 181-598 s of a rate-limit reset."""
    intervals = {p.source.name: p.source.interval for p in pollers}
    cap = pollers[0].max_backoff
    for turn in soak.turns:
        interval = intervals[turn.source]
        if turn.ok and turn.failures == 0:
            allowed = max(interval, 10.0)  # a good poll: the interval, or a short pacing wait
        else:
            allowed = min(cap, interval * 2 ** (turn.failures - 1) + interval)
            if turn.rate_limited:
                allowed = max(allowed, 5.0)  # the server's Retry-After
            if turn.auth:
                allowed = max(allowed, pollers[0].auth_retry + interval)
        assert turn.delay <= allowed + 1e-6, turn
    for poller in pollers:  # every source recovered and polled right up to the end
        mine = [t for t in soak.turns if t.source == poller.source.name]
        assert mine[-1].ok and mine[-1].at > SETTLE_END.timestamp()
        longest = max(b.at - a.at for a, b in pairwise(mine))
        assert longest <= cap + 1e-6, (poller.source.name, longest)


def _check_curves(recorded: pl.DataFrame, truth: Truth, clickhouse: bool) -> None:
    """Per-minute clicks of every analytics source equal the truth for every minute."""
    expected = Counter(c.replace(second=0, microsecond=0) for c in truth.clicks)
    minutes = [POST + timedelta(minutes=m) for m in range(CLICK_MINUTES + 4)]
    store = ObservationStore(POST)
    store.merge(recorded)
    buckets = store.buckets().filter(pl.col("width_s") == 60, pl.col("metric") == "clicks")
    names = ["plausible", "umami-cloud", "umami-self", "bitly", "feed-buckets"]
    names += ["clickhouse"] if clickhouse else []
    for name in names:
        got = dict(buckets.filter(pl.col("source") == name).select("ts", "value").iter_rows())
        mismatched = [
            (m.strftime("%H:%M"), got.get(m, 0.0), expected.get(m, 0))
            for m in minutes
            if got.get(m, 0.0) != expected.get(m, 0)
        ]
        assert not mismatched, (name, mismatched)
    events = store.deltas().filter(pl.col("source") == "feed-events", pl.col("metric") == "clicks")
    per_minute = Counter(ts.replace(second=0, microsecond=0) for ts in events["ts"].to_list())
    assert per_minute == expected


def _check_social(recorded: pl.DataFrame, truth: Truth, soak: Soak) -> None:
    """Counters end at the truth; each reposter is recorded once, with its followers."""
    final = POST + timedelta(hours=2)
    for source, suffix in (("mastodon", "@127.0.0.1"), ("bluesky", ""), ("x", "")):
        rows = recorded.filter(pl.col("source") == source)
        resharers = rows.filter(pl.col("metric") == "resharers")
        assert resharers["id"].is_unique().all(), source  # never written twice
        names = {a.removeprefix("did:plc:").removesuffix(suffix) for a in resharers["actor"]}
        assert names == {name for name, _, _ in truth.reposters}, source
        reach = {name: f for name, f, _ in truth.reposters}
        for actor, followers in resharers.select("actor", "reach").iter_rows():
            key = actor.removeprefix("did:plc:").removesuffix(suffix)
            assert followers == reach[key], (source, actor)
        totals = rows.filter(pl.col("kind") == "total")
        last = totals.group_by("metric").agg(pl.col("value").last(), pl.col("ts").last())
        levels = {metric: (value, ts) for metric, value, ts in last.iter_rows()}
        assert levels["reposts"][0] == len(truth.reposted(final)), source
        likes, sampled = levels["likes"]
        assert likes == truth.likes(sampled), source  # the counter as it stood at that poll
    assert not [t for t in soak.turns if "Traceback" in t.error]
