"""Breakdown tables, filter stacks, filtered minutes and bucket rows (issue #6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engmon.core import metrics
from engmon.core.breakdown import (
    BREAKDOWN_SCHEMA,
    Filter,
    FilterStack,
    breakdown,
    dimension_minutes,
    enrich,
    host_children,
    split_source,
    table_sources,
)
from engmon.core.drill import Drilldown
from engmon.core.schema import conform
from engmon.core.store import ObservationStore

POST = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return POST + timedelta(minutes=minutes)


def clicks() -> pl.DataFrame:
    """Six clicks and one like over ten minutes."""
    return pl.DataFrame(
        {
            "ts": [at(1), at(2), at(3), at(8.5), at(9), at(9.5), at(4)],
            "metric": ["clicks"] * 6 + ["likes"],
            "id": ["a", "b", "c", "d", "e", "f", "g"],
            "referrer": [
                "https://t.co/1",
                "https://t.co/2",
                "https://lnkd.in/3",
                None,
                "https://twitter.com/x",
                "-",
                "https://t.co/9",
            ],
            "country": ["RO", "US", "RO", None, "DE", "RO", "RO"],
            "post": ["p1", "p1", "p2", "p2", "p1", None, "p1"],
        }
    )


def store_with(*frames: pl.DataFrame) -> ObservationStore:
    store = ObservationStore(POST)
    for frame in frames:
        store.merge(frame)
    return store


def table(
    rows: list[tuple[str | None, str | None, float, float, float, float | None]],
) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=BREAKDOWN_SCHEMA, orient="row")


def test_platform_breakdown_counts_shares_velocity_per_1k() -> None:
    deltas = enrich(conform(clicks()).collect())
    got = breakdown(
        deltas.lazy(),
        "platform",
        post_time=POST,
        now_minute=10,
        metric_names=["clicks"],
        velocity_window=5,
        followers=2000,
    ).collect()
    expected = table(
        [
            ("X", None, 3.0, 0.5, 0.2, 1.5),
            ("direct", None, 2.0, 2 / 6, 0.4, 1.0),
            ("LinkedIn", None, 1.0, 1 / 6, 0.0, 0.5),
        ]
    )
    assert_frame_equal(got, expected)


def test_breakdown_as_of_an_earlier_minute_ignores_later_rows() -> None:
    deltas = enrich(conform(clicks()).collect())
    got = breakdown(
        deltas.lazy(), "country", post_time=POST, now_minute=3, metric_names=["clicks"]
    ).collect()
    expected = table([("RO", None, 1.0, 0.5, 0.2, None), ("US", None, 1.0, 0.5, 0.2, None)])
    assert_frame_equal(got, expected)


def test_breakdown_sorts_by_any_column_nulls_last() -> None:
    deltas = enrich(conform(clicks()).collect())
    got = breakdown(
        deltas.lazy(),
        "country",
        post_time=POST,
        now_minute=10,
        metric_names=["clicks"],
        sort_by="value",
        descending=False,
    ).collect()
    assert got.get_column("value").to_list() == ["DE", "RO", "US", None]
    with pytest.raises(ValueError, match="cannot sort"):
        breakdown(
            deltas.lazy(), "country", post_time=POST, now_minute=1, metric_names=[], sort_by="x"
        )


def test_minute_aggregate_gives_the_same_table_as_raw_rows() -> None:
    deltas = enrich(conform(clicks()).collect()).lazy()
    for dimension in ("platform", "host", "country", "post"):
        kwargs = {"post_time": POST, "now_minute": 9, "metric_names": ["clicks"]}
        raw = breakdown(deltas, dimension, **kwargs).collect()  # type: ignore[arg-type]
        per_minute = dimension_minutes(deltas, dimension, POST)
        aggregated = breakdown(per_minute, dimension, **kwargs).collect()  # type: ignore[arg-type]
        assert_frame_equal(raw, aggregated)


def test_host_rows_carry_their_platform_and_expand_under_it() -> None:
    deltas = enrich(conform(clicks()).collect()).lazy()
    kwargs = {"post_time": POST, "now_minute": 10, "metric_names": ["clicks"]}
    platforms = breakdown(deltas, "platform", **kwargs).collect()  # type: ignore[arg-type]
    hosts = breakdown(deltas, "host", **kwargs).collect()  # type: ignore[arg-type]
    tree = host_children(platforms, hosts, ["X"])
    assert tree.select("value", "parent", "count", "depth").rows() == [
        ("X", None, 3.0, 0),
        ("t.co", "X", 2.0, 1),
        ("twitter.com", "X", 1.0, 1),
        ("direct", None, 2.0, 0),
        ("LinkedIn", None, 1.0, 0),
    ]


def test_filter_stack_push_pop_and_breadcrumb() -> None:
    stack = FilterStack().push(Filter("platform", "X")).push(Filter("post", "p1"))
    assert stack.breadcrumb() == "platform=X › post=p1"
    assert stack.push(Filter("post", "p1")) == stack
    assert stack.pop().breadcrumb() == "platform=X"
    assert not stack.pop().pop()
    assert FilterStack().pop() == FilterStack()
    assert Filter("country", None).label() == "country=(none)"
    assert Filter("path", "/a\x1b[2J").label() == "path=/a\\x1b[2J"
    with pytest.raises(ValueError):
        Filter("ts", "x")


def test_filters_narrow_tables_and_minutes() -> None:
    store = store_with(clicks())
    drill = Drilldown(store)
    x_on_p1 = FilterStack().push(Filter("platform", "X")).push(Filter("post", "p1"))
    result = drill.tables(x_on_p1, now_minute=10, metric_names=["clicks"])
    assert result.tables["country"].select("value", "count").rows() == [
        ("DE", 1.0),
        ("RO", 1.0),
        ("US", 1.0),
    ]
    expected_minutes = pl.DataFrame(
        {
            "metric": ["clicks", "clicks", "clicks", "likes"],
            "minute": [1, 2, 9, 4],
            "value": [1.0, 1.0, 1.0, 1.0],
            "reach": [0, 0, 0, 0],
            "first_ts": [at(1), at(2), at(9), at(4)],
        },
        schema=metrics.MINUTES_SCHEMA,
    )
    assert_frame_equal(result.minutes, expected_minutes)
    assert result.rows == 4


def test_unfiltered_tables_follow_live_merges() -> None:
    store = store_with(clicks().head(3))
    drill = Drilldown(store)
    first = drill.tables(FilterStack(), now_minute=10, metric_names=["clicks"])
    assert first.tables["platform"].select("value", "count").rows() == [
        ("X", 2.0),
        ("LinkedIn", 1.0),
    ]
    assert first.minutes is store.minutes()
    store.merge(clicks())  # the first three again (deduplicated) and four new rows
    second = drill.tables(FilterStack(), now_minute=10, metric_names=["clicks"])
    assert second.tables["platform"].select("value", "count").rows() == [
        ("X", 3.0),
        ("direct", 2.0),
        ("LinkedIn", 1.0),
    ]


def test_filter_on_missing_value_and_bucket_rows() -> None:
    drill = Drilldown(store_with(clicks()))
    no_country = FilterStack().push(Filter("country", None))
    assert drill.filtered(no_country).get_column("id").to_list() == ["d"]
    bucket = drill.bucket(FilterStack(), start_minute=8, width=2)
    assert bucket.select("id", "platform").rows() == [("d", "direct"), ("e", "X"), ("f", "direct")]
    assert drill.bucket(FilterStack().push(Filter("platform", "X")), 8, 1).height == 0


def test_post_per_1k_uses_the_posters_followers_and_levels_count() -> None:
    counters = pl.DataFrame(
        {
            "ts": [at(0), at(5), at(0), at(6)],
            "kind": ["total"] * 4,
            "source": ["bluesky"] * 4,
            "metric": ["followers", "followers", "replies", "replies"],
            "value": [1000.0, 1250.0, 4.0, 6.0],
            "post": ["p1", "p1", "p1", "p1"],
        }
    )
    drill = Drilldown(store_with(clicks(), counters))
    assert drill.post_followers().rows() == [("p1", 1250)]
    result = drill.tables(
        FilterStack(), now_minute=10, metric_names=["clicks", "replies"], followers=4000
    )
    posts = result.tables["post"].select("value", "count", "per_1k").rows()
    # p1: 3 clicks + replies level 4 + rise 2 = 9, per 1k of its poster's 1250 followers
    assert posts == [("p1", 9.0, 9 * 1000 / 1250), ("p2", 2.0, 0.5), (None, 1.0, 0.25)]


def test_observations_are_in_the_schema_and_cut_at_the_clock() -> None:
    drill = Drilldown(store_with(clicks()))
    got = drill.observations(FilterStack().push(Filter("platform", "X")), until=at(5))
    expected = conform(clicks()).collect().filter(pl.col("id").is_in(["a", "b", "g"]))
    assert_frame_equal(got.sort("ts"), expected.sort("ts"))


def test_split_source_and_table_sources() -> None:
    assert split_source("umami:referrer") == ("umami", "referrer")
    assert split_source("umami") == ("umami", None)
    assert split_source("a:b:country") == ("a:b", "country")
    assert split_source("http:weird") == ("http:weird", None)
    assert table_sources("country", ["log", "umami"]) is None
    sources = ["umami", "umami:referrer", "umami:country", "log"]
    assert table_sources("platform", sources) == ["log", "umami:referrer"]
    assert table_sources("host", sources) == ["log", "umami:referrer"]
    assert table_sources("country", sources) == ["log", "umami:country"]
    assert table_sources("device", sources) == ["log", "umami"]
    assert table_sources("post", sources) == ["log", "umami"]


def test_breakdown_rows_count_once_in_their_own_table() -> None:
    series = pl.DataFrame(  # umami's time series: 10 clicks, no dimensions
        {
            "ts": [at(1), at(2)],
            "source": "umami",
            "kind": "bucket",
            "width_s": 60,
            "metric": "clicks",
            "value": [4.0, 6.0],
        }
    )
    referrers = pl.DataFrame(  # umami's referrer breakdown since the post (no time series)
        {
            "ts": [POST, POST],
            "source": "umami:referrer",
            "kind": "bucket",
            "width_s": 0,
            "metric": "clicks",
            "value": [7.0, 3.0],
            "referrer": ["t.co", "lnkd.in"],
        }
    )
    countries = pl.DataFrame(
        {
            "ts": [POST],
            "source": "umami:country",
            "kind": "bucket",
            "width_s": 0,
            "metric": "clicks",
            "value": [10.0],
            "country": ["RO"],
        }
    )
    hits = pl.DataFrame(  # an access log that carries its own referrer and country
        {
            "ts": [at(3)],
            "source": "log",
            "metric": "clicks",
            "referrer": ["t.co"],
            "country": ["US"],
        }
    )
    drill = Drilldown(store_with(series, referrers, countries, hits))
    for filters in (FilterStack(), FilterStack().push(Filter("metric", "clicks"))):
        tables = drill.tables(filters, now_minute=10, metric_names=["clicks"]).tables
        assert tables["platform"].select("value", "count").rows() == [("X", 8.0), ("LinkedIn", 3.0)]
        assert tables["country"].select("value", "count").rows() == [("RO", 10.0), ("US", 1.0)]
        assert tables["device"].select("value", "count").rows() == [(None, 11.0)]
