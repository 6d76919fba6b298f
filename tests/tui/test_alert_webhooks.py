"""Alerts to chat from the dashboard: posted in a worker, so a hanging webhook never holds the
screen, and a refusal becomes a notification that names the variable, not the URL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl
import pytest
from conftest import MakeApp
from posts import POST_TIME
from screen import redraw, settle

from engmon.core.alerts import AlertRules, WebhookTarget


@pytest.fixture
def hook() -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    """A receiver on 127.0.0.1: `behaviour['status']` to answer, `behaviour['hold']` seconds
    to keep a request waiting first; the paths it was posted to."""
    posted: list[str] = []
    behaviour: dict[str, Any] = {"status": 200, "hold": 0.0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posted.append(self.path)
            time.sleep(behaviour["hold"])
            self.send_response(behaviour["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", posted, behaviour
    server.shutdown()
    server.server_close()


def _flat_app(make_app: MakeApp, url: str) -> Any:
    target = WebhookTarget("discord", "ENGMON_TEST_HOOK", f"{url}/hook/SECRET")
    app = make_app(30, alerts=AlertRules(flat_minutes=5, webhooks=(target,)))
    app.session.store = type(app.store)(post_time=POST_TIME)  # nothing came in: a flat post
    app.store.merge(pl.DataFrame({"ts": [POST_TIME], "metric": ["likes"], "value": [0.0]}))
    return app


async def test_a_hanging_webhook_never_holds_the_dashboard(
    make_app: MakeApp, hook: tuple[str, list[str], dict[str, Any]]
) -> None:
    url, posted, behaviour = hook
    behaviour["hold"] = 3.0
    app = _flat_app(make_app, url)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: bool(posted), tries=250)
        started = time.monotonic()
        await pilot.press("question_mark")  # the webhook is still waiting on its answer
        await settle(pilot, lambda: len(app.screen_stack) == 2)
        await redraw(pilot)
        assert time.monotonic() - started < behaviour["hold"]
        assert [a.kind for a in app.alerts_fired] == ["flat"]


async def test_a_refused_webhook_is_a_notification_without_its_url(
    make_app: MakeApp, hook: tuple[str, list[str], dict[str, Any]]
) -> None:
    url, posted, behaviour = hook
    behaviour["status"] = 404
    app = _flat_app(make_app, url)
    async with app.run_test(size=(120, 40)) as pilot:

        def told() -> bool:
            return any("refused: HTTP 404" in n.message for n in app._notifications)

        await settle(pilot, told, tries=250)
        messages = [n.message for n in app._notifications]
        assert posted == ["/hook/SECRET"]
        assert any("discord webhook $ENGMON_TEST_HOOK" in m for m in messages)
        assert not any("SECRET" in m for m in messages)
