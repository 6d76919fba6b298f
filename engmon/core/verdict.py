"""Words for the verdict: the `Verdict` every surface shows and the small text helpers.

The judgment itself (trend words, what the post is compared with, the forecast sentence) is
made once in `engmon.core.judge`; the dashboard, `report` and the plain watch only show it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from engmon.core.trend import Position, Shape
from engmon.core.words import compact_count, offset_text

SINGULAR: Final = {"replies": "reply"}
"""Metric names whose singular is not the plural minus its `s`."""


@dataclass(frozen=True)
class Verdict:
    """The judgment at one instant: the trend words and the sentence every surface shows.

    `trend` is the position then the shape ("ahead, slowing"), or the shape alone when there
    is nothing to compare with; `compared_with` names the comparison ("your last 8 posts",
    "public posts from accounts your size"); `forecast` is the forecast sentence, if any.
    """

    trend: str
    text: str
    shape: Shape = "just starting"
    position: Position | None = None
    compared_with: str | None = None
    rank: float | None = None
    """Share of the compared posts this one beats at the judged minute (0..1)."""
    forecast: str | None = None

    @property
    def brief(self) -> str:
        """The sentence without its forecast part, for a screen that shows the forecast
        beside it (the dashboard's KPI row on a short terminal)."""
        if self.forecast and self.text.endswith(" " + self.forecast):
            return self.text.removesuffix(" " + self.forecast)
        return self.text


def rate_text(value: float) -> str:
    """A small rate readably: 14, 1.2, 0.45, 0.03, 0.003 (one significant digit below 0.1)."""
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 10:
        return f"{value:,.0f}"  # 55,144: thousands separated as every count in the text
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
        # minute 0 is the post's own minute: "+0m" read like "no time at all"
        text += f" at {offset_text(peak_minute * 60)}" if peak_minute else " in minute 1"
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


def metric_words(count: float, metric: str) -> str:
    """`3 clicks`, `1 click`, `12 reposts`: a count with its metric, singular when one."""
    name = metric
    if count == 1:
        name = SINGULAR.get(metric, metric.removesuffix("s"))
    return f"{compact_count(count)} {name}"


def sentences(head: str, extra: Sequence[str]) -> str:
    """The headline, then each extra phrase as a sentence; a full stop closes them when any."""
    if not extra:
        return head
    return ". ".join([head, *extra]).rstrip(".") + "."
