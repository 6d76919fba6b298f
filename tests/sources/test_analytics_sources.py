"""Plausible, Umami, Bitly and http-json sources against vendor-shaped answers (MockTransport).

The answers below follow the shapes in the vendors' docs (Plausible Stats API v2 query
responses, Umami website stats endpoints, Bitly v4 clicks/referrers/countries); values are
ours. See tests/data/ORIGINS.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl
import pytest

from engmon.core.campaign import Campaign
from engmon.core.store import ObservationStore
from engmon.errors import ConfigError, SourceRateLimited, SourceResponseError
from engmon.sources.bitly import BitlySource, bitlink_of
from engmon.sources.httpjson import HttpJsonSource
from engmon.sources.options import SourceOptions
from engmon.sources.plausible import SOURCE as PLAUSIBLE
from engmon.sources.plausible import PlausibleSource, RequestBudget
from engmon.sources.umami import UmamiSource

POST = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 14, 5, 30, tzinfo=UTC)
NEVER = datetime(9999, 1, 1, tzinfo=UTC)  # a breakdown round due never (tested on its own)
Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def curve_total(store: ObservationStore, metric: str) -> float:
    minutes = store.minutes().filter(pl.col("metric") == metric)
    return float(minutes.get_column("value").sum())


# --- Plausible ----------------------------------------------------------------------------


def plausible_answer(body: dict[str, Any], pageviews: int, visitors: int) -> dict[str, Any]:
    """A Stats API v2 response: results of metrics (+ dimensions), meta, the echoed query."""
    dims = body.get("dimensions") or []
    if dims:
        results = [
            {"metrics": [pageviews - 1, visitors - 1], "dimensions": ["Twitter"] * len(dims)},
            {"metrics": [1, 1], "dimensions": ["Direct / None"] * len(dims)},
        ]
    else:
        results = [{"metrics": [pageviews, visitors], "dimensions": []}]
    query = {
        "site_id": body["site_id"],
        "metrics": body["metrics"],
        "date_range": body["date_range"],
        "filters": body["filters"],
        "dimensions": dims,
        "order_by": [["visitors", "desc"]],
        "include": {},
    }
    return {"results": results, "meta": {}, "query": query}


def plausible_source(**kwargs: Any) -> PlausibleSource:
    options: dict[str, Any] = {
        "url": "https://plausible.example",
        "site_id": "example.com",
        "key": "plausible-key-123",
        "page": "/launch",
        "post_time": POST,
        "realtime_every": None,  # the realtime endpoint has its own test
    }
    options.update(kwargs)
    return PlausibleSource("plausible", **options)


async def test_plausible_queries_the_current_minute_of_the_page() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v2/query"
        assert request.headers["Authorization"] == "Bearer plausible-key-123"
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(200, json=plausible_answer(body, 7, 5))

    source = plausible_source()
    async with client_for(handler) as client:
        result = await source.poll(client, NOW)
    first, closing = bodies[0], bodies[1:6]  # the current minute, then each since the post
    assert [b["date_range"] for b in closing] == [
        [f"2026-11-25T14:0{m}:00+00:00", f"2026-11-25T14:0{m}:59+00:00"] for m in range(5)
    ]
    assert first["filters"] == [["is", "event:page", ["/launch"]]]
    assert first["metrics"] == ["pageviews", "visitors"]
    assert first["date_range"] == ["2026-11-25T14:05:00+00:00", "2026-11-25T14:05:30+00:00"]
    assert "dimensions" not in first
    assert [b["dimensions"] for b in bodies[6:]] == [
        ["visit:source"],
        ["visit:country"],
        ["visit:device"],
        ["visit:browser"],
        ["visit:os"],
        ["visit:utm_source", "visit:utm_medium", "visit:utm_campaign", "visit:utm_content"],
    ]
    curve = result.frame.filter((pl.col("source") == "plausible") & (pl.col("ts").dt.minute() == 5))
    assert curve.select("metric", "value", "width_s", "kind").rows() == [
        ("clicks", 7.0, 60, "bucket"),
        ("visitors", 5.0, 60, "bucket"),
    ]
    referrers = result.frame.filter(pl.col("source") == "plausible:referrer")
    assert set(referrers.get_column("referrer").to_list()) == {"Twitter", "Direct / None"}
    assert referrers.get_column("width_s").unique().to_list() == [0]


async def test_plausible_closes_the_previous_minute_once_and_repolls_replace() -> None:
    counts = iter([3, 0, 5, 2, 6])  # 14:05 so far, 14:04, 14:05 again, 14:06 so far, 14:05
    ranges: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        ranges.append(body["date_range"])
        value = next(counts)
        return httpx.Response(200, json=plausible_answer(body, value, value))

    source = plausible_source(breakdown_every=1e9, backfill_minutes=1)
    source._next_breakdown = NEVER  # breakdowns are tested above
    store = ObservationStore(POST)
    async with client_for(handler) as client:
        store.merge((await source.poll(client, NOW)).frame)
        store.merge((await source.poll(client, NOW + timedelta(seconds=15))).frame)
        assert curve_total(store, "clicks") == 5  # replaced, not 3 + 5
        store.merge((await source.poll(client, NOW + timedelta(seconds=40))).frame)
    assert ranges[4] == ["2026-11-25T14:05:00+00:00", "2026-11-25T14:05:59+00:00"]
    assert curve_total(store, "clicks") == 6 + 2


async def test_plausible_budget_holds_requests_back() -> None:
    clock = [0.0]
    budget = RequestBudget(2, 3600, clock=lambda: clock[0])
    budget.spend(2)
    clock[0] = 100.0
    assert budget.wait_needed() == pytest.approx(3500.0)
    clock[0] = 3600.0
    assert budget.wait_needed() == 0.0

    source = plausible_source(hourly_limit=2)
    source._next_breakdown = NEVER

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=plausible_answer(json.loads(request.content), 1, 1))

    async with client_for(handler) as client:
        await source.poll(client, NOW)
        with pytest.raises(SourceRateLimited) as caught:
            await source.poll(client, NOW)
    assert caught.value.retry_after is not None and caught.value.retry_after > 3000


def test_plausible_config_rejects_a_cadence_over_600_per_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PK", "x")
    table = {"kind": "plausible", "site_id": "a.com", "key_env": "PK", "interval": 5}
    with pytest.raises(ConfigError, match=r"interval.*requests/hour"):
        PLAUSIBLE.build(SourceOptions(table, "c.toml: sources[0]"), Campaign("c", "https://a/x"))


async def test_plausible_changed_shape_is_a_response_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": [{"metrics": [1], "dimensions": []}]})

    async with client_for(handler) as client:
        with pytest.raises(SourceResponseError, match="unexpected response shape"):
            await plausible_source().poll(client, NOW)


# --- Umami --------------------------------------------------------------------------------


def umami_handler(seen: list[httpx.Request], x_format: str = "%Y-%m-%dT%H:%M:%SZ") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/auth/login"):
            return httpx.Response(200, json={"token": "jwt-abc", "user": {"id": "1"}})
        if path.endswith("/active"):
            return httpx.Response(200, json={"visitors": 4})
        if path.endswith("/metrics"):
            kind = request.url.params["type"]
            label = {
                "referrer": "news.ycombinator.com",
                "country": "DE",
                "device": "mobile",
                "browser": "chrome",
                "os": "Mac OS",
                # Umami's query metric: the query strings of the path's views
                "query": "utm_campaign=spring&utm_source=mastodon&ref=x",
            }
            return httpx.Response(200, json=[{"x": label[kind], "y": 9}, {"x": None, "y": 1}])
        if path.endswith("/events/series"):  # as documented: event name, hour, count
            return httpx.Response(
                200,
                json=[
                    {"x": "signup", "t": "2026-11-25T14:00:00Z", "y": 3},
                    {"x": "live-demo-button", "t": "2026-11-25T14:00:00Z", "y": 5},
                ],
            )
        assert path.endswith("/pageviews")
        minutes = [datetime(2026, 11, 25, 14, m, tzinfo=UTC) for m in (3, 4, 5)]
        return httpx.Response(
            200,
            json={
                "pageviews": [
                    {"x": m.strftime(x_format), "y": 2 + i} for i, m in enumerate(minutes)
                ],
                "sessions": [{"x": m.strftime(x_format), "y": 1} for m in minutes],
            },
        )

    return handler


@pytest.mark.parametrize("x_format", ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"])
async def test_umami_cloud_minutes_breakdowns_and_active(x_format: str) -> None:
    seen: list[httpx.Request] = []
    source = UmamiSource(
        "umami",
        api="https://api.umami.is/v1",
        website_id="w-1",
        path="/launch",
        post_time=POST,
        api_key="umami-key-9",
    )
    async with client_for(umami_handler(seen, x_format)) as client:
        result = await source.poll(client, NOW)
    pageviews = seen[0]
    assert pageviews.url.path == "/v1/websites/w-1/pageviews"
    assert pageviews.headers["x-umami-api-key"] == "umami-key-9"
    params = pageviews.url.params
    assert params["unit"] == "minute" and params["path"] == "/launch"
    assert int(params["startAt"]) == int(POST.timestamp() * 1000)  # post is < 60 min ago
    assert int(params["endAt"]) == int(NOW.timestamp() * 1000)
    curve = result.frame.filter(pl.col("source") == "umami")
    clicks = curve.filter(pl.col("metric") == "clicks")
    assert clicks.get_column("value").to_list() == [2.0, 3.0, 4.0]
    assert clicks.get_column("ts").dt.minute().to_list() == [3, 4, 5]
    assert result.facts == {"active visitors": 4.0}
    referrer = result.frame.filter(pl.col("source") == "umami:referrer")
    assert referrer.get_column("referrer").to_list() == ["news.ycombinator.com", "(none)"]
    metric_calls = [r for r in seen if r.url.path.endswith("/metrics")]
    assert {r.url.params["type"] for r in metric_calls} == {
        "referrer",
        "country",
        "device",
        "browser",
        "os",
        "query",
    }
    assert all(r.url.params["path"] == "/launch" for r in metric_calls)
    now = result.frame.filter(pl.col("metric") == "active")
    assert now.select("value", "width_s").rows() == [(4.0, 60)]  # visitors now, replayable
    assert now.get_column("ts").dt.minute().to_list() == [5]
    utm = result.frame.filter(pl.col("source") == "umami:utm").sort("value")
    assert utm.select("utm", "value").rows() == [
        (None, 1.0),
        ("utm_source=mastodon&utm_campaign=spring", 9.0),
    ]
    browsers = result.frame.filter(pl.col("source") == "umami:browser")
    assert browsers.get_column("browser").to_list() == ["chrome", "(none)"]
    assert result.frame.filter(pl.col("metric") == "conversions").is_empty()  # no goal set


async def test_umami_goal_event_counts_are_hourly_conversions() -> None:
    seen: list[httpx.Request] = []
    source = UmamiSource(
        "umami",
        api="https://api.umami.is/v1",
        website_id="w-1",
        path="/launch",
        post_time=POST,
        api_key="k",
        goal="signup",
    )
    async with client_for(umami_handler(seen)) as client:
        result = await source.poll(client, NOW)
    (series,) = [r for r in seen if r.url.path.endswith("/events/series")]
    assert series.url.params["unit"] == "hour"
    assert int(series.url.params["startAt"]) == int(POST.timestamp() * 1000)
    reached = result.frame.filter(pl.col("metric") == "conversions")
    assert reached.select("value", "width_s", "kind").rows() == [(3.0, 3600, "bucket")]


async def test_umami_windows_at_most_60_minutes_and_catches_up_older_hours() -> None:
    seen: list[httpx.Request] = []
    later = POST + timedelta(hours=2, minutes=30)
    source = UmamiSource(
        "umami",
        api="https://umami.example/api",
        website_id="w",
        path="/x",
        post_time=POST,
        login=("me", "pw"),
    )
    source._next_breakdown = NEVER
    async with client_for(umami_handler(seen)) as client:
        await source.poll(client, later)
        first_poll = len(seen)
        await source.poll(client, later)
    assert seen[0].url.path == "/api/auth/login"
    assert seen[1].headers["Authorization"] == "Bearer jwt-abc"
    windows = [
        (int(r.url.params["startAt"]), int(r.url.params["endAt"]))
        for r in seen
        if r.url.path.endswith("/pageviews")
    ]
    for start, end in windows:
        assert end - start <= 60 * 60 * 1000
    live, *catch_up, again = windows
    assert [start for start, _ in catch_up] == [  # from the post, hour by hour, to the live window
        int(POST.timestamp() * 1000),
        int((POST + timedelta(hours=1)).timestamp() * 1000),
    ]
    assert catch_up[-1][1] == live[0] - 1
    assert again == live  # caught up: the second poll asks only for the live window
    assert len(seen) - first_poll == 2  # pageviews + active


async def test_umami_before_2025_10_filters_with_url() -> None:
    seen: list[httpx.Request] = []
    source = UmamiSource(
        "umami",
        api="https://u.example/api",
        website_id="w",
        path="/launch",
        post_time=POST,
        api_key="k",
        path_param="url",
    )
    async with client_for(umami_handler(seen)) as client:
        await source.poll(client, NOW)
    filtered = [r for r in seen if not r.url.path.endswith("/active")]
    assert all(r.url.params["url"] == "/launch" and "path" not in r.url.params for r in filtered)


async def test_umami_logs_in_again_after_a_401() -> None:
    calls = {"login": 0, "expired": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/login"):
            calls["login"] += 1
            return httpx.Response(200, json={"token": f"jwt-{calls['login']}"})
        if calls["expired"]:
            calls["expired"] = False
            return httpx.Response(401, json={"error": "Unauthorized"})
        return umami_handler([])(request)

    source = UmamiSource(
        "umami",
        api="https://u.example/api",
        website_id="w",
        path="/",
        post_time=POST,
        login=("a", "b"),
    )
    async with client_for(handler) as client:
        with pytest.raises(Exception, match="HTTP 401"):
            await source.poll(client, NOW)
        await source.poll(client, NOW)
    assert calls["login"] == 2


# --- Bitly --------------------------------------------------------------------------------


def bitly_handler(seen: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        what = request.url.path.rsplit("/", 1)[-1]
        common = {
            "unit_reference": "2026-11-25T14:05:30+0000",
            "units": int(request.url.params["units"]),
            "unit": "minute",
        }
        if what == "clicks":
            clicks = [
                {"date": "2026-11-25T14:05:00+0000", "clicks": 4},
                {"date": "2026-11-25T14:04:00+0000", "clicks": 0},
                {"date": "2026-11-25T14:03:00+0000", "clicks": 2},
            ]
            return httpx.Response(200, json={"link_clicks": clicks, **common})
        metrics = {
            "referrers": [{"value": "http://t.co/", "clicks": 5}, {"value": "direct", "clicks": 1}],
            "countries": [{"value": "PL", "clicks": 4}, {"value": "GB", "clicks": 2}],
        }[what]
        return httpx.Response(200, json={"metrics": metrics, "facet": what, **common})

    return handler


async def test_bitly_minutes_and_breakdowns() -> None:
    seen: list[httpx.Request] = []
    source = BitlySource("bitly", bitlink="bit.ly/3xYz12", token="bitly-tok-1", post_time=POST)
    async with client_for(bitly_handler(seen)) as client:
        result = await source.poll(client, NOW)
    clicks_request = seen[0]
    assert clicks_request.url.path == "/v4/bitlinks/bit.ly/3xYz12/clicks"
    assert clicks_request.headers["Authorization"] == "Bearer bitly-tok-1"
    assert clicks_request.url.params["unit"] == "minute"
    assert clicks_request.url.params["units"] == "6"  # minutes since the post, not 60
    assert clicks_request.url.params["unit_reference"] == "2026-11-25T14:05:30+0000"
    curve = result.frame.filter(pl.col("source") == "bitly").sort("ts")
    assert curve.get_column("value").to_list() == [2.0, 0.0, 4.0]
    countries = result.frame.filter(pl.col("source") == "bitly:country")
    assert countries.select("country", "value").rows() == [("PL", 4.0), ("GB", 2.0)]


def test_bitlink_from_the_campaign_link() -> None:
    assert bitlink_of("https://bit.ly/3xYz12") == "bit.ly/3xYz12"
    assert bitlink_of("bit.ly/3xYz12") == "bit.ly/3xYz12"
    assert bitlink_of("https://bit.ly/") is None


# --- http-json ----------------------------------------------------------------------------


async def test_http_json_buckets_replace_and_late_data_updates_an_old_bucket() -> None:
    answers = iter(
        [
            {"data": {"rows": [{"t": "2026-11-25T14:00:00Z", "n": 3, "ref": "t.co"}]}},
            {
                "data": {
                    "rows": [
                        {"t": "2026-11-25T14:00:00Z", "n": 5, "ref": "t.co"},  # late clicks
                        {"t": "2026-11-25T14:01:00Z", "n": 2, "ref": "t.co"},
                    ]
                }
            },
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=next(answers))

    source = HttpJsonSource(
        "feed",
        url="https://in.house/stats",
        shape="buckets",
        items="data.rows",
        time_field="t",
        value_field="n",
        dimensions={"referrer": "ref"},
    )
    store = ObservationStore(POST)
    async with client_for(handler) as client:
        store.merge((await source.poll(client, NOW)).frame)
        store.merge((await source.poll(client, NOW)).frame)
    assert store.minutes().select("minute", "value").rows() == [(0, 5.0), (1, 2.0)]


async def test_http_json_events_dedupe_and_totals_count_increments() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/events":
            return httpx.Response(
                200, json=[{"id": 1, "at": 1795615200}, {"id": 2, "at": 1795615260}]
            )
        return httpx.Response(200, json={"counters": [{"name": "reposts", "count": 40}]})

    events = HttpJsonSource(
        "ev", url="https://h/events", shape="events", time_field="at", id_field="id"
    )
    totals = HttpJsonSource(
        "tot",
        url="https://h/totals",
        shape="totals",
        items="counters",
        value_field="count",
        metric_field="name",
    )
    store = ObservationStore(POST)
    async with client_for(handler) as client:
        for _ in range(2):
            store.merge((await events.poll(client, NOW)).frame)
            store.merge((await totals.poll(client, NOW)).frame)
    assert curve_total(store, "clicks") == 2  # two events, polled twice
    assert store.levels().get_column("level").to_list() == [40.0]  # a level, not a burst
    assert curve_total(store, "reposts") == 0


async def test_http_json_changed_shape_names_the_field() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"t": "soon", "n": 1}]})

    source = HttpJsonSource(
        "feed", url="https://h/", shape="buckets", items="data", time_field="t", value_field="n"
    )
    async with client_for(handler) as client:
        with pytest.raises(SourceResponseError, match="'t' is not a time"):
            await source.poll(client, NOW)
        source.items = "rows"
        with pytest.raises(SourceResponseError, match="no array at 'rows'"):
            await source.poll(client, NOW)


def test_breakdown_rows_stay_out_of_the_curve() -> None:
    from engmon.sources.series import breakdown_frame, series_frame

    store = ObservationStore(POST)
    store.merge(series_frame("umami", "clicks", [POST], [10], 60))
    store.merge(breakdown_frame("umami", "clicks", "referrer", POST, [("t.co", 8), ("x", 2)]))
    store.merge(breakdown_frame("umami", "clicks", "referrer", POST, [("t.co", 9), ("x", 2)]))
    assert curve_total(store, "clicks") == 10
    by_referrer = (
        store.deltas()
        .filter(pl.col("source") == "umami:referrer")
        .group_by("referrer")
        .agg(pl.col("value").sum())
        .sort("referrer")
    )
    assert by_referrer.rows() == [("t.co", 9.0), ("x", 2.0)]


async def test_http_json_token_as_query_parameter_never_shows_in_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engmon.sources.httpjson import SOURCE as HTTP_JSON

    monkeypatch.setenv("FEED_KEY", "feed-secret-55")
    table = {
        "kind": "http-json",
        "url": "https://h.example/feed",
        "shape": "events",
        "time": "t",
        "token_env": "FEED_KEY",
        "token_param": "api_key",
    }
    options = SourceOptions(table, "c.toml: sources[0]")
    source = HTTP_JSON.build(options, Campaign("c"))

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["api_key"] == "feed-secret-55"
        return httpx.Response(503)

    async with client_for(handler) as client:
        with pytest.raises(SourceResponseError) as caught:
            await source.poll(client, NOW)
    assert "HTTP 503" in str(caught.value)
    assert "feed-secret-55" not in str(caught.value) + source.describe()


async def test_plausible_closes_minutes_skipped_during_an_outage() -> None:
    ranges: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        ranges.append(body["date_range"])
        return httpx.Response(200, json=plausible_answer(body, 1, 1))

    source = plausible_source()
    source._next_breakdown = NEVER
    async with client_for(handler) as client:
        await source.poll(client, NOW)
        ranges.clear()
        result = await source.poll(client, NOW + timedelta(minutes=3))
    assert [r[0][11:16] for r in ranges] == ["14:08", "14:05", "14:06", "14:07"]
    clicks = result.frame.filter(pl.col("metric") == "clicks")
    assert clicks.height == 4


async def test_an_exhausted_rate_limit_window_holds_the_next_poll() -> None:
    from engmon.sources.http import pace

    assert pace({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "30"}) is None
    assert pace({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}) == 30.0

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "45"}
        return httpx.Response(200, json=[], headers=headers)

    source = HttpJsonSource("feed", url="https://h/", shape="events", time_field="t", interval=5)
    async with client_for(handler) as client:
        result = await source.poll(client, NOW)
    assert result.retry_in == 45.0


# --- progress moves only with the rows a poll returns ----------------------------------------


async def test_plausible_keeps_what_it_got_when_a_closing_request_fails() -> None:
    asked: list[str] = []
    failing = {"14:02"}

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        start = body["date_range"][0][11:16]
        asked.append(start if "dimensions" not in body else body["dimensions"][0])
        if start in failing and "dimensions" not in body:
            return httpx.Response(500, json={"error": "boom"})
        return httpx.Response(200, json=plausible_answer(body, 4, 2))

    source = plausible_source()
    async with client_for(handler) as client:
        first = await source.poll(client, NOW)
        failing.clear()
        second = await source.poll(client, NOW + timedelta(seconds=15))
    assert asked[:4] == ["14:05", "14:00", "14:01", "14:02"]  # stopped at the failure
    minutes = first.frame.filter(pl.col("source") == "plausible", pl.col("metric") == "clicks")
    assert minutes.get_column("ts").dt.minute().to_list() == [5, 0, 1]  # kept, not discarded
    assert str(first.partial_error).startswith("plausible: HTTP 500")
    assert second.partial_error is None
    # the next poll closes from the failed minute on, then runs the breakdowns it owed
    assert asked[4:] == [
        "14:05",
        "14:02",
        "14:03",
        "14:04",
        "visit:source",
        "visit:country",
        "visit:device",
        "visit:browser",
        "visit:os",
        "visit:utm_source",  # with medium, campaign and content
    ]
    assert second.frame.filter(pl.col("source") == "plausible:device").height == 4


async def test_plausible_owes_a_failed_breakdown_until_it_answers() -> None:
    dims: list[str] = []
    fail = {"visit:country"}

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        dim = (body.get("dimensions") or [""])[0]
        if dim:
            dims.append(dim)
        if dim in fail:
            return httpx.Response(503, json={})
        return httpx.Response(200, json=plausible_answer(body, 4, 2))

    source = plausible_source(backfill_minutes=0)
    async with client_for(handler) as client:
        first = await source.poll(client, NOW)
        fail.clear()
        await source.poll(client, NOW + timedelta(seconds=15))
        await source.poll(client, NOW + timedelta(seconds=30))
    assert dims == [
        "visit:source",
        "visit:country",
        "visit:country",
        "visit:device",
        "visit:browser",
        "visit:os",
        "visit:utm_source",
    ]
    assert first.frame.filter(pl.col("source") == "plausible:referrer").height == 4


async def test_umami_keeps_its_backfill_when_active_fails() -> None:
    seen: list[httpx.Request] = []
    broken = {"active"}
    later = POST + timedelta(hours=2, minutes=30)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.rsplit("/", 1)[-1] in broken:
            seen.append(request)
            return httpx.Response(500, json={"error": "internal"})
        return umami_handler(seen)(request)

    source = UmamiSource(
        "umami", api="https://u.example/api", website_id="w", path="/x", post_time=POST, api_key="k"
    )
    async with client_for(handler) as client:
        first = await source.poll(client, later)
        broken.clear()
        second = await source.poll(client, later + timedelta(seconds=15))
    windows = [r for r in seen if r.url.path.endswith("/pageviews")]
    assert len(windows) == 3 + 1  # live + two catch-up hours, then only the live window
    assert first.frame.filter(pl.col("source") == "umami").height > 0
    assert str(first.partial_error).startswith("umami: HTTP 500")
    assert second.facts == {"active visitors": 4.0}
    assert second.frame.filter(pl.col("source") == "umami:country").height == 2


async def test_umami_fills_a_gap_longer_than_its_window_after_an_outage() -> None:
    seen: list[httpx.Request] = []
    source = UmamiSource(
        "umami",
        api="https://u.example/api",
        website_id="w",
        path="/x",
        post_time=POST,
        api_key="k",
        window_minutes=10,
    )
    source._next_breakdown = NEVER
    async with client_for(umami_handler(seen)) as client:
        await source.poll(client, POST + timedelta(minutes=5, seconds=30))
        seen.clear()
        await source.poll(client, POST + timedelta(minutes=95, seconds=30))  # 90 min later
    starts = [
        datetime.fromtimestamp(int(r.url.params["startAt"]) / 1000, UTC)
        for r in seen
        if r.url.path.endswith("/pageviews")
    ]
    assert starts == [
        POST + timedelta(minutes=86),  # the live window
        POST + timedelta(minutes=5),  # the gap from the last minute recorded, hour by hour
        POST + timedelta(minutes=65),
    ]


async def test_bitly_reaches_back_over_an_outage() -> None:
    seen: list[httpx.Request] = []
    source = BitlySource("bitly", bitlink="bit.ly/x", token="t", post_time=POST, units=5)
    source._next_breakdown = NEVER
    async with client_for(bitly_handler(seen)) as client:
        await source.poll(client, POST + timedelta(minutes=30))
        await source.poll(client, POST + timedelta(minutes=31))
        await source.poll(client, POST + timedelta(minutes=52))  # 21 minutes down
    assert [int(r.url.params["units"]) for r in seen] == [5, 5, 22]


async def test_plausible_goal_realtime_and_utm() -> None:
    """Shapes as documented: time:hour labels `2024-09-10 01:00:00`, utm dimensions in the
    order asked with `(not set)`, realtime visitors a bare number."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/stats/realtime/visitors":
            assert request.url.params["site_id"] == "example.com"
            return httpx.Response(200, json=7)
        body = json.loads(request.content)
        bodies.append(body)
        dims = body.get("dimensions") or []
        if dims == ["time:hour"]:
            results = [{"metrics": [4, 3], "dimensions": ["2026-11-25 14:00:00"]}]
        elif dims and dims[0] == "visit:utm_source":
            results = [
                {"metrics": [5, 4], "dimensions": ["mastodon", "social", "launch", "(not set)"]},
                {"metrics": [2, 2], "dimensions": ["(not set)"] * 4},
            ]
        else:
            return httpx.Response(200, json=plausible_answer(body, 7, 5))
        return httpx.Response(200, json={"results": results, "meta": {}, "query": body})

    source = plausible_source(goal="Signup", realtime_every=60.0)
    async with client_for(handler) as client:
        result = await source.poll(client, NOW)
    (goal,) = [b for b in bodies if b.get("dimensions") == ["time:hour"]]
    assert goal["filters"] == [["is", "event:goal", ["Signup"]]]  # any page
    reached = result.frame.filter(pl.col("metric") == "conversions")
    assert reached.select("value", "width_s").rows() == [(3.0, 3600)]  # the goal's visitors
    assert reached.get_column("ts").dt.hour().to_list() == [14]
    now = result.frame.filter(pl.col("metric") == "active")
    assert now.select("value", "width_s").rows() == [(7.0, 60)]
    utm = result.frame.filter(
        (pl.col("source") == "plausible:utm") & (pl.col("metric") == "visitors")
    )
    assert set(utm.select("utm", "value").rows()) == {
        (None, 2.0),
        ("utm_source=mastodon&utm_medium=social&utm_campaign=launch", 4.0),
    }


def test_plausible_budget_counts_the_new_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PK", "x")
    table = {
        "kind": "plausible",
        "site_id": "a.com",
        "key_env": "PK",
        "interval": 15,
        "breakdown_every": 60,
        "goal": "Signup",
    }
    # 240 + 60 + 7 breakdown requests a minute (420) + 60 realtime: over 600
    with pytest.raises(ConfigError, match="about 780 requests/hour"):
        PLAUSIBLE.build(SourceOptions(table, "c.toml: sources[0]"), Campaign("c", "https://a/x"))
    table["breakdown_every"] = 120  # 240 + 60 + 210 + 60
    PLAUSIBLE.build(SourceOptions(table, "c.toml: sources[0]"), Campaign("c", "https://a/x"))
