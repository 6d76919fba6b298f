"""Small parts the post sources share: Link headers, pacing, the follower cache, cadences."""

from __future__ import annotations

from engmon.sources.social import Every, FollowerCache, next_link, pacing


def test_next_link_reads_mastodon_link_headers() -> None:
    header = (
        '<https://m.example/api/v1/statuses/1/reblogged_by?max_id=9>; rel="next", '
        '<https://m.example/api/v1/statuses/1/reblogged_by?since_id=12>; rel="prev"'
    )
    assert (
        next_link({"Link": header}) == "https://m.example/api/v1/statuses/1/reblogged_by?max_id=9"
    )
    only_prev = '<https://localhost:3000/api/v1/statuses/1/favourited_by?since_id=3>; rel="prev"'
    assert next_link({"link": only_prev}) is None
    assert next_link({}) is None


def test_pacing_spreads_the_window_and_waits_out_an_empty_one() -> None:
    now_plus = {"x-rate-limit-remaining": "10", "x-rate-limit-reset": "600"}
    assert pacing(now_plus, 2) == 120.0  # 600 s for 10 requests, 2 per poll
    empty = {"x-rate-limit-remaining": "1", "x-rate-limit-reset": "300"}
    assert pacing(empty, 2) == 301.0
    assert pacing({"x-rate-limit-remaining": "5"}, 1) is None  # no reset: nothing to pace by
    assert pacing({}, 1) is None


def test_follower_cache_refreshes_only_after_max_age() -> None:
    clock = [0.0]
    cache = FollowerCache(max_age=3600.0, clock=lambda: clock[0])
    cache.put("did:plc:a", 120)
    cache.put("did:plc:gone", None)  # deleted account: known, without followers
    assert cache.get("did:plc:a") == 120 and cache.has("did:plc:gone")
    assert cache.missing(["did:plc:a", "did:plc:b", "did:plc:b", "did:plc:gone"]) == ["did:plc:b"]
    clock[0] = 3601.0
    assert cache.get("did:plc:a") is None
    assert cache.missing(["did:plc:a"]) == ["did:plc:a"]


def test_every_is_due_first_and_then_per_period() -> None:
    cadence = Every(600.0)
    assert [cadence.due(t) for t in (0.0, 10.0, 599.0, 600.0, 700.0, 1300.0)] == [
        True,
        False,
        False,
        True,
        False,
        True,
    ]
