"""A deterministic campaign with every drilldown dimension filled (issue #6 tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.clock import ReplayClock
from engmon.core.schema import conform
from engmon.core.store import ObservationStore
from engmon.sources.playback import ReplaySource
from engmon.tui.app import EngmonApp
from engmon.watch.session import Session

POST_TIME = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
HOSTILE_PATH = "/[red]x[/]\x1b[2J\x1b]8;;http://e.vil\x07y"
POSTS = (
    "https://bsky.app/profile/big.example/post/3kaaa",
    "https://mastodon.social/@big/111",
)
REFERRERS = (
    "https://t.co/AbC",
    "https://t.co/XyZ",
    "https://lnkd.in/q1",
    "https://l.facebook.com/l.php?u=x",
    None,
)


def drill_frame(seed: int = 11, clicks: int = 300, likes: int = 120) -> pl.DataFrame:
    """Clicks and likes over an hour with referrer, country, device, post and path."""
    rng = np.random.default_rng(seed)
    parts = []
    for metric, count in (("clicks", clicks), ("likes", likes)):
        offsets = np.sort(rng.exponential(15 * 60.0, count).clip(0, 3599)).round(0)
        referrer = [
            REFERRERS[i] for i in rng.choice(len(REFERRERS), count, p=[0.3, 0.2, 0.2, 0.1, 0.2])
        ]
        paths = ["/blog/spring", "/blog/spring?utm_source=x", HOSTILE_PATH]
        parts.append(
            pl.DataFrame(
                {
                    "ts": [POST_TIME + timedelta(seconds=float(s)) for s in offsets],
                    "source": "fixture",
                    "metric": metric,
                    "id": [f"{metric}-{i}" for i in range(count)],
                    "referrer": referrer,
                    "country": [["RO", "US", "DE", None][i] for i in rng.choice(4, count)],
                    "device": [["mobile", "desktop"][i] for i in rng.choice(2, count)],
                    "post": [POSTS[i] for i in rng.choice(2, count, p=[0.7, 0.3])],
                    "path": [paths[i] for i in rng.choice(3, count, p=[0.6, 0.35, 0.05])],
                }
            )
        )
    return conform(pl.concat(parts)).collect().sort("ts")


def drill_campaign() -> Campaign:
    """1.2k followers, so per-1k numbers are visible."""
    return Campaign("spring-launch", "example.com/blog/spring", POST_TIME, 1200)


def drill_app(minutes: float = 40.0, **kwargs: Any) -> EngmonApp:
    """The dashboard on a paused replay clock `minutes` after the post, data preloaded."""
    frame = drill_frame()
    campaign = drill_campaign()
    clock = ReplayClock(
        POST_TIME + timedelta(minutes=minutes),
        speed=60.0,
        end=POST_TIME + timedelta(minutes=60),
        paused=True,
        monotonic=lambda: 0.0,
    )
    store = ObservationStore(post_time=campaign.post_time)
    source = ReplaySource(frame, name="replay")
    store.merge(source.take_until(clock.now()))
    session = Session(campaign, [source], clock, store=store, monotonic=lambda: 0.0)
    return EngmonApp(session, **kwargs)
