"""A loopback server (127.0.0.1, port 0) playing every HTTP vendor engmon reads, on a fake clock,
with a schedule of faults: 500, 429 + Retry-After, timeouts, cut JSON, connection resets, an
HTML 502 page and 401s, plus outages where every request fails.

The truth is one shared post: `Truth` holds its clicks (every click has a time, so a minute can
be asked while it is still filling) and its reposters (each with a time and followers). The
server answers Plausible, Umami, Bitly, two JSON feeds, Mastodon, Bluesky and X from it in their
documented shapes (see tests/data/ORIGINS.md for the vendor_server and social_server these
follow), as of `clock` -- the simulated time the soak test advances between polls. ClickHouse
requests (`/ch/`) are forwarded to a real local server the test fills with the same clicks.
"""

from __future__ import annotations

import json
import math
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

TOKEN = "soak-token-3e1f"
STATUS_ID = "113000000000000777"
TWEET_ID = "1293593516040269777"
DID = "did:plc:soakposter00000000000001"
RKEY = "3kaheyt6vpsoak"
FAULTS = ("500", "429", "timeout", "cut", "reset", "html502", "401")


def minute_of(moment: datetime) -> datetime:
    """Start of the minute."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


@dataclass
class Truth:
    """The post as it really happened: click times and reposters (name, followers, time)."""

    post: datetime
    minutes: int = 40
    seed: int = 11
    clicks: list[datetime] = field(default_factory=list)
    reposters: list[tuple[str, int, datetime]] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        for minute in range(self.minutes):
            count = int(60 * math.exp(-minute / 12)) + rng.randint(0, 4)
            start = self.post + timedelta(minutes=minute)
            self.clicks += sorted(
                start + timedelta(seconds=rng.randrange(60), microseconds=rng.randrange(10**6))
                for _ in range(count)
            )
        for index in range(45):
            at = self.post + timedelta(seconds=int(40 * index * (1 + rng.random())))
            self.reposters.append((f"fan{index:02d}", rng.randint(5, 20_000), at))

    def clicks_until(self, now: datetime) -> list[datetime]:
        """Clicks that happened before `now` (the vendor shows nothing from the future)."""
        return [c for c in self.clicks if c < now]

    def per_minute(self, start: datetime, end: datetime, now: datetime) -> Counter[datetime]:
        """Clicks per minute for clicks in [start, end] seen by `now`."""
        return Counter(minute_of(c) for c in self.clicks_until(now) if start <= c <= end)

    def reposted(self, now: datetime) -> list[tuple[str, int, datetime]]:
        """Reposters so far, newest first (how the platforms list them)."""
        done = [r for r in self.reposters if r[2] <= now]
        return sorted(done, key=lambda r: r[2], reverse=True)

    def likes(self, now: datetime) -> int:
        """A like counter that also drops now and then (unlikes)."""
        seconds = max(0.0, (now - self.post).total_seconds())
        return int(3 * math.sqrt(seconds)) - (1 if int(seconds) % 300 < 30 else 0)


@dataclass
class Schedule:
    """Which request fails how: outages (simulated time ranges) and a random share of faults."""

    rate: float = 0.1
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    seed: int = 5
    enabled: bool = True
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def pick(self, now: datetime) -> str | None:
        """The fault for one request at simulated `now`, or None."""
        if not self.enabled:
            return None
        if any(start <= now < end for start, end in self.outages):
            fault = ("500", "reset", "html502")[self._rng.randrange(3)]
        elif self._rng.random() < self.rate:
            fault = FAULTS[self._rng.randrange(len(FAULTS))]
        else:
            return None
        self.counts[fault] += 1
        return fault


class FaultServer:
    """Every vendor on one port, answering as of `clock`, failing as `schedule` says."""

    def __init__(self, truth: Truth, schedule: Schedule, *, timeout_sleep: float = 0.4) -> None:
        self.truth = truth
        self.schedule = schedule
        self.clock = truth.post
        self.timeout_sleep = timeout_sleep
        self.clickhouse: str | None = None  # base URL of the real server behind /ch/
        self.requests = 0
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.request_queue_size = 64
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._proxy = httpx.Client(timeout=10.0)

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._proxy.close()

    # --- answers ------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of one request that is not a fault."""
        now = self.clock
        if path.startswith("/ch/"):
            return self._forward(method, path, query, body, headers)
        auth = headers.get("authorization", "") + headers.get("x-umami-api-key", "")
        public = path.startswith(("/api/v1/statuses", "/xrpc/", "/api/auth/login"))
        if not public and TOKEN not in auth and not auth.startswith("Bearer jwt-"):
            return 401, {}, b'{"error": "unauthorized"}'
        data = json.loads(body) if body else None
        if path == "/api/v2/query":
            return 200, {}, _json(self._plausible(data, now))
        if path == "/api/v1/stats/realtime/visitors":  # a bare number, as documented
            return 200, {}, _json(len(self.truth.clicks_until(now)) % 7)
        if path == "/api/auth/login":
            if not isinstance(data, dict) or data.get("password") != TOKEN:
                return 401, {}, b'{"error": "Incorrect username and/or password."}'
            return 200, {}, _json({"token": "jwt-" + TOKEN[:4], "user": {"id": "u1"}})
        if path.startswith("/api/websites/"):
            return 200, {}, _json(self._umami(path.rsplit("/", 1)[-1], query, now))
        if path.startswith("/v4/bitlinks/"):
            return 200, {}, _json(self._bitly(path.rsplit("/", 1)[-1], query, now))
        if path == "/feed":
            counts = self.truth.per_minute(minute_of(now - timedelta(minutes=59)), now, now)
            rows = [{"minute": m.isoformat(), "count": c} for m, c in sorted(counts.items())]
            return 200, {}, _json({"data": {"rows": rows}})
        if path == "/events":
            since = minute_of(now - timedelta(minutes=59))
            seen = [c for c in self.truth.clicks_until(now) if c >= since]
            items = [{"id": f"e{c.timestamp():.6f}", "at": c.isoformat()} for c in seen]
            return 200, {}, _json(items)
        limits = {"X-RateLimit-Remaining": "280", "X-RateLimit-Reset": _reset_in(300)}
        if path == f"/api/v1/statuses/{STATUS_ID}":
            return 200, limits, _json(self._status(now))
        if path == f"/api/v1/statuses/{STATUS_ID}/reblogged_by":
            accounts = [
                {"id": name, "username": name, "acct": name, "followers_count": followers}
                for name, followers, _ in self.truth.reposted(now)
            ]
            return 200, limits, _json(accounts)
        if path == "/2/tweets":
            return 200, {"x-rate-limit-remaining": "880"}, _json(self._tweets(now))
        if path == f"/2/tweets/{TWEET_ID}/retweeted_by":
            users = [
                {"id": str(1000 + int(name[3:])), "username": name, "name": name}
                | {"public_metrics": {"followers_count": followers}}
                for name, followers, _ in self.truth.reposted(now)
            ]
            return 200, {}, _json({"data": users, "meta": {"result_count": len(users)}})
        if path.startswith("/xrpc/"):
            return self._xrpc(path.removeprefix("/xrpc/"), query, now)
        return 404, {}, b'{"error": "not found"}'

    def _forward(
        self, method: str, path: str, query: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        assert self.clickhouse is not None
        keep = {k: v for k, v in headers.items() if k.startswith("x-clickhouse") or k in _CT}
        response = self._proxy.request(
            method,
            self.clickhouse + path.removeprefix("/ch"),
            params=query,
            content=body,
            headers=keep,
        )
        return response.status_code, {}, response.content

    def _plausible(self, body: Any, now: datetime) -> dict[str, Any]:
        start = datetime.fromisoformat(body["date_range"][0])
        end = datetime.fromisoformat(body["date_range"][1]) + timedelta(seconds=1)  # inclusive
        clicks = [c for c in self.truth.clicks_until(min(now, end)) if c >= start]
        total = len(clicks)
        dims = body.get("dimensions") or []
        if not dims:
            return {"results": [{"metrics": [total, (total + 1) // 2], "dimensions": []}]}
        label = {
            "visit:source": "Twitter",
            "visit:country": "EE",
            "visit:device": "Mobile",
            "visit:browser": "Firefox",
            "visit:os": "Linux",
            "visit:utm_source": "mastodon",
        }
        rest = ["(not set)"] * (len(dims) - 1)  # the utm query asks four dimensions
        results = [{"metrics": [total, (total + 1) // 2], "dimensions": [label[dims[0]], *rest]}]
        return {"results": results if total else []}

    def _umami(self, what: str, query: dict[str, str], now: datetime) -> Any:
        if what == "active":
            return {"visitors": 2}
        start = datetime.fromtimestamp(int(query["startAt"]) / 1000, UTC)
        end = datetime.fromtimestamp(int(query["endAt"]) / 1000, UTC)
        counts = self.truth.per_minute(start, end, now)
        if what == "pageviews":
            points = sorted(counts.items())
            return {
                "pageviews": [{"x": _z(m), "y": c} for m, c in points],
                "sessions": [{"x": _z(m), "y": (c + 1) // 2} for m, c in points],
            }
        total = sum(counts.values())
        label = {
            "referrer": "t.co",
            "country": "EE",
            "device": "mobile",
            "browser": "firefox",
            "os": "Linux",
            "query": "utm_source=mastodon",
        }[query["type"]]
        return [{"x": label, "y": total}] if total else []

    def _bitly(self, what: str, query: dict[str, str], now: datetime) -> Any:
        units = int(query["units"])
        reference = datetime.strptime(query["unit_reference"], "%Y-%m-%dT%H:%M:%S%z")
        start = minute_of(reference) - timedelta(minutes=units - 1)
        counts = self.truth.per_minute(start, reference, now)
        common = {"unit": "minute", "units": units, "unit_reference": query["unit_reference"]}
        if what == "clicks":
            points = [{"date": _bitly_time(m), "clicks": c} for m, c in sorted(counts.items())]
            return {"link_clicks": points[::-1], **common}
        value = {"referrers": "t.co", "countries": "EE"}[what]
        return {"metrics": [{"value": value, "clicks": sum(counts.values())}], **common}

    def _status(self, now: datetime) -> dict[str, Any]:
        return {
            "id": STATUS_ID,
            "url": f"{self.base}/@poster/{STATUS_ID}",
            "replies_count": len(self.truth.reposted(now)) // 3,
            "reblogs_count": len(self.truth.reposted(now)),
            "favourites_count": self.truth.likes(now),
            "reblog": None,
            "account": {"id": "1", "acct": "poster", "followers_count": 30_000},
        }

    def _tweets(self, now: datetime) -> dict[str, Any]:
        metrics = {
            "retweet_count": len(self.truth.reposted(now)),
            "reply_count": len(self.truth.reposted(now)) // 3,
            "like_count": self.truth.likes(now),
            "quote_count": 0,
        }
        tweet = {"id": TWEET_ID, "author_id": "42", "public_metrics": metrics}
        user = {"id": "42", "username": "poster", "public_metrics": {"followers_count": 30_000}}
        return {"data": [tweet], "includes": {"users": [user]}}

    def _xrpc(
        self, method: str, query: dict[str, str], now: datetime
    ) -> tuple[int, dict[str, str], bytes]:
        uri = f"at://{DID}/app.bsky.feed.post/{RKEY}"
        if method == "com.atproto.identity.resolveHandle":
            return 200, {}, _json({"did": DID})
        if method == "app.bsky.feed.getPosts":
            post = {
                "uri": uri,
                "author": {"did": DID, "handle": "poster.bsky.social"},
                "replyCount": len(self.truth.reposted(now)) // 3,
                "repostCount": len(self.truth.reposted(now)),
                "likeCount": self.truth.likes(now),
            }
            return 200, {}, _json({"posts": [post]})
        if method == "app.bsky.feed.getRepostedBy":
            actors = [{"did": f"did:plc:{name}"} for name, _, _ in self.truth.reposted(now)]
            return 200, {}, _json({"uri": uri, "repostedBy": actors})
        if method == "app.bsky.feed.getQuotes":
            return 200, {}, _json({"uri": uri, "posts": []})
        if method == "app.bsky.actor.getProfiles":
            followers = {f"did:plc:{n}": f for n, f, _ in self.truth.reposters} | {DID: 30_000}
            wanted = query.get("actors", "").split("\x00")
            profiles = [
                {"did": d, "followersCount": followers[d]} for d in wanted if d in followers
            ]
            return 200, {}, _json({"profiles": profiles})
        return 501, {}, b'{"error": "MethodNotImplemented"}'


_CT = ("content-type", "content-length")


def _reset_in(seconds: int) -> str:
    return str(int(time.time()) + seconds)


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _bitly_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            self.send_response(status)
            headers = {"Content-Type": "application/json"} | headers
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: "\x00".join(v) for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with server.lock:
                server.requests += 1
                fault = server.schedule.pick(server.clock)
            try:
                if fault == "reset":
                    # RST instead of FIN: the client sees "connection reset by peer"
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.close_connection = True
                    return
                if fault == "timeout":
                    time.sleep(server.timeout_sleep)
                status, extra, payload = server.answer(method, parts.path, query, body, headers)
                if fault == "500":
                    reset = {"X-RateLimit-Remaining": "250", "X-RateLimit-Reset": _reset_in(500)}
                    status, extra, payload = 500, reset, b'{"error": "internal"}'
                elif fault == "429":
                    extra = {"Retry-After": "5", "X-RateLimit-Remaining": "0"}
                    status, payload = 429, b'{"error": "too many requests"}'
                elif fault == "cut":
                    payload = payload[: max(1, len(payload) // 2)]
                elif fault == "html502":
                    extra = {"Content-Type": "text/html"}
                    status, payload = 502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                elif fault == "401":
                    status, extra, payload = 401, {}, b'{"error": "unauthorized"}'
                self._send(status, extra, payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout fault)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler
