"""The frames of `engmon demo`'s scenarios: the reshare cascade and its reactions, generated.

Apart from the catalogue (`engmon.sources.scenarios`) so that naming a scenario, and drawing
the dashboard's first frame, needs neither numpy nor polars.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from engmon.core.schema import (
    CLICKS,
    FOLLOWERS,
    LIKES,
    QUOTES,
    REPLIES,
    REPOSTS,
    UTC_US,
    conform,
)
from engmon.errors import ConfigError
from engmon.sources.scenarios import POST_TIME, SOURCE, Scenario, Story

_REFERRERS: Final = (
    ("t.co", 0.52),
    (None, 0.18),
    ("https://l.facebook.com/", 0.08),
    ("https://www.linkedin.com/", 0.07),
    ("android-app://com.linkedin.android/", 0.04),
    ("https://www.google.com/", 0.06),
    ("https://news.ycombinator.com/", 0.05),
)
_COUNTRIES: Final = (
    ("US", 0.34),
    ("GB", 0.1),
    ("DE", 0.09),
    ("IN", 0.08),
    ("FR", 0.06),
    ("CA", 0.06),
    ("BR", 0.05),
    ("NL", 0.04),
    ("ES", 0.04),
    ("AU", 0.04),
    ("JP", 0.04),
    ("SE", 0.03),
    ("PL", 0.03),
)
_DEVICES: Final = (("mobile", 0.62), ("desktop", 0.33), ("tablet", 0.05))
_ALPHABET: Final = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))


def generate(story: Story, seed: int) -> pl.DataFrame:
    """The observation events of `story` with `seed` (sorted by ts)."""
    return _generate(story, np.random.default_rng(seed))


def _delays(rng: np.random.Generator, count: int, scale_s: float) -> np.ndarray:
    """Reaction delays in seconds: a burst that decays as a power law (Lomax, tail 1.3)."""
    return np.asarray(rng.pareto(1.3, count) * scale_s, dtype=np.float64)


def _followers(rng: np.random.Generator, count: int, median: float) -> np.ndarray:
    """Followers of resharers: heavy-tailed (median ~250, a rare account past 100k)."""
    return np.maximum(1, rng.lognormal(np.log(median), 1.6, count)).round().astype(np.int64)


def _cascade(story: Story, rng: np.random.Generator, horizon: float) -> pl.DataFrame:
    """Reshares as a branching process: generation by generation, vectorised per generation."""
    times: list[np.ndarray] = []
    reach: list[np.ndarray] = []
    depth: list[np.ndarray] = []
    first = rng.poisson(story.followers * story.repost_rate)
    born = _delays(rng, first, 600.0)
    level = 0
    total = 0
    while born.size and total < story.max_reshares:
        born = born[born < horizon][: story.max_reshares - total]
        audience = _followers(rng, born.size, story.resharer_median)
        times.append(born)
        reach.append(audience)
        depth.append(np.full(born.size, level))
        total += born.size
        # each reshare spawns Poisson(branching * followers/1k, capped) reshares of its own
        spawned = rng.poisson(np.minimum(story.branching * audience / 1000.0, 25.0))
        parents = np.repeat(born, spawned)
        born = parents + _delays(rng, parents.size, story.reshare_delay_s)
        level += 1
    if not times:
        return pl.DataFrame(
            {"t": [], "reach": [], "depth": []},
            schema={"t": pl.Float64, "reach": pl.Int64, "depth": pl.Int64},
        )
    return pl.DataFrame(
        {"t": np.concatenate(times), "reach": np.concatenate(reach), "depth": np.concatenate(depth)}
    )


def _reactions(
    rng: np.random.Generator,
    exposures: np.ndarray,
    audiences: np.ndarray,
    rate: float,
    scale_s: float,
    horizon: float,
) -> np.ndarray:
    """Times of reactions to each exposure (post or reshare): Poisson(rate x audience) each."""
    counts = rng.poisson(audiences * rate)
    starts = np.repeat(exposures, counts)
    times: np.ndarray = starts + _delays(rng, starts.size, scale_s)
    return times[times < horizon]


def _pick(
    rng: np.random.Generator, choices: tuple[tuple[str | None, float], ...], n: int
) -> list[str | None]:
    names = [name for name, _ in choices]
    weights = np.array([weight for _, weight in choices])
    picked = rng.choice(len(names), size=n, p=weights / weights.sum())
    return [names[index] for index in picked]


def _tco(rng: np.random.Generator, n: int) -> list[str]:
    codes = rng.choice(_ALPHABET, size=(n, 10))
    return ["https://t.co/" + "".join(row) for row in codes]


def _generate(story: Story, rng: np.random.Generator) -> pl.DataFrame:
    horizon = story.hours * 3600.0
    reshares = _cascade(story, rng, horizon)
    exposures = np.concatenate([[0.0], reshares.get_column("t").to_numpy()])
    audiences = np.concatenate(
        [[float(story.followers)], reshares.get_column("reach").to_numpy().astype(np.float64)]
    )
    # a resharer's followers see it less than the poster's own (one hop removed)
    audiences[1:] *= 0.5
    parts: list[pl.DataFrame] = []

    def social(metric: str, times: np.ndarray, reach: np.ndarray | None = None) -> None:
        parts.append(
            pl.DataFrame(
                {
                    "t": times,
                    "metric": metric,
                    "reach": reach if reach is not None else np.full(times.size, None),
                }
            ).cast({"reach": pl.Int64})
        )

    clicks = _reactions(rng, exposures, audiences, story.click_rate, 900.0, horizon)
    social(CLICKS, clicks)
    social(LIKES, _reactions(rng, exposures, audiences, story.like_rate, 600.0, horizon))
    social(REPLIES, _reactions(rng, exposures, audiences, story.reply_rate, 1200.0, horizon))
    quote = rng.random(reshares.height) < story.quote_share
    shared = reshares.get_column("t").to_numpy()
    reach = reshares.get_column("reach").to_numpy()
    social(REPOSTS, shared[~quote], reach[~quote])
    social(QUOTES, shared[quote], reach[quote])
    events = pl.concat(parts).sort("t", "metric")
    n = events.height
    is_click = events.get_column("metric") == CLICKS
    referrers = _pick(rng, _REFERRERS, n)
    tco = iter(_tco(rng, n))
    referrer = [next(tco) if ref == "t.co" else ref for ref in referrers]
    actors = rng.integers(10_000, 99_999, n)
    frame = events.with_columns(
        ts=pl.lit(POST_TIME, dtype=UTC_US)
        + pl.duration(microseconds=(pl.col("t") * 1_000_000).round().cast(pl.Int64)),
        source=pl.lit(SOURCE),
        kind=pl.lit("event"),
        value=pl.lit(1.0),
        id=pl.format("{}-{}", pl.col("metric"), pl.int_range(pl.len()).over("metric")),
        post=pl.when(is_click).then(None).otherwise(pl.lit("1899172634450051072")),
        actor=pl.when(is_click).then(None).otherwise(pl.format("@user{}", pl.Series(actors))),
        referrer=pl.when(is_click).then(pl.Series(referrer, dtype=pl.String)),
        # analytics know where a click came from; a platform does not say it of a like
        country=pl.when(is_click).then(pl.Series(_pick(rng, _COUNTRIES, n), dtype=pl.String)),
        device=pl.when(is_click).then(pl.Series(_pick(rng, _DEVICES, n), dtype=pl.String)),
        path=pl.when(is_click).then(pl.lit("/blog/launch")),
    )
    return conform(frame.drop("t")).collect().sort("ts", maintain_order=True)


def _with_followers(scenario: Scenario) -> pl.DataFrame:
    """The frame plus one `followers` total at the post time, so files carry the audience."""
    followers = scenario.campaign.followers
    post_time = scenario.campaign.post_time or POST_TIME
    row = pl.DataFrame(
        {
            "ts": [post_time],
            "source": [SOURCE],
            "kind": ["total"],
            "metric": [FOLLOWERS],
            "value": [float(followers or 0)],
            "id": [None],
        }
    ).cast({"ts": UTC_US})
    return pl.concat([conform(row).collect(), scenario.frame])


def write(scenario: Scenario, path: Path) -> int:
    """`scenarios.save`: the scenario with its `followers` row as .parquet, .csv or .ndjson."""
    frame = _with_followers(scenario)
    suffix = path.suffix.lower()
    writers: dict[str, Callable[[pl.DataFrame, Path], None]] = {
        ".parquet": lambda data, target: data.write_parquet(target),
        ".csv": lambda data, target: _text(data).write_csv(target),
        ".ndjson": lambda data, target: _text(data).write_ndjson(target),
        ".jsonl": lambda data, target: _text(data).write_ndjson(target),
    }
    writer = writers.get(suffix)
    if writer is None:
        raise ConfigError(f"--save {path}: use a .parquet, .csv or .ndjson file name")
    try:
        writer(frame, path)
    except OSError as exc:
        raise ConfigError(f"--save {path}: cannot write ({exc.strerror})") from None
    return frame.height


def _text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"), pl.col("kind").cast(pl.String)
    )
