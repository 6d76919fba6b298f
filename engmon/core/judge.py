"""The judgment: is the post working, compared to what, and what comes next.

`judge` turns one `Standing` (the numbers at an instant) into the `Verdict` every surface
shows: the dashboard's header, `report` (text and JSON) and the plain watch. The trend words
come from `engmon.core.trend` (position against expectations, then the shape of the curve);
the comparison is with the user's own past posts when at least three reached this minute,
else with public posts from accounts of the same size (reshares per 1k followers,
`engmon.core.reference`); the forecast sentence is phrased so that it
never contradicts the words before it ("slowing" never sits beside "taking off", a post that
is ahead or still growing never reads "not taking off", clicks never "bring more clicks").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import polars as pl

from engmon.core import reference
from engmon.core.band import MIN_POSTS
from engmon.core.forecast import FORECAST, TAKING_OFF, Forecast
from engmon.core.outlook import Outlook, forecast_noun, forecast_phrase
from engmon.core.schema import RESHARE_METRICS, RESHARERS
from engmon.core.standing import Standing
from engmon.core.trend import (
    FloatArray,
    Position,
    Shape,
    checkpoints,
    position_path,
    shape_path,
)
from engmon.core.verdict import Verdict, elapsed_text, metric_words, rate_text
from engmon.core.verdict import sentences as join_sentences
from engmon.core.words import at_minute, compact_count

PublicRank = Callable[[int, int, float], "float | None"]
"""`public_rank(minute, followers, reshares)`: the share of public posts from accounts of
similar size that had fewer reshares per 1k followers at that minute (None: no reference)."""

OVER_BUT_MORE: Final = 1.25
"""A forecast expecting more than this times what came in so far: the post is not "over"."""
PUBLIC_LABEL: Final = "public posts from accounts your size"
SHIPPED: Final = "shipped"
"""`judge(public_rank=SHIPPED)`: compare with the public reference engmon ships."""


def public_rank_function() -> PublicRank | None:
    """The public reference engmon ships (`engmon.core.reference.public_rank`)."""
    return reference.public_rank


@dataclass(frozen=True)
class Comparison:
    """What the post is compared with: a label, the share beaten at each whole minute, and
    the sentence for a position at a minute."""

    label: str
    rank_at: Callable[[int], float | None]
    sentence: Callable[[Position, int], str]


class HistoryComparison:
    """Your own past posts: their running totals per 1k followers at each minute."""

    def __init__(self, curves: pl.DataFrame, current_per_1k: FloatArray) -> None:
        frame = curves.cast({"post": pl.String, "minute": pl.Int64, "value": pl.Float64})
        frame = frame.filter(pl.col("minute") >= 0).sort("post", "minute")
        posts = frame.get_column("post").unique(maintain_order=True).to_list()
        width = int(frame.get_column("minute").cast(pl.Int64).max() or 0) + 1  # type: ignore[arg-type]
        matrix = np.zeros((len(posts), width), dtype=np.float64)
        reached = np.zeros((len(posts), width), dtype=bool)
        index = {post: i for i, post in enumerate(posts)}
        rows = frame.get_column("post").replace_strict(index, return_dtype=pl.Int64).to_numpy()
        cols = frame.get_column("minute").to_numpy()
        np.add.at(matrix, (rows, cols), frame.get_column("value").to_numpy())
        reached[rows, cols] = True
        # a post reached minute m when it has data at m or later (curves are dense)
        last = np.where(reached.any(axis=1), width - 1 - np.argmax(reached[:, ::-1], axis=1), -1)
        self.cumulative = np.cumsum(matrix, axis=1)
        self.last = last
        self.current = current_per_1k

    def _at(self, minute: int) -> tuple[FloatArray, float] | None:
        """Past totals per 1k by the end of minute `minute - 1` and the current one."""
        col = minute - 1
        if col < 0 or col >= self.cumulative.shape[1] or col >= len(self.current):
            return None
        values = self.cumulative[self.last >= col, col]
        if len(values) < MIN_POSTS:
            return None
        return values, float(self.current[col])

    def rank(self, minute: int) -> float | None:
        """Share of past posts that had less by this minute (ties count half)."""
        found = self._at(minute)
        if found is None:
            return None
        values, current = found
        less = float((values < current).sum()) + 0.5 * float((values == current).sum())
        return less / len(values)

    def sentence(self, position: Position, minute: int) -> str:
        """ "ahead of 8 of your last 10 posts at minute 20" and the like."""
        found = self._at(minute)
        assert found is not None
        values, current = found
        tail = f"of your last {len(values)} posts {at_minute(minute)}"
        if position == "ahead":
            return f"Ahead of {int((values < current).sum())} {tail}"
        if position == "behind":
            return f"Behind {int((values > current).sum())} {tail}"
        return f"On track: within the range {tail}"

    def comparison(self, posts: int) -> Comparison:
        return Comparison(f"your last {posts} posts", self.rank, self.sentence)


def history_comparison(curves: pl.DataFrame | None, numbers: Standing) -> Comparison | None:
    """Your past posts (`curves`: post, minute, value per 1k followers of the headline), when
    the audience is known and at least `MIN_POSTS` of them exist."""
    if curves is None or curves.is_empty() or not numbers.followers:
        return None
    posts = curves.get_column("post").n_unique()
    if posts < MIN_POSTS:
        return None
    current = np.cumsum(numbers.series) * 1000.0 / numbers.followers
    found = HistoryComparison(curves, current)
    if found.rank(numbers.whole_minutes) is None:
        return None  # too few past posts reached this minute: the public reference instead
    return found.comparison(posts)


def public_comparison(numbers: Standing, rank: PublicRank | None) -> Comparison | None:
    """Public posts from accounts of the same size, by reshares per 1k followers: only for a
    post whose data has reshares and a known audience."""
    has_reshares = numbers.present & {*RESHARE_METRICS, RESHARERS}
    if rank is None or not numbers.followers or not has_reshares:
        return None
    followers = numbers.followers
    running = np.cumsum(numbers.reshare_series)

    def rank_at(minute: int) -> float | None:
        if minute < 1 or minute > len(running):
            return None
        return rank(minute, followers, float(running[minute - 1]))

    def sentence(position: Position, minute: int) -> str:
        share = rank_at(minute) or 0.0
        only = "only " if position == "behind" else ""
        percent = math.floor(share * 100)  # 99.6% is not "100%": some posts did better
        return (
            f"Ahead of {only}{percent}% of {PUBLIC_LABEL} {at_minute(minute)}"
            " (reshares per 1k followers of public posts)"
        )

    if rank_at(numbers.whole_minutes) is None:
        return None  # outside the table (audience size, minute): nothing to compare with
    return Comparison(PUBLIC_LABEL, rank_at, sentence)


def _same_metric(forecast: Forecast, metric: str, headline: str) -> bool:
    noun = forecast_noun(forecast, metric)
    return noun == headline or (noun == "reshares" and headline in (*RESHARE_METRICS, RESHARERS))


def forecast_sentences(
    outlook: Outlook | None, shape: Shape, position: Position | None
) -> list[str]:
    """The forecast sentence(s), worded so they never contradict the trend words."""
    if outlook is None:
        return []
    out: list[str] = []
    made = outlook.forecast
    noun = forecast_noun(made, outlook.metric)
    if made.state == TAKING_OFF:
        if shape in ("slowing", "over", "flat"):
            # the pace is easing: a model's "no upper limit" would read as a contradiction
            out.append(f"Forecast of {noun}: not settled yet")
        elif noun == "reshares":
            out.append(forecast_phrase(made, outlook.metric))
        else:
            out.append(f"Forecast: {noun} still speeding up, no upper limit yet")
    else:
        phrase = forecast_phrase(made, outlook.metric)
        if position == "ahead" or shape == "still growing":
            phrase = phrase.replace(", not taking off", "")
        out.append(phrase)
    if outlook.clicks is not None and outlook.clicks.state == FORECAST:
        clicks = forecast_phrase(outlook.clicks, outlook.metric).replace("Forecast: ", "", 1)
        if position == "ahead" or shape == "still growing":
            clicks = clicks.replace(", not taking off", "")
        out.append(clicks[0].upper() + clicks[1:])
    return out


def _more_to_come(outlook: Outlook | None, headline: str) -> bool:
    """Whether a forecast of the headline expects clearly more than what came in so far."""
    if outlook is None:
        return False
    for made in (outlook.forecast, outlook.clicks):
        if made is None or not _same_metric(made, outlook.metric, headline):
            continue
        if made.state == TAKING_OFF:
            return True
        if made.state == FORECAST and made.predicted is not None:
            return made.predicted > OVER_BUT_MORE * max(made.observed, 1.0)
    return False


def trend_words(position: Position | None, shape: Shape) -> str:
    """`ahead, still growing`; the shape alone without a comparison or before any evidence."""
    if position is None or shape in ("just starting", "flat"):
        return shape
    return f"{position}, {shape}"


def judge(
    numbers: Standing,
    *,
    history: pl.DataFrame | None = None,
    outlook: Outlook | None = None,
    public_rank: PublicRank | Literal["shipped"] | None = SHIPPED,
) -> Verdict:
    """The verdict at the standing's instant: trend words, the comparison, the forecast.

    `history`: your past posts' curves of the headline per 1k followers (preferred when at
    least three exist); `public_rank`: the public reference ("shipped": the table engmon
    ships, `public_rank_function()`; None: no public comparison).
    """
    if public_rank == "shipped":
        public_rank = public_rank_function()
    when = elapsed_text(numbers.elapsed_s)
    if numbers.elapsed_s < 0:
        text = f"{elapsed_text(-numbers.elapsed_s)} before the post: waiting for it to go out"
        return Verdict("just starting", join_sentences(text, []), "just starting")
    whole = numbers.whole_minutes
    compared = history_comparison(history, numbers) or public_comparison(numbers, public_rank)
    # a big audience with a handful of clicks is flat, unless a comparison says otherwise
    engaged = (
        np.cumsum(numbers.engaged_series[:whole]) * 1000.0 / numbers.followers
        if numbers.followers and compared is None
        else None
    )
    path = shape_path(numbers.series[:whole], engaged)
    shape: Shape = path[-1][1] if path else "just starting"
    if shape == "over" and _more_to_come(outlook, numbers.headline):
        shape = "slowing"
    position: Position | None = None
    rank: float | None = None
    comparison_text: list[str] = []
    if compared is not None and shape not in ("just starting", "flat"):
        positions = position_path(checkpoints(whole), compared.rank_at)
        position = positions[-1][1] if positions else None
        if position is not None:
            rank = compared.rank_at(whole)
            comparison_text.append(compared.sentence(position, whole))
    trend = trend_words(position, shape)
    forecast = forecast_sentences(outlook, shape, position)
    audience = (
        f"a post to {compact_count(numbers.followers)} followers"
        if numbers.followers
        else "the post"
    )
    parts = [metric_words(numbers.head.count, numbers.headline)]
    if numbers.per_1k is not None:
        parts.append(f"{rate_text(numbers.per_1k)} engaged per 1k followers")
    head = f"{when} after {audience}: {', '.join(parts)} — {trend}"
    return Verdict(
        trend=trend,
        text=join_sentences(head, [*comparison_text, *forecast]),
        shape=shape,
        position=position,
        compared_with=compared.label if position is not None and compared else None,
        rank=rank,
        forecast=" ".join(f"{s}." for s in forecast) or None,
    )


def contradictions(verdict: Verdict, headline: str) -> list[str]:
    """Statements in `verdict` that contradict each other (empty when it is consistent)."""
    found: list[str] = []
    text = verdict.text
    if "taking off" in text and "not taking off" not in text and verdict.shape != "still growing":
        found.append(f"'{verdict.shape}' beside a forecast taking off")
    if "not taking off" in text and (
        verdict.position == "ahead" or verdict.shape == "still growing"
    ):
        found.append(f"'{verdict.trend}' beside 'not taking off'")
    if headline not in (*RESHARE_METRICS, RESHARERS) and f"more {headline}" in text:
        found.append(f"reshare wording on {headline}")
    if verdict.position == "ahead" and ("Behind " in text or "Ahead of only" in text):
        found.append("'ahead' beside a comparison that says behind")
    if verdict.position == "behind" and "Ahead of " in text and "Ahead of only" not in text:
        found.append("'behind' beside a comparison that says ahead")
    return found
