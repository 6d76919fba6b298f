"""A loopback HTTP server (127.0.0.1, port 0) playing one post on Mastodon, Bluesky and X.

The test moves `step` on; each step sets the post's likes and who has reposted it, and every
platform's endpoints answer in that platform's documented shape. Used by the source tests and
the dashboard's end-to-end Pilot test.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATUS_ID = "113000000000000001"
TWEET_ID = "1293593516040269825"
DID = "did:plc:poster000000000000000001"
RKEY = "3kaheyt6vpc22"


@dataclass
class Step:
    """The post as the platforms show it at one moment."""

    likes: int
    reposters: list[tuple[str, int]]  # (account, followers), newest last
    replies: int = 0


# a post gaining reposts, losing a like and gaining it back
SCRIPT: list[Step] = [
    Step(likes=3, reposters=[]),
    Step(likes=4, reposters=[("ann", 120)]),
    Step(likes=3, reposters=[("ann", 120), ("bob", 4500)], replies=1),
    Step(likes=4, reposters=[("ann", 120), ("bob", 4500), ("cid", 80)], replies=1),
]


@dataclass
class SocialServer:
    """Serve SCRIPT[step] as Mastodon, Bluesky (AppView) and X API v2 responses."""

    script: list[Step] = field(default_factory=lambda: list(SCRIPT))
    step: int = 0
    poster_followers: int = 10_000
    missing: bool = False  # answer the post's own endpoints with 404
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:40123."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def now(self) -> Step:
        """The current step."""
        return self.script[min(self.step, len(self.script) - 1)]

    def __enter__(self) -> SocialServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- the three platforms ---------------------------------------------------------------
    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, headers) for one GET."""
        self.requests.append(path)
        step = self.now
        if self.missing and path in (f"/api/v1/statuses/{STATUS_ID}", "/2/tweets"):
            if path == "/2/tweets":
                return 200, {"errors": [{"resource_id": TWEET_ID, "title": "Not Found Error"}]}, {}
            return 404, {"error": "Record not found"}, {}
        limits = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "299"}
        if path == f"/api/v1/statuses/{STATUS_ID}":
            return 200, self._status(step), limits
        if path == f"/api/v1/statuses/{STATUS_ID}/reblogged_by":
            accounts = [
                {"id": str(i + 1), "username": name, "acct": name, "followers_count": followers}
                for i, (name, followers) in enumerate(reversed(step.reposters))
            ]
            return 200, accounts, limits
        if path == "/2/tweets":
            return 200, self._tweets(step), {"x-rate-limit-remaining": "899"}
        if path == f"/2/tweets/{TWEET_ID}/retweeted_by":
            users = [
                {
                    "id": str(100 + i),
                    "name": name.title(),
                    "username": name,
                    "public_metrics": {"followers_count": followers},
                }
                for i, (name, followers) in enumerate(reversed(step.reposters))
            ]
            return 200, {"data": users, "meta": {"result_count": len(users)}}, {}
        if path.startswith("/xrpc/"):
            return self._xrpc(path.removeprefix("/xrpc/"), query, step)
        return 404, {"error": "not found"}, {}

    def _status(self, step: Step) -> dict[str, Any]:
        return {
            "id": STATUS_ID,
            "created_at": "2026-08-01T14:00:00.000Z",
            "url": f"{self.url}/@poster/{STATUS_ID}",
            "replies_count": step.replies,
            "reblogs_count": len(step.reposters),
            "favourites_count": step.likes,
            "reblog": None,
            "account": {
                "id": "1",
                "username": "poster",
                "acct": "poster",
                "url": f"{self.url}/@poster",
                "followers_count": self.poster_followers,
            },
        }

    def _tweets(self, step: Step) -> dict[str, Any]:
        return {
            "data": [
                {
                    "id": TWEET_ID,
                    "text": "the link",
                    "author_id": "42",
                    "created_at": "2026-08-01T14:00:00.000Z",
                    "edit_history_tweet_ids": [TWEET_ID],
                    "public_metrics": {
                        "retweet_count": len(step.reposters),
                        "reply_count": step.replies,
                        "like_count": step.likes,
                        "quote_count": 0,
                    },
                }
            ],
            "includes": {
                "users": [
                    {
                        "id": "42",
                        "name": "Poster",
                        "username": "poster",
                        "public_metrics": {"followers_count": self.poster_followers},
                    }
                ]
            },
        }

    def _xrpc(
        self, method: str, query: dict[str, list[str]], step: Step
    ) -> tuple[int, Any, dict[str, str]]:
        uri = f"at://{DID}/app.bsky.feed.post/{RKEY}"
        if method == "com.atproto.identity.resolveHandle":
            if query.get("handle") != ["poster.bsky.social"]:
                return 400, {"error": "InvalidRequest", "message": "Unable to resolve handle"}, {}
            return 200, {"did": DID}, {}
        if method == "app.bsky.feed.getPosts":
            posts = []
            if uri in query.get("uris", []) and not self.missing:
                posts.append(
                    {
                        "uri": uri,
                        "cid": "bafyreigb666sdjyyaczcahxmf5tzh7dec6bwr3nhdab7llebn7vhsxzgr4",
                        "author": {"did": DID, "handle": "poster.bsky.social"},
                        "record": {"$type": "app.bsky.feed.post", "text": "the link"},
                        "replyCount": step.replies,
                        "repostCount": len(step.reposters),
                        "likeCount": step.likes,
                        "indexedAt": "2026-08-01T14:00:00.000Z",
                    }
                )
            return 200, {"posts": posts}, {}
        if method == "app.bsky.feed.getRepostedBy":
            actors = [
                {"did": f"did:plc:{name}", "handle": f"{name}.bsky.social"}
                for name, _ in reversed(step.reposters)
            ]
            return 200, {"uri": uri, "repostedBy": actors}, {}
        if method == "app.bsky.feed.getQuotes":
            return 200, {"uri": uri, "posts": []}, {}
        if method == "app.bsky.actor.getProfiles":
            followers = dict(step.reposters) | {"poster": self.poster_followers}
            profiles = [
                {
                    "did": did,
                    "handle": "x.bsky.social",
                    "followersCount": followers[did.removeprefix("did:plc:")]
                    if did != DID
                    else self.poster_followers,
                }
                for did in query.get("actors", [])
                if did == DID or did.removeprefix("did:plc:") in followers
            ]
            return 200, {"profiles": profiles}, {}
        return 501, {"error": "MethodNotImplemented"}, {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, body, headers = server.answer(parts.path, parse_qs(parts.query))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    # --- config for engmon -----------------------------------------------------------------
    def sources_toml(self) -> str:
        """`[[sources]]` tables pointing all three platforms at this server."""
        return f"""
[[sources]]
kind = "mastodon"
name = "mastodon"
posts = ["{self.url}/@poster/{STATUS_ID}"]
interval = 0.2

[[sources]]
kind = "bluesky"
name = "bluesky"
posts = ["https://bsky.app/profile/poster.bsky.social/post/{RKEY}"]
api_url = "{self.url}"
interval = 0.2

[[sources]]
kind = "x"
name = "x"
posts = ["https://x.com/poster/status/{TWEET_ID}"]
api_url = "{self.url}"
token_env = "ENGMON_TEST_X_TOKEN"
interval = 0.2
"""
