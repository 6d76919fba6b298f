"""Alerts to chat against a real receiver on 127.0.0.1: each kind's body, retries with backoff,
a refusal, a dead receiver, the URL kept secret, and the plain watch posting a live alert."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from engmon.config import load_campaign
from engmon.core.alerts import Alert, AlertRules, AlertRunner, WebhookTarget
from engmon.errors import ConfigError
from engmon.watch.plain import watch_plain
from engmon.watch.session import Session
from engmon.watch.webhooks import deliver_alert, send_webhook

ALERT = Alert("spike", datetime(2026, 3, 10, 14, 5, tzinfo=UTC), "spike: 12 clicks/min")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers `statuses` in turn, then 200. GET /feed: an empty feed."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    base: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            payload = json.dumps({"data": {"rows": []}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def target(kind: str, url: str) -> WebhookTarget:
    return WebhookTarget(kind, "ENGMON_TEST_HOOK", url)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        (
            "slack",
            lambda r: r.json() == {"text": "engmon Launch &lt;!channel&gt;: spike: 12 clicks/min"},
        ),
        (
            "discord",
            lambda r: (
                r.json()["content"] == "engmon Launch <!channel>: spike: 12 clicks/min"
                and r.json()["allowed_mentions"] == {"parse": []}
            ),
        ),
        (
            "ntfy",
            lambda r: (
                r.body.decode() == "engmon Launch <!channel>: spike: 12 clicks/min"
                and r.headers["Tags"] == "chart_with_upwards_trend"
            ),
        ),
        (
            "json",
            lambda r: (
                r.json() | {"version": "-"}
                == {
                    "source": "engmon",
                    "version": "-",
                    "campaign": "Launch <!channel>",
                    "kind": "spike",
                    "message": "spike: 12 clicks/min",
                    "at": "2026-03-10T14:05:00Z",
                }
            ),
        ),
    ],
)
async def test_each_kind_posts_its_own_body(kind: str, check: Any, receiver: Receiver) -> None:
    async with httpx.AsyncClient() as client:
        hook = target(kind, f"{receiver.base}/hook/{kind}")
        assert await send_webhook(client, hook, ALERT, "Launch <!channel>") is None
    [got] = receiver.received
    assert got.path == f"/hook/{kind}"
    assert check(got), got


async def test_a_busy_receiver_is_retried_with_backoff(receiver: Receiver) -> None:
    receiver.statuses = [503, 429]
    async with httpx.AsyncClient() as client:
        hook = target("json", f"{receiver.base}/hook")
        assert await send_webhook(client, hook, ALERT, backoff_s=0.01) is None
    assert len(receiver.received) == 3  # two refusals, then delivered


async def test_giving_up_and_refusals_name_the_variable_never_the_url(
    receiver: Receiver,
) -> None:
    secret = f"{receiver.base}/services/T000/B000/XXXXSECRET"
    receiver.statuses = [500, 500, 500, 403]
    async with httpx.AsyncClient() as client:
        failed = await send_webhook(client, target("slack", secret), ALERT, attempts=3, backoff_s=0)
        refused = await send_webhook(client, target("slack", secret), ALERT, backoff_s=0)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        dead = f"http://127.0.0.1:{port}/services/XXXXSECRET"
        unreachable = await send_webhook(client, target("ntfy", dead), ALERT, backoff_s=0)
    assert failed == "alert slack webhook $ENGMON_TEST_HOOK failed: HTTP 500 after 3 tries"
    assert refused == "alert slack webhook $ENGMON_TEST_HOOK refused: HTTP 403"
    assert unreachable == "alert ntfy webhook $ENGMON_TEST_HOOK failed: ConnectError after 4 tries"
    assert len(receiver.received) == 4
    assert "SECRET" not in repr(target("slack", secret))


async def test_a_slow_webhook_runs_beside_the_command(receiver: Receiver, tmp_path: Path) -> None:
    out = tmp_path / "ran"
    rules = AlertRules(
        command=("python3", "-c", f"open({str(out)!r}, 'w').write('ok')"),
        webhooks=(target("discord", f"{receiver.base}/a"), target("json", f"{receiver.base}/b")),
    )
    async with httpx.AsyncClient() as client:
        problems = await deliver_alert(client, AlertRunner(rules), ALERT, "Launch")
    assert problems == []
    assert sorted(r.path for r in receiver.received) == ["/a", "/b"]
    assert out.read_text() == "ok"


def _campaign(tmp_path: Path, base: str, hooks: str) -> Path:
    posted = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    path = tmp_path / "campaign.toml"
    path.write_text(
        f"""
[campaign]
name = "Launch day"
posted_at = "{posted}"
followers = 2000

[[sources]]
kind = "http-json"
name = "feed"
url = "{base}/feed"
items = "data.rows"
shape = "buckets"
time = "minute"
value = "count"
interval = 0.05

[alerts]
flat_minutes = 2
{hooks}
"""
    )
    return path


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "environment variable ENGMON_TEST_HOOK is not set"),
        ("https://hooks.example/abc\r\nX-Evil: 1", "printable ASCII"),
        ("https://hooks.example/caf\u00e9", "printable ASCII"),
        ("ftp://hooks.example/abc", "http(s) URL"),
    ],
)
def test_webhook_urls_are_checked_at_load_and_never_shown(
    value: str | None, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("ENGMON_TEST_HOOK", raising=False)
    else:
        monkeypatch.setenv("ENGMON_TEST_HOOK", value)
    hooks = '[[alerts.webhooks]]\nkind = "slack"\nurl_env = "ENGMON_TEST_HOOK"\n'
    with pytest.raises(ConfigError) as caught:
        load_campaign(_campaign(tmp_path, "http://127.0.0.1:9", hooks))
    message = str(caught.value)
    assert problem in message
    assert "[alerts.webhooks #0]" in message
    assert "hooks.example" not in message


def test_unknown_webhook_kind_and_keys_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_HOOK", "https://hooks.example/abc")
    for table, problem in (
        ('kind = "teams"\nurl_env = "ENGMON_TEST_HOOK"', "slack, discord, ntfy, json"),
        ('kind = "slack"\nurl = "https://hooks.example/abc"', "'url'"),
    ):
        hooks = f"[[alerts.webhooks]]\n{table}\n"
        with pytest.raises(ConfigError, match=r"alerts\.webhooks") as caught:
            load_campaign(_campaign(tmp_path, "http://127.0.0.1:9", hooks))
        assert problem in str(caught.value)


async def test_plain_watch_posts_a_live_alert_to_the_webhook(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"{receiver.base}/hook/SECRET-TOKEN"
    monkeypatch.setenv("ENGMON_TEST_HOOK", secret)
    hooks = '[[alerts.webhooks]]\nkind = "json"\nurl_env = "ENGMON_TEST_HOOK"\n'
    config = load_campaign(_campaign(tmp_path, receiver.base, hooks))
    assert "SECRET" not in repr(config.alerts)
    watch = Session.open(config, tmp_path / "rec.ndjson")
    out = io.StringIO()
    task = asyncio.create_task(watch_plain(watch, out=out))
    for _ in range(500):
        if receiver.received:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await watch.aclose()
    assert [r.json()["kind"] for r in receiver.received] == ["flat"], out.getvalue()
    assert receiver.received[0].json()["campaign"] == "Launch day"
    assert "ALERT flat:" in out.getvalue()
    assert "SECRET" not in out.getvalue()


def test_the_example_alerts_block_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = (Path(__file__).parents[2] / "config.example.toml").read_text(encoding="utf-8")
    block = example[example.index("# [alerts]") :].split("\n\n")[0]
    lines = [line.removeprefix("# ") for line in block.splitlines()]
    toml = "\n".join(line for line in lines if re.match(r"\[|\w+ *=", line))  # not the prose
    monkeypatch.setenv("ENGMON_SLACK_WEBHOOK", "https://hooks.slack.example/services/T/B/X")
    monkeypatch.setenv("ENGMON_NTFY_TOPIC", "https://ntfy.example/engmon")
    path = tmp_path / "example.toml"
    path.write_text('[campaign]\nname = "x"\nposted_at = "now"\n\n' + toml + "\n")
    alerts = load_campaign(path).alerts
    assert [(h.kind, h.url_env) for h in alerts.webhooks] == [
        ("slack", "ENGMON_SLACK_WEBHOOK"),
        ("ntfy", "ENGMON_NTFY_TOPIC"),
    ]
    assert alerts.spike_per_min == 20
