"""The verdict: one plain sentence answering "is it working?", from a few numbers.

Pure and headless: the dashboard, `report` and alerts can all phrase the same facts the same
way. The trend words are deliberately few (`just starting`, `flat`, `rising`, `steady`,
`peaked and slowing`) so a reader learns them at a glance. Later phrases (a forecast, the
expected band of your past posts) are appended through `extra`, never by editing the sentence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from engmon.core.metrics import offset_text, per_thousand
from engmon.core.standing import Standing

Trend = Literal["just starting", "flat", "rising", "steady", "peaked and slowing"]

JUST_STARTED_MIN: Final = 5.0
"""Before this many minutes after the post, nothing can be called flat or rising yet."""
FLAT_PER_1K: Final = 0.05
"""Engagement per 1k followers below which a post that is 10+ minutes old is flat."""
FLAT_RATE: Final = 0.2
"""Without a follower count: per-minute velocity and peak at or below which a post is flat."""


SINGULAR: Final = {"replies": "reply"}
"""Metric names whose singular is not the plural minus its `s`."""


@dataclass(frozen=True)
class VerdictFacts:
    """What the verdict is computed from, as it stood at the clock.

    `metric`/`count`: the headline metric and its count; `engagement`: the honest metrics
    summed (clicks, replies, reposts, quotes); `velocity`: headline per minute over the last
    few minutes, `prior_velocity` over the few before; `peak_rate`/`peak_minute`: the busiest
    minute so far.
    """

    elapsed_s: float
    followers: int | None
    metric: str
    count: float
    engagement: float
    velocity: float
    prior_velocity: float
    peak_rate: float
    peak_minute: int | None

    @classmethod
    def of(cls, standing: Standing) -> VerdictFacts:
        """The facts of a standing (the one source of the numbers at an instant)."""
        return cls(
            elapsed_s=standing.elapsed_s,
            followers=standing.followers,
            metric=standing.headline,
            count=standing.head.count,
            engagement=standing.engagement,
            velocity=standing.velocity,
            prior_velocity=standing.prior_velocity,
            peak_rate=standing.peak,
            peak_minute=standing.peak_minute,
        )


@dataclass(frozen=True)
class Verdict:
    """The trend word and the sentence shown in the verdict panel."""

    trend: Trend
    text: str


def compact_count(value: float) -> str:
    """Human count: 950, 2.1k, 12k, 1.2M (followers, reach)."""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            scaled = value / limit
            text = f"{scaled:.1f}" if abs(scaled) < 10 else f"{scaled:.0f}"
            return text.removesuffix(".0") + suffix
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def rate_text(value: float) -> str:
    """A small rate readably: 14, 1.2, 0.45, 0.03, 0.003 (one significant digit below 0.1)."""
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 10:
        return f"{value:.0f}"
    if size >= 1:
        return f"{value:.1f}".removesuffix(".0")
    if size >= 0.1:
        return f"{value:.2f}".rstrip("0")
    digits = -math.floor(math.log10(size))
    return f"{value:.{digits}f}"


def peak_text(peak: float, peak_minute: int | None) -> str:
    """`6/min at +3m`: the busiest minute and when (dashboard KPI, plain watch)."""
    text = f"{rate_text(peak)}/min"
    if peak > 0 and peak_minute is not None:
        text += f" at {offset_text(peak_minute * 60) if peak_minute else '+0m'}"
    return text


def elapsed_text(seconds: float) -> str:
    """`under a minute`, `12 min`, `3 h 05 min`, `2 days 4 h`: time since the post in words.

    Whole minutes only: the dashboard recomputes the verdict once per minute of the clock.
    """
    total = max(0, int(seconds))
    if total < 60:
        return "under a minute"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {mins:02d} min"
    days, hrs = divmod(hours, 24)
    return f"{days} days {hrs} h"


def classify(facts: VerdictFacts) -> Trend:
    """The trend word for these facts (rules in the module constants)."""
    minutes = facts.elapsed_s / 60.0
    if minutes < JUST_STARTED_MIN:
        return "just starting"
    rate_1k = per_thousand(facts.engagement, facts.followers)
    if facts.count <= 0:
        return "flat" if minutes >= 2 * JUST_STARTED_MIN else "just starting"
    if rate_1k is not None:
        if rate_1k < FLAT_PER_1K:
            # Too little for this audience: flat once it had its chance, not "peaked" before.
            return "flat" if minutes >= 2 * JUST_STARTED_MIN else "just starting"
    elif facts.velocity <= FLAT_RATE and facts.peak_rate <= 1:
        return "flat"
    peak_age = minutes - (facts.peak_minute or 0)
    # A lone event in a minute is no peak to slow down from.
    peaked = facts.peak_rate > 1 and facts.velocity < 0.5 * facts.peak_rate
    if peak_age > JUST_STARTED_MIN and peaked:
        return "peaked and slowing"
    if facts.velocity > 1.2 * facts.prior_velocity and facts.velocity >= 0.5 * facts.peak_rate:
        return "rising"
    return "steady"


def metric_words(count: float, metric: str) -> str:
    """`3 clicks`, `1 click`, `12 reposts`: a count with its metric, singular when one."""
    name = metric
    if count == 1:
        name = SINGULAR.get(metric, metric.removesuffix("s"))
    return f"{compact_count(count)} {name}"


def _sentences(head: str, extra: Sequence[str]) -> str:
    """The headline, then each extra phrase as a sentence; a full stop closes them when any."""
    if not extra:
        return head
    return ". ".join([head, *extra]).rstrip(".") + "."


def verdict(facts: VerdictFacts, extra: Sequence[str] = ()) -> Verdict:
    """The verdict sentence, e.g. "12 min after a post to 1.2M followers: 3 clicks, 0.003 engaged
    per 1k followers — flat" (engaged: clicks, replies, reposts and quotes).
    `extra` phrases (forecast, expected band) follow as sentences."""
    trend = classify(facts)
    when = elapsed_text(facts.elapsed_s)
    if facts.elapsed_s < 0:
        text = f"{elapsed_text(-facts.elapsed_s)} before the post: waiting for it to go out"
        return Verdict("just starting", _sentences(text, extra))
    audience = (
        f"a post to {compact_count(facts.followers)} followers" if facts.followers else "the post"
    )
    parts = [metric_words(facts.count, facts.metric)]
    rate_1k = per_thousand(facts.engagement, facts.followers)
    if rate_1k is not None:
        parts.append(f"{rate_text(rate_1k)} engaged per 1k followers")
    text = f"{when} after {audience}: {', '.join(parts)} — {trend}"
    return Verdict(trend, _sentences(text, extra))
