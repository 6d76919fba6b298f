"""A loopback HTTP server speaking Plausible, Umami, Bitly and a plain JSON feed, with faults.

Tests start it on 127.0.0.1 port 0 (a thread per request), point sources at `base`, and queue
faults (`server.faults.append("500")`) that the next requests answer with instead. The
answers are shaped like the vendors' documented responses (see tests/data/ORIGINS.md).
Every minute of the fake link's traffic is `clicks[minute]`; the server reads it on each
request, so a test can add late clicks to an old minute and see the bucket change.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "tok-SECRET-7f3a9c"
"""The only credential the server accepts (tests check it never leaks)."""

FAULTS = ("500", "timeout", "badjson", "shape", "401", "403", "429")


def minute_of(moment: datetime) -> datetime:
    """Start of the minute."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class VendorServer:
    """The fake vendor: `clicks` per minute, a fault queue, and a log of requests."""

    def __init__(self, *, timeout_sleep: float = 1.5) -> None:
        self.clicks: dict[datetime, int] = {}
        self.faults: deque[str] = deque()
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.timeout_sleep = timeout_sleep
        self.fault_prefix = ""  # only requests whose path starts with this take a fault
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> VendorServer:
        """Listen on 127.0.0.1 (port 0 the first time, the same port after `stop`)."""
        handler = _handler_for(self)
        server = _Server(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    def add(self, moment: datetime, count: int) -> None:
        """Add `count` clicks in the minute of `moment`."""
        with self.lock:
            key = minute_of(moment)
            self.clicks[key] = self.clicks.get(key, 0) + count

    def between(self, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """Minutes with clicks whose start lies in [start, end], in order."""
        with self.lock:
            return sorted((m, c) for m, c in self.clicks.items() if start <= m <= end)

    # --- answers --------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request (after faults and auth)."""
        with self.lock:
            self.requests.append((method, path, query))
            takes = self.faults and path.startswith(self.fault_prefix)
            fault = self.faults.popleft() if takes else None
        if fault == "timeout":
            time.sleep(self.timeout_sleep)
        elif fault == "500":
            return 500, {}, b'{"error": "internal"}'
        elif fault in ("401", "403"):
            return int(fault), {}, b'{"error": "unauthorized"}'
        elif fault == "429":
            reset = str(int(time.time()) + 1)
            return (
                429,
                {"Retry-After": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
                b'{"error": "too many requests"}',
            )
        elif fault == "badjson":
            return 200, {}, b"<html>502 Bad Gateway</html>"
        elif fault == "shape":
            return 200, {}, b'{"data": {"unexpected": true}}'
        if path == "/api/auth/login":
            ok = isinstance(body, dict) and body.get("password") == TOKEN
            if not ok:
                return 401, {}, b'{"error": "Incorrect username and/or password."}'
            return 200, {}, _json({"token": "jwt-" + TOKEN, "user": {"id": "u1"}})
        auth = headers.get("authorization", "")
        key = headers.get("x-umami-api-key", "")
        if TOKEN not in auth and key != TOKEN:
            return 401, {}, b'{"error": "unauthorized"}'
        now = datetime.now(UTC)
        if path == "/api/v2/query":
            return 200, {}, _json(self._plausible(body))
        if path == "/api/v1/stats/realtime/visitors":  # a bare number, as documented
            return 200, {}, _json(len(self.between(now - timedelta(minutes=5), now)))
        if path.startswith("/api/websites/"):
            return 200, {}, _json(self._umami(path.rsplit("/", 1)[-1], query))
        if path.startswith("/v4/bitlinks/"):
            return 200, {}, _json(self._bitly(path.rsplit("/", 1)[-1], query, now))
        if path == "/feed":
            points = self.between(now - timedelta(minutes=60), now)
            rows = [{"minute": m.isoformat(), "count": c, "ref": "t.co"} for m, c in points]
            return 200, {}, _json({"data": {"rows": rows}})
        return 404, {}, b'{"error": "not found"}'

    def _plausible(self, body: Any) -> dict[str, Any]:
        start = datetime.fromisoformat(body["date_range"][0])
        end = datetime.fromisoformat(body["date_range"][1])
        total = sum(c for _, c in self.between(minute_of(start), end))
        dims = body.get("dimensions") or []
        if not dims:
            results: list[dict[str, Any]] = [
                {"metrics": [total, (total + 1) // 2], "dimensions": []}
            ]
        elif dims == ["time:hour"]:  # the goal's visitors per hour: a third of the views
            hour = start.replace(minute=0, second=0).strftime("%Y-%m-%d %H:00:00")
            results = [{"metrics": [total // 3, total // 3], "dimensions": [hour]}]
        else:
            labels = {
                "visit:source": ["Twitter", "Direct / None"],
                "visit:country": ["US", "EE"],
                "visit:device": ["Mobile", "Desktop"],
                "visit:browser": ["Chrome", "Safari"],
                "visit:os": ["Mac", "iOS"],
                "visit:utm_source": ["mastodon", "(not set)"],
            }[dims[0]]
            first = total - total // 3
            rest = ["(not set)"] * (len(dims) - 1)  # utm: medium, campaign, content
            results = [
                {"metrics": [first, (first + 1) // 2], "dimensions": [labels[0], *rest]},
                {
                    "metrics": [total - first, (total - first + 1) // 2],
                    "dimensions": [labels[1], *rest],
                },
            ]
        return {"results": results, "meta": {}, "query": body}

    def _umami(self, what: str, query: dict[str, str]) -> Any:
        if what == "active":
            return {"visitors": 3}
        start = datetime.fromtimestamp(int(query["startAt"]) / 1000, UTC)
        end = datetime.fromtimestamp(int(query["endAt"]) / 1000, UTC)
        points = self.between(minute_of(start), end)
        if what == "pageviews":
            return {
                "pageviews": [{"x": _z(m), "y": c} for m, c in points],
                "sessions": [{"x": _z(m), "y": (c + 1) // 2} for m, c in points],
            }
        if what == "metrics":
            total = sum(c for _, c in points)
            label = {
                "referrer": "t.co",
                "country": "US",
                "device": "mobile",
                "browser": "firefox",
                "os": "Linux",
                "query": "utm_source=mastodon&utm_campaign=launch",
            }[query["type"]]
            return [{"x": label, "y": total}] if total else []
        if what == "series":  # events/series: a third of the views were the "signup" event
            total = sum(c for _, c in points)
            hour = _z(minute_of(start).replace(minute=0))
            return [{"x": "signup", "t": hour, "y": total // 3}] if total else []
        raise KeyError(what)

    def _bitly(self, what: str, query: dict[str, str], now: datetime) -> Any:
        units = int(query.get("units", "60"))
        reference = datetime.fromisoformat(query.get("unit_reference", now.isoformat()))
        start = minute_of(reference) - timedelta(minutes=units - 1)
        points = self.between(start, reference)
        common = {"unit": "minute", "units": units, "unit_reference": _bitly_time(reference)}
        if what == "clicks":
            clicks = [{"date": _bitly_time(m), "clicks": c} for m, c in reversed(points)]
            return {"link_clicks": clicks, **common}
        total = sum(c for _, c in points)
        value = {"referrers": "http://t.co/", "countries": "US"}[what]
        return {"metrics": [{"value": value, "clicks": total}], "facet": what, **common}


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _bitly_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections when many sources poll at once


def _handler_for(vendor: VendorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = vendor.answer(method, parts.path, query, body, headers)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout fault)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def campaign_toml(tmp_path: Path, sources: str, posted_at: str = "") -> Path:
    """A campaign file posted 5 minutes ago (or at `posted_at`) with the given source tables."""
    posted = posted_at or (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    path = tmp_path / "campaign.toml"
    path.write_text(
        f"""
[campaign]
name = "Launch day"
link = "https://example.com/launch"
posted_at = "{posted}"
followers = 12000

{sources}
""",
        encoding="utf-8",
    )
    return path


def source_tables(base: str) -> dict[str, str]:
    """One `[[sources]]` table per family, pointed at the server, token from the environment."""
    return {
        "plausible": f"""
[[sources]]
kind = "plausible"
url = "{base}"
site_id = "example.com"
key_env = "ENGMON_TEST_TOKEN"
hourly_limit = 100000
interval = 0.05
goal = "Signup"
""",
        "umami": f"""
[[sources]]
kind = "umami"
api = "{base}/api"
website_id = "w-1"
api_key_env = "ENGMON_TEST_TOKEN"
interval = 0.05
goal = "signup"
""",
        "bitly": f"""
[[sources]]
kind = "bitly"
api = "{base}/v4"
bitlink = "bit.ly/abc"
token_env = "ENGMON_TEST_TOKEN"
interval = 0.05
""",
        "http-json": f"""
[[sources]]
kind = "http-json"
name = "feed"
url = "{base}/feed"
token_env = "ENGMON_TEST_TOKEN"
items = "data.rows"
shape = "buckets"
time = "minute"
value = "count"
dimensions = {{ referrer = "ref" }}
interval = 0.05
""",
    }
