"""X source against real api.twitter.com v2 responses (tweepy cassettes, MIT)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl
import pytest
from social_helpers import body_of, cassette, headers_of

from engmon.core.campaign import Campaign
from engmon.core.store import ObservationStore
from engmon.errors import ConfigError, SourceAuthError, SourceNotFound, SourceRateLimited
from engmon.sources.options import SourceOptions
from engmon.sources.posturl import XPost, parse_post_url
from engmon.sources.x import SOURCE, XSource

build = SOURCE.build


T0 = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
FIRST = "1293593516040269825"
SECOND = "1293595870563381249"


def xpost(tweet_id: str = FIRST, user: str = "TwitterDev") -> XPost:
    ref = parse_post_url(f"https://x.com/{user}/status/{tweet_id}")
    assert isinstance(ref, XPost)
    return ref


def tweets_entry() -> dict[str, Any]:
    return cassette("test_client_get_tweets.json")[0]


def with_metrics(body: dict[str, Any], likes: int = 10, followers: int = 500) -> dict[str, Any]:
    """The recorded body plus the documented public_metrics, author_id and includes.users."""
    for tweet in body["data"]:
        tweet["author_id"] = "2244994945"
        tweet["public_metrics"] = {
            "retweet_count": 3,
            "reply_count": 2,
            "like_count": likes,
            "quote_count": 1,
            "bookmark_count": 0,
            "impression_count": 900,
        }
    body["includes"] = {
        "users": [
            {
                "id": "2244994945",
                "name": "Developers",
                "username": "TwitterDev",
                "public_metrics": {"followers_count": followers, "following_count": 1},
            }
        ]
    }
    return body


class FakeX:
    def __init__(self) -> None:
        self.tweets: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.retweeters: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/2/tweets":
            status, body, headers = self.tweets.pop(0) if len(self.tweets) > 1 else self.tweets[0]
            return httpx.Response(status, json=body, headers=headers)
        if request.url.path.endswith("/retweeted_by"):
            start = int(request.url.params.get("pagination_token", "0"))
            page = self.retweeters[start : start + 20]
            meta: dict[str, Any] = {"result_count": len(page)}
            if start + 20 < len(self.retweeters):
                meta["next_token"] = str(start + 20)
            return httpx.Response(200, json={"data": page, "meta": meta})
        return httpx.Response(404, json={"title": "Not Found Error"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def counters(frame: pl.DataFrame) -> dict[str, float]:
    totals = frame.filter(pl.col("kind") == "total")
    return dict(zip(totals["metric"].to_list(), totals["value"].to_list(), strict=True))


async def test_recorded_body_without_public_metrics_is_no_counts_not_zero() -> None:
    fake = FakeX()
    entry = tweets_entry()
    fake.tweets = [(200, body_of(entry), headers_of(entry))]
    source = XSource("x", [xpost(), xpost(SECOND)], token="app-token", api_url="https://x.test")
    async with fake.client() as client:
        result = await source.poll(client, T0)
    assert result.frame.is_empty()
    assert "no public_metrics" in result.summary
    request = fake.requests[0]
    assert request.url.params["ids"] == f"{FIRST},{SECOND}"
    assert "public_metrics" in request.url.params["tweet.fields"]
    assert request.headers["Authorization"] == "Bearer app-token"


async def test_public_metrics_and_poster_followers() -> None:
    fake = FakeX()
    entry = tweets_entry()
    fake.tweets = [(200, with_metrics(body_of(entry)), headers_of(entry))]
    source = XSource("x", [xpost(), xpost(SECOND)], token="t", api_url="https://x.test")
    async with fake.client() as client:
        result = await source.poll(client, T0)
    first = result.frame.filter(pl.col("post") == f"@TwitterDev/{FIRST}")
    assert counters(first) == {
        "replies": 2.0,
        "reposts": 3.0,
        "quotes": 1.0,
        "likes": 10.0,
        "impressions": 900.0,
        "followers": 500.0,
    }
    assert result.facts["followers"] == 500.0  # one poster, counted once
    assert result.frame.filter(pl.col("metric") == "followers").height == 1
    assert "2 posts: 4 replies, 6 reposts, 2 quotes, 20 likes" in result.summary


async def test_user_token_adds_private_impressions_and_link_clicks() -> None:
    fake = FakeX()
    body = with_metrics(body_of(tweets_entry()))
    body["data"][0]["non_public_metrics"] = {
        "impression_count": 1234,
        "url_link_clicks": 56,
        "user_profile_clicks": 7,
    }
    fake.tweets = [(200, body, {})]
    source = XSource("x", [xpost()], token="app", user_token="user", api_url="https://x.test")
    async with fake.client() as client:
        result = await source.poll(client, T0)
    got = counters(result.frame)
    assert got["impressions"] == 1234.0 and got["clicks"] == 56.0
    assert "non_public_metrics" in fake.requests[0].url.params["tweet.fields"]
    assert fake.requests[0].headers["Authorization"] == "Bearer user"


async def test_exhausted_15_minute_window_waits_for_reset() -> None:
    fake = FakeX()
    reset = int(time.time()) + 600
    headers = {"x-rate-limit-limit": "15", "x-rate-limit-remaining": "0"}
    headers["x-rate-limit-reset"] = str(reset)
    fake.tweets = [(200, with_metrics(body_of(tweets_entry())), headers)]
    source = XSource("x", [xpost()], token="t", api_url="https://x.test")
    async with fake.client() as client:
        result = await source.poll(client, T0)
    assert result.retry_in is not None and 590 <= result.retry_in <= 602


async def test_429_is_rate_limited_with_retry_after() -> None:
    fake = FakeX()
    reset = int(time.time()) + 300
    fake.tweets = [(429, {"title": "Too Many Requests"}, {"x-rate-limit-reset": str(reset)})]
    async with fake.client() as client:
        with pytest.raises(SourceRateLimited) as caught:
            await XSource("x", [xpost()], token="t", api_url="https://x.test").poll(client, T0)
    assert caught.value.retry_after is not None and caught.value.retry_after > 250


async def test_deleted_and_protected_posts_are_clear_lines() -> None:
    fake = FakeX()
    missing = {
        "errors": [
            {
                "value": FIRST,
                "detail": f"Could not find tweet with ids: [{FIRST}].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "ids",
                "resource_id": FIRST,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ]
    }
    fake.tweets = [(200, missing, {})]
    async with fake.client() as client:
        with pytest.raises(SourceNotFound, match=r"^x: post not found \(Not Found Error"):
            await XSource("x", [xpost()], token="t", api_url="https://x.test").poll(client, T0)
    protected = {"errors": [missing["errors"][0] | {"title": "Authorization Error"}]}
    fake.tweets = [(200, protected, {})]
    async with fake.client() as client:
        with pytest.raises(SourceAuthError, match=r"^x: post protected"):
            await XSource("x", [xpost()], token="t", api_url="https://x.test").poll(client, T0)


async def test_retweeters_page_with_next_token_and_count_once() -> None:
    fake = FakeX()
    fake.tweets = [(200, with_metrics(body_of(tweets_entry())), {})]
    users = body_of(cassette("test_client_get_retweeters.json")[0])["data"]
    for index, user in enumerate(users):
        if index % 3:  # some users come without public_metrics: reach unknown, not zero
            user["public_metrics"] = {"followers_count": 100 + index}
    fake.retweeters = users  # 38 real users: pages of 20 -> next_token once
    source = XSource(
        "x", [xpost()], token="t", api_url="https://x.test", resharers=True, pages_per_poll=1
    )
    store = ObservationStore(T0)
    async with fake.client() as client:
        for minute in range(3):
            store.merge((await source.poll(client, T0 + timedelta(minutes=minute))).frame)
    events = store.deltas().filter(pl.col("metric") == "resharers")
    assert events.height == 38
    assert events["reach"].sum() == sum(100 + i for i in range(38) if i % 3)
    assert events["reach"].null_count() == len([i for i in range(38) if not i % 3])
    tokens = [
        r.url.params.get("pagination_token") for r in fake.requests if "retweeted_by" in r.url.path
    ]
    assert tokens == [None, None, "20", None]


def test_build_needs_a_named_token(monkeypatch: pytest.MonkeyPatch) -> None:
    table: dict[str, Any] = {
        "kind": "x",
        "posts": [f"https://twitter.com/TwitterDev/status/{FIRST}"],
    }
    with pytest.raises(ConfigError, match="'token_env' is required"):
        build(SourceOptions(table, "c.toml: sources[2] (x)"), Campaign("c"))
    monkeypatch.delenv("ENGMON_TEST_X", raising=False)
    with pytest.raises(ConfigError, match="environment variable ENGMON_TEST_X"):
        build(SourceOptions(table | {"token_env": "ENGMON_TEST_X"}, "c"), Campaign("c"))
    monkeypatch.setenv("ENGMON_TEST_X", "sekrit")
    source = build(SourceOptions(table | {"token_env": "ENGMON_TEST_X"}, "c"), Campaign("c"))
    assert source.posts[0].tweet_id == FIRST and "sekrit" not in source.describe()
