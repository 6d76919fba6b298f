"""The counter rules for post sources, end to end through the store and a recording.

First sample = starting level (no burst), drops (unlike, deleted repost, stale value) give no
negative rate and no double count when the counter comes back, and a watch restarted on the
same recording continues instead of counting again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from social_helpers import Router, body_of, cassette

from engmon.core.campaign import Campaign
from engmon.core.recording import RecordingWriter, read_recording
from engmon.core.store import ObservationStore, observations_to_deltas
from engmon.sources.mastodon import MastodonSource
from engmon.sources.posturl import MastodonPost, parse_post_url
from engmon.sources.social import rows_frame, total_rows

T0 = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)


def sample(minute: int, post: str, **counts: int) -> pl.DataFrame:
    return rows_frame(total_rows(T0 + timedelta(minutes=minute), "social", post, counts))


def test_first_sample_is_a_level_and_drops_never_go_negative() -> None:
    store = ObservationStore(T0)
    store.merge(sample(0, "a", likes=40, reposts=7))
    store.merge(sample(0, "b", likes=3))
    assert store.deltas().is_empty()  # 40 likes before watching: a level, not a burst
    levels = store.levels().sort("post", "metric")
    assert levels["level"].to_list() == [40.0, 7.0, 3.0]
    for minute, count in enumerate([41, 39, 40, 41, 43], start=1):
        store.merge(sample(minute, "a", likes=count))
    likes = store.deltas().filter(pl.col("metric") == "likes").sort("ts")
    # 40 -> 41 (+1), 39 (unlike: 0), 40, 41 (back: 0), 43 (+2)
    assert likes["value"].to_list() == [1.0, 2.0]
    assert (store.minutes()["value"] >= 0).all()


def test_posts_are_separate_counters_summed_in_totals() -> None:
    store = ObservationStore(T0)
    store.merge(pl.concat([sample(0, "a", reposts=5), sample(0, "b", reposts=5)]))
    store.merge(pl.concat([sample(1, "a", reposts=6), sample(1, "b", reposts=4)]))
    store.merge(pl.concat([sample(2, "a", reposts=6), sample(2, "b", reposts=7)]))
    deltas = store.deltas().filter(pl.col("metric") == "reposts")
    per_post = dict(deltas.group_by("post").agg(pl.col("value").sum()).iter_rows())
    assert per_post == {"a": 1.0, "b": 2.0}  # b's drop to 4 is not a loss of a's gain
    assert deltas["value"].sum() == 3.0


def test_whole_file_deltas_agree_with_the_store() -> None:
    frames = [sample(m, "a", likes=v) for m, v in enumerate([10, 12, 11, 12, 15])]
    store = ObservationStore(T0)
    for frame in frames:
        store.merge(frame)
    whole = observations_to_deltas(pl.concat(frames).lazy()).collect()
    assert whole["value"].sum() == store.deltas()["value"].sum() == 5.0


BOOSTERS_PATH = "/api/v1/statuses/{id}/reblogged_by"


def mastodon_router(status: dict[str, Any], likes: list[int], boosters: list[Any]) -> Router:
    router = Router()
    for value in likes:
        router.add(f"/api/v1/statuses/{status['id']}", status | {"favourites_count": value})
    router.add(BOOSTERS_PATH.format(id=status["id"]), boosters)
    return router


async def test_restart_on_the_same_recording_continues(tmp_path: Path) -> None:
    status = body_of(cassette("test_status_fav_unfav.json")[3])
    booster = body_of(cassette("test_status_reblogged_by.json")[2])[0] | {"followers_count": 250}
    ref = parse_post_url(f"http://localhost:3000/@mastodonpy_test/{status['id']}")
    assert isinstance(ref, MastodonPost)
    campaign = Campaign("launch", post_time=T0)
    path = tmp_path / "watch.ndjson"

    # first watch: likes 4 (level), 5 (+1); one booster; then the process dies
    store = ObservationStore(T0)
    writer = RecordingWriter(path, campaign, T0)
    router = mastodon_router(status, [4, 5], [booster])
    source = MastodonSource("masto", [ref])
    async with router.client() as client:
        for minute in range(2):
            result = await source.poll(client, T0 + timedelta(minutes=minute))
            writer.append(result.frame)
            store.merge(result.frame)
    writer.close()
    assert store.deltas().filter(pl.col("metric") == "likes")["value"].sum() == 1.0

    # second watch on the same recording: reload into a fresh store, a fresh source, go on
    recording = read_recording(path)
    assert recording.campaign.post_time == T0
    restarted = ObservationStore(recording.campaign.post_time)
    restarted.merge(recording.frame)
    writer = RecordingWriter(path, campaign)
    router = mastodon_router(status, [5, 4, 6], [booster])  # same level, an unlike, +1 past 5
    source = MastodonSource("masto", [ref])
    async with router.client() as client:
        for minute in range(2, 5):
            result = await source.poll(client, T0 + timedelta(minutes=minute))
            writer.append(result.frame)
            restarted.merge(result.frame)
    writer.close()

    deltas = restarted.deltas()
    likes = deltas.filter(pl.col("metric") == "likes").sort("ts")
    assert likes["value"].to_list() == [1.0, 1.0]  # 4->5 before, 5->6 after; 5 again is not new
    assert likes["ts"].to_list() == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=4)]
    resharers = deltas.filter(pl.col("metric") == "resharers")
    assert resharers.height == 1 and resharers["reach"].to_list() == [250]
    assert resharers["ts"].to_list() == [T0]  # the re-seen booster keeps its first time
    # the whole recording, read once more, says the same as the live store
    replayed = ObservationStore(T0)
    replayed.merge(read_recording(path).frame)
    assert replayed.deltas()["value"].sum() == restarted.deltas()["value"].sum() == 3.0
