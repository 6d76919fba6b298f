"""Deterministic little posts for the dashboard tests (no files, no scenarios module)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.clock import ReplayClock
from engmon.core.schema import conform

POST_TIME = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)

# metric -> (events, mean minutes after the post)
SMALL_ACCOUNT = {
    "clicks": (240, 20.0),
    "likes": (150, 15.0),
    "reposts": (20, 25.0),
    "quotes": (6, 30.0),
    "replies": (12, 18.0),
}


def post_frame(
    shape: dict[str, tuple[int, float]] | None = None,
    seed: int = 3,
    post_time: datetime = POST_TIME,
) -> pl.DataFrame:
    """Events of one post: per metric, times drawn from an exponential decay after the post."""
    rng = np.random.default_rng(seed)
    parts: list[pl.DataFrame] = []
    for metric, (count, mean_min) in (shape or SMALL_ACCOUNT).items():
        offsets = np.sort(rng.exponential(mean_min * 60.0, count)).round(0)
        reach = rng.lognormal(6.0, 1.2, count).astype(np.int64)
        parts.append(
            pl.DataFrame(
                {
                    "ts": [post_time + timedelta(seconds=float(s)) for s in offsets],
                    "source": "fixture",
                    "kind": "event",
                    "metric": metric,
                    "value": 1.0,
                    "id": [f"{metric}-{i}" for i in range(count)],
                    "reach": reach if metric in ("reposts", "quotes") else None,
                    "referrer": rng.choice(["t.co", "linkedin.com", "direct"], count),
                }
            )
        )
    return conform(pl.concat(parts, how="diagonal_relaxed")).collect().sort("ts")


def small_campaign() -> Campaign:
    """The small account: 2.1k followers."""
    return Campaign("spring-launch", "example.com/blog/spring-launch", POST_TIME, 2100)


def frozen_clock(minutes: float, *, end_minutes: float = 240.0, speed: float = 60.0) -> ReplayClock:
    """A paused replay clock `minutes` after the post whose monotonic time never moves."""
    return ReplayClock(
        POST_TIME + timedelta(minutes=minutes),
        speed=speed,
        end=POST_TIME + timedelta(minutes=end_minutes),
        paused=True,
        monotonic=lambda: 0.0,
    )
