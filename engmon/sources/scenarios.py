"""Generated campaigns for `engmon demo`: seeded, deterministic, no downloaded data.

Each scenario is one post sharing a link, told as observation events: clicks on the link
(with referrer, country, device, path) and likes, replies, reposts and quotes of the post
(with the actor and, for reposts and quotes, the actor's followers in `reach`).

The shape follows the literature on reshare cascades (SEISMIC, TiDeH): the post's own
audience reacts in a burst that decays as a power law; every reshare exposes the resharer's
followers and spawns its own smaller burst (a Hawkes-like branching process, whose branching
ratio decides whether the cascade fades or takes off). Clicks, likes and replies follow the
exposure each post and reshare brings, with a delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from engmon.core.campaign import Campaign
from engmon.errors import ConfigError

if TYPE_CHECKING:  # the frames are made in `scenario_frames` (numpy, polars) when built
    import polars as pl

SCENARIOS: Final[dict[str, str]] = {
    "big-account": "a post to 1.2M followers: a handful of clicks and a few likes, no magic",
    "small-account": "a post to 2k followers: a steady stream of clicks, replies and reposts",
    "taking-off": "a post to 15k followers whose reshare cascade goes supercritical",
}
"""Scenario name -> its one-line story (`engmon demo --list`)."""

POST_TIME: Final = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
LINK: Final = "https://example.com/blog/launch"
SOURCE: Final = "demo"


@dataclass(frozen=True)
class Scenario:
    """A generated campaign: its name, observation events (sorted by ts) and campaign."""

    name: str
    frame: pl.DataFrame
    campaign: Campaign


@dataclass(frozen=True)
class Story:
    """Knobs of one scenario: audience, per-exposure rates, cascade strength, duration."""

    followers: int
    hours: float
    click_rate: float  # clicks per follower exposed
    like_rate: float
    reply_rate: float
    repost_rate: float  # direct reposts per follower of the poster
    quote_share: float  # share of reshares that are quotes
    branching: float  # mean reshares spawned by one reshare per 1k of its followers
    max_reshares: int = 20_000
    reshare_delay_s: float = 900.0  # scale of the delay between a reshare and its offspring
    resharer_median: float = 250.0  # median followers of a resharer (log-normal, sigma 1.6)


_STORIES: Final[dict[str, Story]] = {
    "big-account": Story(
        followers=1_200_000,
        hours=6,
        click_rate=6e-6,
        like_rate=1e-5,
        reply_rate=3e-6,
        repost_rate=2.5e-6,
        quote_share=0.3,
        branching=0.05,
    ),
    "small-account": Story(
        followers=2_000,
        hours=8,
        click_rate=0.03,
        like_rate=0.025,
        reply_rate=0.005,
        repost_rate=0.006,
        quote_share=0.3,
        branching=0.9,
    ),
    "taking-off": Story(
        followers=15_000,
        hours=12,
        click_rate=0.012,
        like_rate=0.02,
        reply_rate=0.002,
        repost_rate=0.002,
        quote_share=0.2,
        # many small accounts, each quick to pass it on: supercritical within ten minutes
        branching=11.0,
        max_reshares=6_000,
        reshare_delay_s=600.0,
        resharer_median=60.0,
    ),
}


def campaign(name: str) -> Campaign:
    """The campaign of scenario `name` (known without generating it: the dashboard's header
    shows it before the frame is made)."""
    return Campaign(name=name, link=LINK, post_time=POST_TIME, followers=_story(name).followers)


def build(name: str, seed: int = 7) -> Scenario:
    """Generate scenario `name` with `seed` (same name and seed: same frame, row for row)."""
    from engmon.sources.scenario_frames import generate

    return Scenario(name, generate(_story(name), seed), campaign(name))


def save(scenario: Scenario, path: Path) -> int:
    """Write the scenario as .parquet, .csv or .ndjson (what `engmon replay` reads back);
    the number of observations written.

    A `followers` total row at the post time carries the poster's audience in every format.
    """
    from engmon.sources.scenario_frames import write

    return write(scenario, path)


def _story(name: str) -> Story:
    story = _STORIES.get(name)
    if story is None:
        raise ConfigError(f"unknown scenario {name!r}; scenarios: {', '.join(SCENARIOS)}")
    return story
