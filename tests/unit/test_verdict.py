"""The verdict: trend words with hysteresis, the comparison and a forecast that agrees."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from engmon.core import trend
from engmon.core.forecast import FORECAST, TAKING_OFF, Forecast, State
from engmon.core.judge import contradictions, judge
from engmon.core.outlook import Outlook
from engmon.core.schema import UTC_US
from engmon.core.standing import Standing, standing_at
from engmon.core.verdict import (
    elapsed_text,
    metric_words,
    rate_text,
)
from engmon.core.words import compact_count

POST = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def standing(
    per_minute: dict[str, list[float]], minutes: float, followers: int | None = None
) -> Standing:
    """The standing `minutes` after the post of literal per-minute counts."""
    rows = [
        (metric, minute, value)
        for metric, counts in per_minute.items()
        for minute, value in enumerate(counts)
        if value
    ]
    frame = pl.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "minute": [r[1] for r in rows],
            "value": [float(r[2]) for r in rows],
            "reach": [0] * len(rows),
            "first_ts": [POST + timedelta(minutes=r[1]) for r in rows],
        },
        schema={
            "metric": pl.String,
            "minute": pl.Int64,
            "value": pl.Float64,
            "reach": pl.Int64,
            "first_ts": UTC_US,
        },
    )
    levels = pl.DataFrame(schema={"metric": pl.String, "level": pl.Float64})
    return standing_at(
        frame,
        levels,
        post_time=POST,
        elapsed_s=minutes * 60.0,
        followers=followers,
        names=set(per_minute),
    )


def decay(start: float, half_life: float, minutes: int) -> list[float]:
    return [round(start * 0.5 ** (m / half_life)) for m in range(minutes)]


def test_big_account_with_a_handful_of_clicks_is_flat() -> None:
    result = judge(standing({"clicks": [1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]}, 12, 1_200_000))
    assert result.trend == "flat" and result.shape == "flat"
    assert result.text == (
        "12 min after a post to 1.2M followers: 3 clicks, 0.003 engaged per 1k followers — flat"
    )


def test_nothing_is_said_before_the_evidence() -> None:
    early = judge(standing({"clicks": [30, 40, 50]}, 3, 2000))
    assert early.trend == "just starting"
    few = judge(standing({"clicks": [1, 0, 2, 0, 1, 0, 1]}, 7))
    assert few.trend == "just starting"  # 5 clicks, no audience known: too little to say
    before = judge(standing({"clicks": []}, -1.5))
    assert before.text == "1 min before the post: waiting for it to go out"


def test_growing_then_slowing_then_over_on_a_clear_curve() -> None:
    rising = judge(standing({"clicks": [2 + m for m in range(20)]}, 20, 2000))
    assert rising.trend == "still growing"
    fading = judge(standing({"clicks": decay(60, 8, 40)}, 40, 2000))
    assert fading.trend == "slowing"
    done = judge(standing({"clicks": decay(60, 8, 90) + [0] * 90}, 180, 2000))
    assert done.trend == "over"


def test_a_noisy_curve_does_not_flip_the_word() -> None:
    rng = np.random.default_rng(3)
    counts = rng.poisson(6.0, 120).astype(float)  # a steady rate with Poisson noise
    path = trend.shape_path(counts)
    words = [w for _, w in path]
    changes = sum(a != b for a, b in itertools.pairwise(words))
    assert changes <= 2, words
    assert words[-1] == "still growing"


def test_the_word_at_a_minute_depends_only_on_what_came_before() -> None:
    counts = np.array(decay(80, 10, 60) + [0.0] * 60)
    full = trend.shape_path(counts)
    for minute in (7, 25, 61, 100):
        assert trend.shape_path(counts[:minute])[-1] == full[minute - 1]


def test_position_against_your_past_posts_comes_first() -> None:
    # three past posts per 1k followers: 1, 2 and 3 per minute
    curves = pl.DataFrame(
        {
            "post": [p for p in ("a", "b", "c") for _ in range(60)],
            "minute": list(range(60)) * 3,
            "value": [v for v in (1.0, 2.0, 3.0) for _ in range(60)],
        }
    )
    # 10 clicks a minute for 1k followers: 10 per 1k per minute, well ahead of all three
    result = judge(standing({"clicks": [10.0] * 30}, 30, 1000), history=curves)
    assert result.position == "ahead" and result.trend == "ahead, still growing"
    assert "Ahead of 3 of your last 3 posts at minute 30" in result.text
    assert result.compared_with == "your last 3 posts"
    behind = judge(standing({"clicks": [0.5] * 30}, 30, 1000), history=curves)
    assert behind.position == "behind" and "Behind 3 of your last 3 posts" in behind.text


def test_public_reference_when_there_is_no_history() -> None:
    calls: list[tuple[int, int, float]] = []

    def rank(minute: int, followers: int, reshares: float) -> float | None:
        calls.append((minute, followers, reshares))
        return 0.8

    numbers = standing({"reposts": [3.0] * 20}, 20, 5000)
    result = judge(numbers, public_rank=rank)
    assert result.trend == "ahead, still growing"
    assert "Ahead of 80% of public posts from accounts your size at minute 20" in result.text
    assert "(reshares per 1k followers of public posts)" in result.text
    assert calls[-1] == (20, 5000, 60.0)
    # clicks only (an access log): no reshares to compare, no public comparison
    clicks = judge(standing({"clicks": [3.0] * 20}, 20, 5000), public_rank=rank)
    assert clicks.position is None and "public" not in clicks.text


def forecast(state: State, predicted: float | None, observed: float) -> Forecast:
    return Forecast(
        state,
        "curve model learned from public cascades",
        observed,
        0.0,
        predicted=predicted,
        low=observed,
        high=None if predicted is None else predicted * 2,
    )


def test_the_forecast_never_contradicts_the_words() -> None:
    fading = standing({"clicks": decay(60, 8, 60)}, 60, 2000)
    observed = fading.head.count
    off = judge(fading, outlook=Outlook(forecast(TAKING_OFF, None, observed), "clicks"))
    assert off.shape == "slowing" and "taking off" not in off.text
    assert "more clicks" not in off.text and contradictions(off, "clicks") == []
    growing = standing({"clicks": [2 + m for m in range(30)]}, 30, 2000)
    up = judge(growing, outlook=Outlook(forecast(TAKING_OFF, None, growing.head.count), "clicks"))
    assert "keep bringing more clicks" not in up.text and contradictions(up, "clicks") == []
    # "over" while the forecast still expects twice as much: slowing, not over
    done = standing({"clicks": decay(60, 8, 90) + [0] * 90}, 180, 2000)
    more = Outlook(forecast(FORECAST, 2.0 * done.head.count, done.head.count), "clicks")
    assert judge(done, outlook=more).shape == "slowing"


def test_contradictions_are_found() -> None:
    from engmon.core.verdict import Verdict

    bad = Verdict(
        "slowing", "x — slowing. Forecast: taking off — clicks keep bringing more clicks", "slowing"
    )
    assert len(contradictions(bad, "clicks")) == 2


def test_metric_words() -> None:
    assert metric_words(1, "replies") == "1 reply"
    assert metric_words(3, "clicks") == "3 clicks"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (950, "950"),
        (2100, "2.1k"),
        (2290, "2.3k"),  # not "2.29k" (the report said so) nor "2k" (the progress line)
        (9960, "10k"),
        (12_400, "12k"),
        (999_960, "1M"),  # not "1000k"
        (1_200_000, "1.2M"),
        (2_000_000, "2M"),
    ],
)
def test_compact_count(value: float, text: str) -> None:
    assert compact_count(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (1.0, "1"),
        (0.0025, "0.003"),
        (0.031, "0.03"),
        (0.45, "0.45"),
        (1.23, "1.2"),
        (14.2, "14"),
    ],
)
def test_rate_text(value: float, text: str) -> None:
    assert rate_text(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (40, "under a minute"),
        (12 * 60 + 30, "12 min"),
        (3 * 3600 + 300, "3 h 05 min"),
        (52 * 3600, "2 days 4 h"),
    ],
)
def test_elapsed_text(seconds: float, text: str) -> None:
    assert elapsed_text(seconds) == text


def test_metric_words_singular() -> None:
    assert metric_words(1, "clicks") == "1 click"
    assert metric_words(1, "replies") == "1 reply"
    assert metric_words(2, "replies") == "2 replies"
    assert metric_words(2500, "clicks") == "2.5k clicks"


def test_brief_drops_only_the_forecast_sentences() -> None:
    from engmon.core.verdict import Verdict, sentences

    forecast = ["Forecast: ~320 reshares in total (90% range 153–1.4k)", "~774 clicks in total"]
    head = "8 min after a post to 15k followers: 81 clicks — ahead, still growing"
    text = sentences(head, ["Ahead of 99% of public posts", *forecast])
    verdict = Verdict("ahead, still growing", text, forecast=" ".join(f"{s}." for s in forecast))
    assert verdict.brief == f"{head}. Ahead of 99% of public posts."
    assert Verdict("flat", "1 h after the post: 2 clicks — flat").brief.endswith("flat")
