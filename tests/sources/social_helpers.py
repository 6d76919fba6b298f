"""Test helpers for the post sources: recorded cassettes as httpx responses, a scripted router."""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import deepcopy
from pathlib import Path
from typing import Any

import httpx

DATA = Path(__file__).resolve().parent.parent / "data" / "social"


def cassette(name: str) -> list[dict[str, Any]]:
    """The recorded interactions of `tests/data/social/<name>` (a JSON list)."""
    folder = "tweepy" if name.startswith("test_client") else "mastodon"
    if name.startswith(("lexicon", "atproto")):
        folder = "bluesky"
    loaded: list[dict[str, Any]] = json.loads((DATA / folder / name).read_text())
    return loaded


def recorded(name: str, uri_suffix: str, method: str = "GET") -> dict[str, Any]:
    """The first recorded interaction of `name` whose URI ends with `uri_suffix`."""
    for entry in cassette(name):
        if entry["method"] == method and entry["uri"].split("?")[0].endswith(uri_suffix):
            return entry
    raise KeyError(f"{name}: no {method} {uri_suffix}")


def headers_of(entry: dict[str, Any]) -> dict[str, str]:
    """Recorded headers (lists of values) as a flat dict."""
    out: dict[str, str] = {}
    for key, value in entry.get("response_headers", {}).items():
        out[key] = ", ".join(value) if isinstance(value, list) else str(value)
    return out


def body_of(entry: dict[str, Any]) -> Any:
    """A deep copy of the recorded JSON body (tests may edit it)."""
    return deepcopy(entry["response_json"])


Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


class Router:
    """A MockTransport handler: per path, a queue of replies (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[httpx.Request] = []

    def add(
        self,
        path: str,
        body: Any,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Queue a JSON reply for requests whose URL path is `path`."""
        response = httpx.Response(status, json=body, headers=headers or {})
        self.routes.setdefault(path, []).append(response)

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer `request` from the queue of its path (404 when nothing is routed)."""
        self.requests.append(request)
        queue = self.routes.get(request.url.path)
        if not queue:
            return httpx.Response(404, json={"error": "Record not found"})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        assert isinstance(reply, httpx.Response)
        return httpx.Response(reply.status_code, content=reply.content, headers=reply.headers)

    def client(self) -> httpx.AsyncClient:
        """An AsyncClient answering from this router."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))

    def paths(self) -> list[str]:
        """Paths requested so far, in order."""
        return [r.url.path for r in self.requests]
