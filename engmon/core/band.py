"""The expected band: how your own past posts did at the same minute, per 1k followers.

Past curves are long frames with columns `post` (any id), `minute` (since that post) and
`value` (count in that minute per 1k followers of the poster), dense from minute 0 to the end
of what was seen. The band per minute is the p10 / p50 / p90 of those posts (only minutes that
at least `min_posts` posts reached), either of the per-minute rate (drawn on the curve) or of the
cumulative count (what the verdict compares with). Pure polars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import polars as pl

from engmon.core.words import at_minute

Position = Literal["ahead", "on track", "behind", "flat"]

MIN_POSTS: Final = 3
"""Fewer past posts than this at a minute: no band there (a percentile of two is noise)."""

CURVES_SCHEMA: Final = pl.Schema({"post": pl.String(), "minute": pl.Int64(), "value": pl.Float64()})
BAND_SCHEMA: Final = pl.Schema(
    {
        "minute": pl.Int64(),
        "posts": pl.UInt32(),
        "p10": pl.Float64(),
        "p50": pl.Float64(),
        "p90": pl.Float64(),
    }
)


def cumulative_curves(curves: pl.DataFrame) -> pl.DataFrame:
    """Each post's running total per 1k followers by minute (same columns as `curves`)."""
    return curves.sort("post", "minute").with_columns(value=pl.col("value").cum_sum().over("post"))


def expected_band(
    curves: pl.DataFrame, *, cumulative: bool = False, min_posts: int = MIN_POSTS
) -> pl.DataFrame:
    """Per minute since post: how many past posts reached it, and their p10 / p50 / p90.

    `cumulative` compares running totals (for "ahead / behind at minute 20") instead of the
    per-minute rate (for the band drawn on the curve).
    """
    if curves.is_empty():
        return BAND_SCHEMA.to_frame()
    frame = curves.cast({"post": pl.String, "minute": pl.Int64, "value": pl.Float64})
    if cumulative:
        frame = cumulative_curves(frame)
    value = pl.col("value")
    return (
        frame.filter(pl.col("minute") >= 0)
        .group_by("minute")
        .agg(
            posts=pl.col("post").n_unique().cast(pl.UInt32),
            p10=value.quantile(0.1, interpolation="linear"),
            p50=value.quantile(0.5, interpolation="linear"),
            p90=value.quantile(0.9, interpolation="linear"),
        )
        .filter(pl.col("posts") >= min_posts)
        .sort("minute")
        .select(BAND_SCHEMA.names())
    )


def scaled_band(band: pl.DataFrame, followers: int) -> pl.DataFrame:
    """The band in counts for an audience of `followers` (per-1k values times followers/1000)."""
    factor = followers / 1000.0
    return band.with_columns(pl.col("p10", "p50", "p90") * factor)


@dataclass(frozen=True)
class Standing:
    """Where the current post stands against past posts at one minute."""

    position: Position
    minute: int
    behind_of: int
    """Past posts that had more by this minute."""
    posts: int
    """Past posts that reached this minute."""

    @property
    def text(self) -> str:
        """ "behind 9 of your last 10 posts at minute 20" and the like."""
        at = at_minute(self.minute)
        if self.position == "flat":
            return f"flat: {self.behind_of} of your last {self.posts} posts had engagement {at}"
        if self.position == "ahead":
            ahead_of = self.posts - self.behind_of
            return f"ahead of {ahead_of} of your last {self.posts} posts {at}"
        if self.position == "behind":
            return f"behind {self.behind_of} of your last {self.posts} posts {at}"
        return f"on track: within the range of your last {self.posts} posts {at}"


def standing(
    curves: pl.DataFrame, current_per_1k: float, minute: int, *, min_posts: int = MIN_POSTS
) -> Standing | None:
    """Compare the current post's running total per 1k followers with past posts at `minute`.

    Ahead above their p90, behind below their p10, on track between, flat when nothing came in
    yet while most past posts had something. None when too few past posts reached that minute.
    """
    if curves.is_empty() or minute < 0:
        return None
    at_minute = cumulative_curves(
        curves.cast({"post": pl.String, "minute": pl.Int64, "value": pl.Float64})
    ).filter(pl.col("minute") == minute)
    posts = at_minute.height
    if posts < min_posts:
        return None
    values = at_minute.get_column("value")
    behind_of = int((values > current_per_1k).sum())
    p10 = float(values.quantile(0.1, interpolation="linear") or 0.0)
    p90 = float(values.quantile(0.9, interpolation="linear") or 0.0)
    position: Position
    if current_per_1k <= 0 and behind_of * 2 > posts:
        position = "flat"
    elif current_per_1k > p90:
        position = "ahead"
    elif current_per_1k < p10:
        position = "behind"
    else:
        position = "on track"
    return Standing(position, minute, behind_of, posts)
