"""The view model on literal frames: as of the clock, levels in totals only, curve buckets."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from posts import POST_TIME, post_frame, small_campaign

from engmon.core.campaign import Campaign
from engmon.core.store import ObservationStore
from engmon.tui.state import ViewSettings
from engmon.tui.viewmodel import compute_view, curve_width


def at(minutes: float) -> object:
    return POST_TIME + timedelta(minutes=minutes)


def test_counter_levels_count_in_totals_never_in_the_curve() -> None:
    store = ObservationStore(post_time=POST_TIME)
    samples = pl.DataFrame(
        {
            "ts": [at(1), at(3), at(4)],
            "source": "bluesky",
            "kind": "total",
            "metric": "likes",
            "value": [100.0, 104.0, 107.0],
        }
    )
    store.merge(samples)
    view = compute_view(store, small_campaign(), POST_TIME + timedelta(minutes=5))
    assert view.kpis.likes == 107  # level 100 + 7 new
    likes_curve = compute_view(
        store, small_campaign(), POST_TIME + timedelta(minutes=5), ViewSettings(metric="likes")
    ).curve
    assert likes_curve.values == [0.0, 0.0, 0.0, 4.0, 3.0, 0.0]  # the minute begun at the clock
    assert sum(likes_curve.values) == 7


def test_view_is_cut_at_the_clock_and_counts_match_an_independent_count() -> None:
    frame = post_frame()
    for minute in (0, 7, 30, 90):
        now = POST_TIME + timedelta(minutes=minute)
        # what a watch holds at that clock: everything stamped up to and including it
        before = frame.filter(pl.col("ts") <= now)
        store = ObservationStore(post_time=POST_TIME)
        store.merge(before)
        store.merge(frame.filter(pl.col("ts") > now + timedelta(minutes=1)))  # cut by minute
        view = compute_view(store, small_campaign(), now)
        clicks = before.filter(pl.col("metric") == "clicks").height
        reshares = before.filter(pl.col("metric").is_in(["reposts", "quotes"]))
        assert view.kpis.clicks == clicks
        assert view.kpis.reach == int(reshares.get_column("reach").sum())
        assert sum(view.curve.values) == clicks
        assert view.headline == "clicks"


def test_per_thousand_uses_the_honest_metrics_and_the_poster_followers() -> None:
    frame = post_frame()
    store = ObservationStore(post_time=POST_TIME)
    store.merge(frame)
    view = compute_view(store, small_campaign(), POST_TIME + timedelta(hours=6))
    honest = frame.filter(pl.col("metric") != "likes").height
    assert view.kpis.engagement == honest
    assert view.kpis.per_1k is not None
    assert abs(view.kpis.per_1k - honest * 1000 / 2100) < 1e-9
    unknown = compute_view(store, Campaign("x", post_time=POST_TIME), POST_TIME)
    assert unknown.kpis.per_1k is None and "per 1k" not in unknown.verdict.text


def test_curve_adapts_and_a_chosen_width_is_kept_or_widened() -> None:
    assert curve_width(30, None) == (1, True)
    assert curve_width(600, None) == (15, True)
    assert curve_width(600, 5) == (5, False)
    assert curve_width(30 * 1440, 1) == (360, False)  # 43,200 one-minute bars would not draw
    store = ObservationStore(post_time=POST_TIME)
    store.merge(post_frame())
    view = compute_view(store, small_campaign(), POST_TIME + timedelta(hours=5))
    assert view.curve.unit == "h" and view.curve.width == 5
    assert view.curve.x[:3] == [2.5 / 60, 7.5 / 60, 12.5 / 60]  # bucket middles, in hours


def test_metrics_the_data_never_has_show_as_a_dash_not_zero() -> None:
    from engmon.tui.widgets.kpis import kpi_items

    store = ObservationStore(post_time=POST_TIME)
    store.merge(post_frame({"reposts": (30, 10.0), "likes": (5, 40.0)}))
    early = compute_view(store, small_campaign(), POST_TIME - timedelta(seconds=1))
    counts = dict(kpi_items(early)[0])
    assert counts["clicks"] == "—" and counts["replies"] == "—"  # not in this data
    assert counts["reposts+quotes"] == "0" and counts["likes"] == "0"  # in it, none yet
    assert early.headline == "reposts"
