"""Bluesky source against the lexicon shapes and real atproto SDK bodies (MIT)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl
import pytest
from social_helpers import DATA

from engmon.core.campaign import Campaign
from engmon.core.store import ObservationStore
from engmon.errors import SourceNotFound
from engmon.sources.bluesky import SOURCE, BlueskySource
from engmon.sources.options import SourceOptions
from engmon.sources.posturl import BlueskyPost, parse_post_url

build = SOURCE.build

T0 = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
DID = "did:plc:kvwvcn5iqfooopmyzvb4qzba"
URL = "https://bsky.app/profile/test.marshal.dev/post/3kaheyt6vpc22"
XRPC = "/xrpc/"


def load(name: str) -> Any:
    return json.loads((DATA / "bluesky" / name).read_text())


def post_view(**counts: int) -> dict[str, Any]:
    """The real postView of the SDK's thread fixture (no quoteCount: optional) with counts."""
    view: dict[str, Any] = load("atproto_sdk_thread_view_post_with_embed_media.json")["thread"][
        "post"
    ]
    view.update(counts)
    return view


def profiles() -> list[dict[str, Any]]:
    """Real profileView objects (from a getFollows body)."""
    follows: list[dict[str, Any]] = load("atproto_sdk_get_follows.json")["follows"]
    return follows


def actor(index: int) -> dict[str, Any]:
    base = dict(profiles()[index % len(profiles())])
    base.update(did=f"did:plc:fan{index:04d}", handle=f"fan{index}.bsky.social")
    return base


def detailed(view: dict[str, Any], followers: int) -> dict[str, Any]:
    """A profileViewDetailed: a profileView plus followersCount (and friends)."""
    return view | {"followersCount": followers, "followsCount": 3, "postsCount": 9}


def the_post() -> BlueskyPost:
    ref = parse_post_url(URL)
    assert isinstance(ref, BlueskyPost)
    return ref


class FakeAppView:
    """A scripted AppView: post counts per poll, reposters, quotes, profiles."""

    def __init__(self) -> None:
        self.views: list[dict[str, Any]] = [post_view()]
        self.reposters: list[dict[str, Any]] = []
        self.quotes: list[dict[str, Any]] = []
        self.likes: list[dict[str, Any]] = []
        self.followers: dict[str, int] = {DID: 5000}
        self.calls: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.removeprefix(XRPC)
        self.calls.append(method)
        params = request.url.params
        if method == "com.atproto.identity.resolveHandle":
            if params["handle"] != "test.marshal.dev":
                return httpx.Response(
                    400, json={"error": "InvalidRequest", "message": "Unable to resolve handle"}
                )
            return httpx.Response(200, json={"did": DID})
        if method == "app.bsky.feed.getPosts":
            view = self.views.pop(0) if len(self.views) > 1 else self.views[0]
            wanted = params.get_list("uris")
            return httpx.Response(200, json={"posts": [view] if view["uri"] in wanted else []})
        if method in ("app.bsky.feed.getRepostedBy", "app.bsky.feed.getQuotes"):
            items = self.reposters if method.endswith("RepostedBy") else self.quotes
            start = int(params.get("cursor", "0"))
            limit = min(int(params["limit"]), 100)
            body: dict[str, Any] = {"uri": params["uri"]}
            body["repostedBy" if method.endswith("RepostedBy") else "posts"] = items[
                start : start + limit
            ]
            if start + limit < len(items):
                body["cursor"] = str(start + limit)
            return httpx.Response(200, json=body)
        if method == "app.bsky.feed.getLikes":
            return httpx.Response(200, json={"uri": params["uri"], "likes": self.likes})
        if method == "app.bsky.actor.getProfiles":
            actors = params.get_list("actors")
            assert len(actors) <= 25
            liked = [like["actor"] for like in self.likes]
            known = {a["did"]: a for a in [*self.reposters, *liked, *profiles()]}
            known[DID] = post_view()["author"]
            found = [
                detailed(known[did], self.followers.get(did, 100)) for did in actors if did in known
            ]
            return httpx.Response(200, json={"profiles": found})
        return httpx.Response(501, json={"error": "MethodNotImplemented"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def test_fixtures_follow_the_lexicon() -> None:
    """The bodies the fake AppView sends carry every key the lexicons require."""
    posts = load("lexicon_app.bsky.feed.getPosts.json")["defs"]["main"]
    assert posts["output"]["schema"]["required"] == ["posts"]
    assert posts["parameters"]["properties"]["uris"]["maxLength"] == 25
    view_def = load("lexicon_app.bsky.feed.defs.json")["defs"]["postView"]
    assert set(view_def["required"]) <= set(post_view())
    assert not set(view_def["required"]) & {"replyCount", "repostCount", "likeCount", "quoteCount"}
    reposted = load("lexicon_app.bsky.feed.getRepostedBy.json")["defs"]["main"]
    assert reposted["output"]["schema"]["required"] == ["uri", "repostedBy"]
    assert "cursor" in reposted["output"]["schema"]["properties"]


async def test_counts_optional_fields_and_poster_followers() -> None:
    appview = FakeAppView()
    appview.views = [post_view(replyCount=2, repostCount=3, likeCount=7)]
    source = BlueskySource("bsky", [the_post()], api_url="https://appview.test")
    async with appview.client() as client:
        first = await source.poll(client, T0)
        await source.poll(client, T0 + timedelta(minutes=1))
    totals = first.frame.filter(pl.col("kind") == "total")
    got = dict(zip(totals["metric"].to_list(), totals["value"].to_list(), strict=True))
    # quoteCount is absent in the real body: no quotes row at all, rather than a false 0
    assert got == {"replies": 2.0, "reposts": 3.0, "likes": 7.0, "followers": 5000.0}
    assert first.facts["followers"] == 5000.0
    assert set(totals["post"].to_list()) == {"test.marshal.dev/3kaheyt6vpc22"}
    assert appview.calls.count("com.atproto.identity.resolveHandle") == 1


async def test_reposters_page_with_cursor_and_profiles_come_in_batches() -> None:
    appview = FakeAppView()
    appview.reposters = [actor(i) for i in range(130)]
    appview.followers |= {f"did:plc:fan{i:04d}": i for i in range(130)}
    source = BlueskySource(
        "bsky", [the_post()], api_url="https://appview.test", pages_per_poll=1, profiles_per_poll=2
    )
    store = ObservationStore(T0)
    async with appview.client() as client:
        polls = [await source.poll(client, T0 + timedelta(minutes=m)) for m in range(4)]
    for result in polls:
        store.merge(result.frame)
    events = store.deltas().filter(pl.col("metric") == "resharers")
    assert events.height == 130
    assert events["reach"].sum() == sum(range(130))
    # page 1 (100) seen at minute 0, page 2 (30) at minute 1: repost times come from polls
    first_seen = events.group_by("ts").len().sort("ts")
    assert first_seen["ts"].to_list()[0] == T0
    assert appview.calls.count("app.bsky.feed.getRepostedBy") == 4 + 1  # heads + one backlog
    # 50 profiles per poll in calls of 25: poster + 49, then 50, then the last 31
    assert appview.calls.count("app.bsky.actor.getProfiles") == 6
    assert "still paging" in polls[0].summary


async def test_quoter_time_and_one_resharer_per_account() -> None:
    appview = FakeAppView()
    appview.reposters = [actor(1)]
    quote = post_view() | {
        "uri": "at://did:plc:fan0001/app.bsky.feed.post/3q",
        "author": actor(1),
        "indexedAt": "2026-08-01T13:55:00.000Z",
    }
    appview.quotes = [quote]
    source = BlueskySource("bsky", [the_post()], api_url="https://appview.test")
    async with appview.client() as client:
        result = await source.poll(client, T0)
    events = result.frame.filter(pl.col("metric") == "resharers")
    assert events.height == 1  # reposted and quoted: one account, one reach
    assert events["reach"].to_list() == [100]


async def test_quote_only_account_keeps_its_post_time() -> None:
    appview = FakeAppView()
    quote = post_view() | {"author": actor(2), "indexedAt": "2026-08-01T13:55:00.000Z"}
    appview.quotes = [quote]
    source = BlueskySource("bsky", [the_post()], api_url="https://appview.test")
    async with appview.client() as client:
        result = await source.poll(client, T0)
    events = result.frame.filter(pl.col("metric") == "resharers")
    assert events["ts"].to_list() == [datetime(2026, 8, 1, 13, 55, tzinfo=UTC)]


async def test_unknown_handle_and_deleted_post_are_clear_lines() -> None:
    appview = FakeAppView()
    ref = parse_post_url("https://bsky.app/profile/nobody.example/post/3abc")
    assert isinstance(ref, BlueskyPost)
    async with appview.client() as client:
        with pytest.raises(
            SourceNotFound, match=r"^bsky: handle not found: 'nobody\.example' does not resolve"
        ):
            await BlueskySource("bsky", [ref], api_url="https://appview.test").poll(client, T0)
        gone = parse_post_url(f"https://bsky.app/profile/{DID}/post/3gone")
        assert isinstance(gone, BlueskyPost)
        with pytest.raises(SourceNotFound, match=r"^bsky: post not found .*/post/3gone$"):
            await BlueskySource("bsky", [gone], api_url="https://appview.test").poll(client, T0)


async def test_counter_drop_and_return_through_store() -> None:
    appview = FakeAppView()
    appview.views = [post_view(likeCount=n) for n in (4, 5, 4, 5, 6)]
    source = BlueskySource("bsky", [the_post()], api_url="https://appview.test", resharers=False)
    store = ObservationStore(T0)
    async with appview.client() as client:
        for minute in range(5):
            store.merge((await source.poll(client, T0 + timedelta(minutes=minute))).frame)
    likes = store.deltas().filter(pl.col("metric") == "likes").sort("ts")
    assert likes["value"].to_list() == [1.0, 1.0]  # 4 is a level; 5; (4, 5 no); 6
    assert likes["ts"].to_list() == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=4)]


def test_build_defaults_and_api_url() -> None:
    table = {"kind": "bluesky", "posts": [URL], "api_url": "http://127.0.0.1:9/"}
    source = build(SourceOptions(table, "c.toml: sources[1] (bluesky)"), Campaign("c"))
    assert source.api_url == "http://127.0.0.1:9"
    assert source.posts == [the_post()]


async def test_likers_opt_in_carry_their_like_time_and_stay_apart_from_resharers() -> None:
    like_def = load("lexicon_app.bsky.feed.getLikes.json")["defs"]
    assert like_def["like"]["required"] == ["indexedAt", "createdAt", "actor"]
    appview = FakeAppView()
    appview.reposters = [actor(1)]
    appview.likes = [
        {"indexedAt": "2026-08-01T13:58:01.000Z", "createdAt": "2026-08-01T13:58:00.000Z",
         "actor": actor(1)},
        {"indexedAt": "2026-08-01T13:59:01.000Z", "createdAt": "2026-08-01T13:59:00.000Z",
         "actor": actor(2)},
    ]  # fmt: skip
    plain = BlueskySource("bsky", [the_post()], api_url="https://appview.test")
    source = BlueskySource("bsky", [the_post()], api_url="https://appview.test", likers=True)
    store = ObservationStore(T0)
    async with appview.client() as client:
        without = await plain.poll(client, T0)
        assert "app.bsky.feed.getLikes" not in appview.calls  # off by default
        store.merge((await source.poll(client, T0)).frame)
    assert without.frame.filter(pl.col("metric") == "likers").is_empty()
    deltas = store.deltas()
    likers = deltas.filter(pl.col("metric") == "likers").sort("ts")
    assert likers["ts"].to_list() == [
        datetime(2026, 8, 1, 13, 58, tzinfo=UTC),
        datetime(2026, 8, 1, 13, 59, tzinfo=UTC),
    ]
    assert likers["reach"].to_list() == [100, 100]
    # fan1 reposted and liked: one resharer and one liker, neither hides the other
    assert deltas.filter(pl.col("metric") == "resharers")["actor"].to_list() == ["did:plc:fan0001"]


def test_record_times_read_like_every_other_vendor_time() -> None:
    from datetime import UTC, datetime

    from engmon.sources.bluesky import _at_most

    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    at_two = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert _at_most("2026-11-25T14:00:00Z", now) == at_two
    assert _at_most("2026-11-25T14:00:00", now) == at_two  # naive = UTC, not local time
    assert _at_most("2026-11-25T16:00:00Z", now) == now  # a clock ahead of ours: capped
    assert _at_most(None, now) == now and _at_most("soon", now) == now
