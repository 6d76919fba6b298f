"""ObservationStore and the lazy whole-file rules on literal frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from engmon.core import metrics
from engmon.core.campaign import Campaign
from engmon.core.recording import header_line, read_recording
from engmon.core.schema import OBSERVATION_SCHEMA, conform
from engmon.core.store import (
    ObservationStore,
    counter_levels,
    observations_to_deltas,
    repeated_id_hashes,
    unique_events,
)

POST = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return POST + timedelta(seconds=seconds)


def frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return conform(pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("us", "UTC")})).collect()


EVENTS = frame(
    [
        {"ts": at(10), "source": "f", "metric": "clicks", "value": 1.0, "id": "a"},
        {"ts": at(70), "source": "f", "metric": "clicks", "value": 1.0, "id": "b"},
        {"ts": at(75), "source": "f", "metric": "reposts", "value": 1.0, "id": "c", "reach": 50},
    ]
)


def minutes_of(store: ObservationStore) -> pl.DataFrame:
    return store.minutes().select("metric", "minute", "value", "reach").sort("metric", "minute")


def test_merging_the_same_events_twice_counts_once() -> None:
    store = ObservationStore(post_time=POST)
    store.merge(EVENTS)
    once = minutes_of(store)
    result = store.merge(EVENTS)
    assert result.changed == 0
    expected = pl.DataFrame(
        {
            "metric": ["clicks", "clicks", "reposts"],
            "minute": [0, 1, 1],
            "value": [1.0, 1.0, 1.0],
            "reach": [0, 0, 50],
        }
    )
    assert_frame_equal(minutes_of(store), once)
    assert_frame_equal(once, expected, check_dtypes=False)


def test_events_without_id_always_count() -> None:
    store = ObservationStore(post_time=POST)
    rows = EVENTS.with_columns(id=pl.lit(None, dtype=pl.String))
    store.merge(rows)
    store.merge(rows)
    assert store.minutes().get_column("value").sum() == 6.0


def test_buckets_replace_never_add() -> None:
    store = ObservationStore(post_time=POST)
    first = frame(
        [{"ts": at(0), "kind": "bucket", "width_s": 60, "metric": "clicks", "value": 3.0}]
    )
    revised = first.with_columns(value=pl.lit(5.0))
    store.merge(first)
    store.merge(first)
    store.merge(revised)
    expected = pl.DataFrame({"metric": ["clicks"], "minute": [0], "value": [5.0], "reach": [0]})
    assert_frame_equal(minutes_of(store), expected, check_dtypes=False)


def test_totals_level_drop_and_comeback_never_negative() -> None:
    samples = frame(
        [
            {"ts": at(0), "kind": "total", "metric": "likes", "value": 10.0},
            {"ts": at(60), "kind": "total", "metric": "likes", "value": 12.0},
            {"ts": at(120), "kind": "total", "metric": "likes", "value": 11.0},  # an unlike
            {"ts": at(180), "kind": "total", "metric": "likes", "value": 13.0},
        ]
    )
    store = ObservationStore(post_time=POST)
    store.merge(samples.head(2))
    store.merge(samples.tail(2))
    store.merge(samples)  # re-polling old samples adds nothing
    expected = pl.DataFrame(
        {"metric": ["likes", "likes"], "minute": [1, 3], "value": [2.0, 1.0], "reach": [0, 0]}
    )
    assert_frame_equal(minutes_of(store), expected, check_dtypes=False)
    assert store.levels().get_column("level").to_list() == [10.0]
    lazy = observations_to_deltas(samples.lazy()).collect()
    assert lazy.get_column("value").to_list() == [2.0, 1.0]
    assert counter_levels(samples.lazy()).collect().get_column("level").to_list() == [10.0]


def test_whole_file_rules_match_the_store() -> None:
    doubled = pl.concat([EVENTS, EVENTS])
    store = ObservationStore(post_time=POST)
    store.merge(doubled)
    lazy = metrics.minute_counts(observations_to_deltas(doubled.lazy()), POST).collect()
    assert_frame_equal(
        lazy.select("metric", "minute", "value", "reach").sort("metric", "minute"),
        minutes_of(store),
    )


def test_unique_events_with_repeats_known_ahead() -> None:
    doubled = pl.concat([EVENTS, EVENTS, EVENTS.head(1).with_columns(source=pl.lit("other"))])
    repeated = repeated_id_hashes(doubled.lazy()).collect()
    assert repeated.height == 3
    kept = unique_events(doubled.lazy(), repeated).collect().sort("source", "id")
    assert kept.select("source", "id").rows() == [
        ("f", "a"),
        ("f", "b"),
        ("f", "c"),
        ("other", "a"),
    ]
    none = repeated_id_hashes(EVENTS.lazy()).collect()
    assert none.is_empty()
    deltas = observations_to_deltas(EVENTS.lazy(), none, ("event",)).collect()
    assert deltas.height == 3
    assert deltas.schema == OBSERVATION_SCHEMA


def test_dimensions_are_categories_and_numbers_keep_their_text(tmp_path: Path) -> None:
    rows = frame([{"ts": at(0), "metric": "clicks", "value": 1.0}])
    assert rows.schema["referrer"] == pl.Categorical  # one code a row: millions of hits stay small
    numeric = conform(
        pl.DataFrame({"ts": [at(0)], "metric": ["clicks"], "referrer": [5], "country": [True]})
    ).collect()
    assert numeric.row(0, named=True)["referrer"] == "5"
    assert numeric.row(0, named=True)["country"] == "true"
    # a recording whose referrer was written as a number reads back as its text
    path = tmp_path / "r.ndjson"
    path.write_text(
        header_line(Campaign("c", post_time=POST), POST)
        + '{"ts":"2026-03-10T14:00:00Z","metric":"clicks","value":1,"referrer":5}\n'
    )
    assert read_recording(path).frame.get_column("referrer").to_list() == ["5"]
