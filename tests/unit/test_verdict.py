"""The verdict sentence and its trend words, on literal facts."""

from __future__ import annotations

import pytest

from engmon.core.verdict import (
    VerdictFacts,
    classify,
    compact_count,
    elapsed_text,
    metric_words,
    rate_text,
    verdict,
)


def facts(**changes: object) -> VerdictFacts:
    base: dict[str, object] = {
        "elapsed_s": 12 * 60.0,
        "followers": 1_200_000,
        "metric": "clicks",
        "count": 3.0,
        "engagement": 4.0,
        "velocity": 0.2,
        "prior_velocity": 0.2,
        "peak_rate": 1.0,
        "peak_minute": 3,
    }
    base.update(changes)
    return VerdictFacts(**base)  # type: ignore[arg-type]


def test_big_account_no_magic_reads_flat() -> None:
    result = verdict(facts())
    assert result.trend == "flat"
    assert result.text == (
        "12 min after a post to 1.2M followers: 3 clicks, 0.003 engaged per 1k followers — flat"
    )


def test_extra_phrases_follow_as_sentences() -> None:
    text = verdict(facts(), extra=("Forecast: ~12 reshares in total (8–19).",)).text
    assert text.endswith("— flat. Forecast: ~12 reshares in total (8–19).")


def test_unknown_audience_omits_the_per_follower_rate() -> None:
    text = verdict(facts(followers=None, count=1.0, velocity=0.0, peak_rate=1.0)).text
    assert text == "12 min after the post: 1 click — flat"


def test_before_the_post() -> None:
    result = verdict(facts(elapsed_s=-90))
    assert result.trend == "just starting"
    assert result.text == "1 min before the post: waiting for it to go out"


@pytest.mark.parametrize(
    ("changes", "trend"),
    [
        ({"elapsed_s": 120.0}, "just starting"),
        ({"count": 0.0, "engagement": 0.0, "elapsed_s": 7 * 60.0}, "just starting"),
        ({"count": 0.0, "engagement": 0.0}, "flat"),
        (
            {"followers": 2100, "count": 60.0, "engagement": 80.0, "velocity": 6.0},
            "rising",
        ),
        (
            {
                "followers": 2100,
                "count": 60.0,
                "engagement": 80.0,
                "velocity": 5.0,
                "prior_velocity": 5.0,
                "peak_rate": 6.0,
                "peak_minute": 10,
            },
            "steady",
        ),
        (
            {
                "followers": 2100,
                "count": 60.0,
                "engagement": 80.0,
                "velocity": 1.0,
                "peak_rate": 9.0,
                "peak_minute": 2,
            },
            "peaked and slowing",
        ),
        ({"followers": None, "velocity": 0.1, "peak_rate": 1.0}, "flat"),
        # a lone early click to a huge audience is not a peak: wait, then flat
        ({"elapsed_s": 7 * 60.0, "velocity": 0.0, "peak_minute": 0}, "just starting"),
        (
            {"followers": 2100, "count": 2.0, "velocity": 0.0, "peak_rate": 1.0, "peak_minute": 0},
            "steady",
        ),
    ],
)
def test_trend_words(changes: dict[str, object], trend: str) -> None:
    assert classify(facts(**changes)) == trend


@pytest.mark.parametrize(
    ("value", "text"),
    [(950, "950"), (2100, "2.1k"), (12_400, "12k"), (1_200_000, "1.2M"), (2_000_000, "2M")],
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
