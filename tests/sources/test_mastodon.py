"""Mastodon source against real recorded responses (Mastodon.py cassettes, MIT)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl
import pytest
from social_helpers import Router, body_of, cassette, headers_of, recorded

from engmon.core.campaign import Campaign
from engmon.core.store import ObservationStore
from engmon.errors import ConfigError, SourceAuthError, SourceUnreachable
from engmon.sources.mastodon import SOURCE, MastodonSource
from engmon.sources.options import SourceOptions
from engmon.sources.posturl import MastodonPost, parse_post_url
from engmon.watch.poller import SourcePoller

build = SOURCE.build

T0 = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
ORIGINAL = "117020586019094258"
WRAPPER = "117020586027094262"  # the /reblog response: a boost of ORIGINAL
REBLOG = "test_status_reblog_unreblog.json"


def post(status_id: str = ORIGINAL) -> MastodonPost:
    ref = parse_post_url(f"http://localhost:3000/@mastodonpy_test/{status_id}")
    assert isinstance(ref, MastodonPost)
    return ref


def ref_url(status_id: str = ORIGINAL) -> str:
    return f"http://localhost:3000/@mastodonpy_test/{status_id}"


def reblog_sequence() -> list[dict[str, Any]]:
    """Bodies of ORIGINAL as the server showed it: created, boosted, unboosted, stale."""
    entries = cassette(REBLOG)
    return [body_of(e) for e in entries]


def counters(frame: pl.DataFrame) -> dict[str, float]:
    totals = frame.filter(pl.col("kind") == "total")
    return dict(zip(totals["metric"].to_list(), totals["value"].to_list(), strict=True))


async def test_wrapper_status_measures_the_boosted_original() -> None:
    router = Router()
    wrapper = reblog_sequence()[1]
    assert wrapper["id"] == WRAPPER and wrapper["reblogs_count"] == 0
    router.add(f"/api/v1/statuses/{WRAPPER}", wrapper, headers=headers_of(cassette(REBLOG)[1]))
    router.add(f"/api/v1/statuses/{ORIGINAL}/reblogged_by", [])
    source = MastodonSource("masto", [post(WRAPPER)])
    async with router.client() as client:
        result = await source.poll(client, T0)
    assert counters(result.frame) == {
        "replies": 0.0,
        "reposts": 1.0,  # the original's count, not the wrapper's 0
        "quotes": 0.0,
        "likes": 0.0,
        "followers": 0.0,
    }
    assert set(result.frame["post"].to_list()) == {f"@mastodonpy_test/{WRAPPER}"}
    # boosters are read for the original, not the wrapper
    assert f"/api/v1/statuses/{ORIGINAL}/reblogged_by" in router.paths()
    assert result.facts["followers"] == 0.0


async def test_stale_and_dropping_counts_never_double_count() -> None:
    router = Router()
    created, boosted, unboosted, stale = reblog_sequence()
    for body in (created, boosted, unboosted, stale):
        router.add(f"/api/v1/statuses/{ORIGINAL}", body)
    store = ObservationStore(T0)
    source = MastodonSource("masto", [post()], resharers=False)
    async with router.client() as client:
        for minute in range(4):
            store.merge((await source.poll(client, T0 + timedelta(minutes=minute))).frame)
    reposts = store.deltas().filter(pl.col("metric") == "reposts")
    # 0 (level) -> 1 (+1) -> 0 (unboost: no negative) -> 1 (stale/back: no second +1)
    assert reposts["value"].sum() == 1.0
    assert (store.deltas()["value"] >= 0).all()


async def test_unlike_then_like_again_counts_once() -> None:
    bodies = [body_of(e) for e in cassette("test_status_fav_unfav.json")]
    status_id = bodies[0]["id"]
    router = Router()
    for body in bodies:  # 0, 1, 0 (unfavourite), 1 (again / stale)
        router.add(f"/api/v1/statuses/{status_id}", body)
    store = ObservationStore(T0)
    source = MastodonSource("masto", [post(status_id)], resharers=False)
    async with router.client() as client:
        for minute in range(4):
            store.merge((await source.poll(client, T0 + timedelta(minutes=minute))).frame)
    likes = store.deltas().filter(pl.col("metric") == "likes")
    assert likes["value"].sum() == 1.0
    assert likes["ts"].to_list() == [T0 + timedelta(minutes=1)]


def booster(index: int, followers: int) -> dict[str, Any]:
    account = body_of(recorded("test_status_reblogged_by.json", "/reblogged_by"))[0]
    account.update(
        id=str(1000 + index),
        acct=f"fan{index}@other.example" if index % 2 else f"fan{index}",
        username=f"fan{index}",
        followers_count=followers,
    )
    return dict(account)


async def test_boosters_page_through_link_headers_across_polls() -> None:
    base = f"http://localhost:3000/api/v1/statuses/{ORIGINAL}/reblogged_by"
    pages = [[booster(i, 10 * i) for i in range(p * 3, p * 3 + 3)] for p in range(4)]
    served: list[str] = []

    def reblogged_by(request: httpx.Request) -> httpx.Response:
        max_id = request.url.params.get("max_id")
        page = 0 if max_id is None else int(max_id)
        served.append(str(page))
        headers = {"Link": f'<{base}?since_id=9>; rel="prev"'}
        if page + 1 < len(pages):
            headers["Link"] = f'<{base}?limit=80&max_id={page + 1}>; rel="next", ' + headers["Link"]
        return httpx.Response(200, json=pages[page], headers=headers)

    router = Router()
    status = reblog_sequence()[3]
    router.add(f"/api/v1/statuses/{ORIGINAL}", status)
    router.routes[f"/api/v1/statuses/{ORIGINAL}/reblogged_by"] = [reblogged_by]
    source = MastodonSource("masto", [post()], pages_per_poll=2)
    store = ObservationStore(T0)
    async with router.client() as client:
        first = await source.poll(client, T0)
        store.merge(first.frame)
        second = await source.poll(client, T0 + timedelta(minutes=1))
        store.merge(second.frame)
        third = await source.poll(client, T0 + timedelta(minutes=2))
        store.merge(third.frame)
    # two pages per poll: the head (new boosts) every time, then one page of the backlog
    assert served == ["0", "1", "0", "2", "0", "3"]
    events = store.deltas().filter(pl.col("metric") == "resharers")
    assert events.height == 12
    assert events["reach"].sum() == sum(10 * i for i in range(12))
    assert "fan1@other.example" in events["actor"].to_list()
    assert "fan0@localhost" in events["actor"].to_list()
    assert "still paging" in first.summary


async def test_rate_limit_headers_pace_the_next_poll() -> None:
    router = Router()
    entry = recorded(REBLOG, f"/statuses/{ORIGINAL}/reblog", "POST")
    headers = headers_of(entry) | {"x-ratelimit-remaining": "2"}
    headers["x-ratelimit-reset"] = "2099-01-01T00:00:00Z"
    router.add(f"/api/v1/statuses/{WRAPPER}", body_of(entry), headers=headers)
    source = MastodonSource("masto", [post(WRAPPER)], resharers=False, pages_per_poll=3)
    async with router.client() as client:
        result = await source.poll(client, T0)
    assert result.retry_in is not None and result.retry_in > 3600  # wait for the reset


async def test_deleted_post_is_a_clear_status_not_a_crash() -> None:
    router = Router()  # nothing routed: the instance answers 404 Record not found
    poller = SourcePoller(MastodonSource("masto", [post()]))
    async with router.client() as client:
        assert await poller.poll_once(client, T0) is None
    assert poller.status.state == "failed"
    assert poller.status.last_error is not None
    assert poller.status.last_error.startswith("masto: post not found (HTTP 404: deleted, private")
    assert poller.status.last_error.endswith(ref_url())


async def test_private_post_403_raises_auth_error_line() -> None:
    router = Router()
    router.add(f"/api/v1/statuses/{ORIGINAL}", {"error": "This action is not allowed"}, status=403)
    async with router.client() as client:
        with pytest.raises(SourceAuthError, match=r"^masto: post not visible \(HTTP 401/403"):
            await MastodonSource("masto", [post()]).poll(client, T0)


async def test_unknown_instance_is_unreachable() -> None:
    ref = parse_post_url("https://mastodon.invalid/@nobody/1")
    assert isinstance(ref, MastodonPost)
    async with httpx.AsyncClient() as client:
        with pytest.raises(
            SourceUnreachable, match=r"^masto: instance mastodon\.invalid: cannot connect \("
        ):
            await MastodonSource("masto", [ref], timeout=5).poll(client, T0)


async def test_one_missing_post_among_several_does_not_hide_the_others() -> None:
    router = Router()
    router.add(f"/api/v1/statuses/{ORIGINAL}", reblog_sequence()[3])
    source = MastodonSource("masto", [post(), post("999")], resharers=False)
    async with router.client() as client:
        result = await source.poll(client, T0)
    assert counters(result.frame)["reposts"] == 1.0
    assert "post not found" in result.summary and "/999" in result.summary


def test_build_reads_options_and_rejects_other_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTO_TOKEN", "secret-value")
    table = {
        "kind": "mastodon",
        "posts": ["https://mastodon.social/@Gargron/113456789012345678"],
        "token_env": "MASTO_TOKEN",
        "pages_per_poll": 5,
        "interval": 30,
    }
    source = build(SourceOptions(table, "c.toml: sources[0] (mastodon)"), Campaign("c"))
    assert source.posts[0].instance == "https://mastodon.social"
    assert source.pages_per_poll == 5 and source.interval == 30
    assert "secret-value" not in source.describe()
    wrong = table | {"posts": ["https://x.com/user/status/1"]}
    with pytest.raises(ConfigError, match=r'is a x post; .*kind = "x"'):
        build(SourceOptions(wrong, "c.toml: sources[0] (mastodon)"), Campaign("c"))
    with pytest.raises(ConfigError, match="unknown key 'pages'"):
        build(SourceOptions(table | {"pages": 1}, "c.toml: sources[0]"), Campaign("c"))
    with pytest.raises(
        ConfigError, match=re.escape("cannot read post URL 'https://mastodon.social/'")
    ):
        build(SourceOptions(table | {"posts": ["https://mastodon.social/"]}, "c"), Campaign("c"))


async def test_rate_limit_while_paging_keeps_counters_boosters_and_cursor() -> None:
    base = f"http://localhost:3000/api/v1/statuses/{ORIGINAL}/reblogged_by"
    pages = [[booster(i, 1) for i in range(p * 2, p * 2 + 2)] for p in range(3)]
    limited = {"max_id=2": 1}  # the third page answers 429 once

    def reblogged_by(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("max_id", "0"))
        if page == 2 and limited["max_id=2"]:
            limited["max_id=2"] -= 1
            return httpx.Response(
                429, json={"error": "Too many requests"}, headers={"Retry-After": "30"}
            )
        headers = {}
        if page + 1 < len(pages):
            headers["Link"] = f'<{base}?max_id={page + 1}>; rel="next"'
        return httpx.Response(200, json=pages[page], headers=headers)

    router = Router()
    router.add(f"/api/v1/statuses/{ORIGINAL}", reblog_sequence()[3])
    router.routes[f"/api/v1/statuses/{ORIGINAL}/reblogged_by"] = [reblogged_by]
    source = MastodonSource("masto", [post()], pages_per_poll=3)
    store = ObservationStore(T0)
    async with router.client() as client:
        first = await source.poll(client, T0)
        store.merge(first.frame)
        second = await source.poll(client, T0 + timedelta(minutes=1))
        store.merge(second.frame)
    assert counters(first.frame)["reposts"] == 1.0  # the counters of the poll survive
    assert str(first.partial_error).startswith("masto: HTTP 429")
    assert first.retry_in is not None and first.retry_in >= 30
    events = store.deltas().filter(pl.col("metric") == "resharers")
    assert events.height == 6  # pages 1-2 from the first poll, page 3 resumed in the second
    assert events.filter(pl.col("ts") == T0).height == 4


async def test_likers_opt_in_from_favourited_by() -> None:
    entry = recorded("test_status_favourited_by.json", "/favourited_by")
    status_id = entry["uri"].split("/")[-2]
    liked = body_of(cassette("test_status_favourited_by.json")[1])  # after the favourite
    router = Router()
    router.add(f"/api/v1/statuses/{status_id}", liked)
    router.add(f"/api/v1/statuses/{status_id}/reblogged_by", [])
    router.add(
        f"/api/v1/statuses/{status_id}/favourited_by", body_of(entry), headers=headers_of(entry)
    )
    async with router.client() as client:
        plain = await MastodonSource("masto", [post(status_id)]).poll(client, T0)
        assert not any(p.endswith("/favourited_by") for p in router.paths())
        result = await MastodonSource("masto", [post(status_id)], likers=True).poll(client, T0)
    assert plain.frame.filter(pl.col("metric") == "likers").is_empty()
    likers = result.frame.filter(pl.col("metric") == "likers")
    assert likers["actor"].to_list() == ["mastodonpy_test@localhost"]
    assert likers["id"].to_list() == [
        f"@mastodonpy_test/{status_id}|likers|mastodonpy_test@localhost"
    ]
    assert result.facts["reach"] == 0  # likes never add to reach
