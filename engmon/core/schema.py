"""The one observation schema every source produces, and the metric vocabulary.

An observation row is one of three shapes of truth (column `kind`):

- ``event``:  one occurrence at `ts` (an access-log hit, a like with its timestamp, a reshare).
  `value` is how many (usually 1). Rows with the same non-null (`source`, `id`) are the same
  event: merging them twice counts once.
- ``bucket``: a count for ``[ts, ts + width_s)`` (Plausible, Umami, Bitly time series).
  A later row with the same key (source, metric, ts, width_s and dimensions) **replaces** it.
- ``total``:  a running counter sampled at `ts` (Mastodon, Bluesky, X counters). The first
  sample per (source, metric, post) is a starting level, later increases are engagement,
  decreases (an unlike) are ignored until the counter climbs past its previous high again.

Optional dimensions: `referrer`, `country`, `device`, `post`, `path`, `utm` (the campaign tags,
see `utm_tag`), `browser`, `os`; `actor` is who did it (a handle, an IP+UA hash) and `reach` the
followers of that actor where the feed knows it.
"""

from __future__ import annotations

from typing import Final, Literal

import polars as pl

Kind = Literal["event", "bucket", "total"]
KINDS: Final = ("event", "bucket", "total")

UTC_US: Final = pl.Datetime("us", "UTC")

OBSERVATION_SCHEMA: Final = pl.Schema(
    {
        "ts": UTC_US,
        "source": pl.String(),
        "kind": pl.Enum(KINDS),
        "metric": pl.String(),
        "value": pl.Float64(),
        "width_s": pl.Int32(),
        "id": pl.String(),
        "post": pl.String(),
        "actor": pl.String(),
        "reach": pl.Int64(),
        "referrer": pl.Categorical(),
        "country": pl.Categorical(),
        "device": pl.Categorical(),
        "path": pl.Categorical(),
        "utm": pl.Categorical(),
        "browser": pl.Categorical(),
        "os": pl.Categorical(),
    }
)
"""Columns, in order, of every observation frame (sources, store, recordings, files)."""

REQUIRED_COLUMNS: Final = ("ts", "metric", "value")
"""Columns a file in the observation schema must have; the others default (kind=event...)."""

DIMENSIONS: Final = ("referrer", "country", "device", "post", "path", "utm", "browser", "os")
"""Columns a user can break engagement down by and filter on."""

# --- metric vocabulary ---------------------------------------------------------------------
CLICKS: Final = (
    "clicks"  # a visit to the link: pageview of the landing page, a Bitly click, a log hit
)
VISITORS: Final = "visitors"  # unique visitors (Plausible/Umami visitors, IP+UA per day in logs)
REPLIES: Final = "replies"
REPOSTS: Final = "reposts"  # reblogs, reposts, retweets
QUOTES: Final = "quotes"
LIKES: Final = "likes"  # shown, never the headline
IMPRESSIONS: Final = "impressions"  # views where a platform reports them (X with user context)
RESHARERS: Final = "resharers"  # one event per account that reshared; its followers in `reach`
FOLLOWERS: Final = "followers"  # the poster's follower count, sampled as a total
CONVERSIONS: Final = "conversions"  # visitors who reached the goal (a vendor goal, a log path)
ACTIVE: Final = "active"  # visitors of the last 5 minutes, a gauge sampled once a minute

METRICS: Final = (
    CLICKS,
    VISITORS,
    CONVERSIONS,
    REPLIES,
    REPOSTS,
    QUOTES,
    LIKES,
    IMPRESSIONS,
    RESHARERS,
)
"""Metrics engmon knows by name, in display order. Other metric names pass through untouched."""

ENGAGEMENT_METRICS: Final = (CLICKS, REPLIES, REPOSTS, QUOTES)
"""The honest numbers: what "engagement per 1k followers" adds up. Likes are vanity."""

RESHARE_METRICS: Final = (REPOSTS, QUOTES)
"""Metrics that spread a post further (the cascade the forecast models)."""

GAUGE_METRICS: Final = (ACTIVE,)
"""Metrics that are a level at an instant, not a count: never summed, never on the curve.
A source samples them as `bucket` rows of `width_s = 60` at the minute of the sample, so a
re-poll within the minute replaces the sample and replay shows the value the clock reached."""

UTM_KEYS: Final = ("utm_source", "utm_medium", "utm_campaign", "utm_content")
"""The campaign tags engmon keeps, in the order `utm` holds them."""


def utm_tag(parts: dict[str, pl.Expr]) -> pl.Expr:
    """The `utm` column from per-key expressions: `utm_source=x&utm_campaign=y` (keys in
    `UTM_KEYS` order, missing, empty and `(not set)` values left out; null when none is set).
    """
    pieces = []
    for key in UTM_KEYS:
        value = parts.get(key)
        if value is None:
            continue
        value = value.cast(pl.String).str.strip_chars()
        unset = value.is_null() | value.is_in(["", "(not set)", "(none)"])
        pieces.append(pl.when(unset).then(None).otherwise(pl.lit(f"{key}=") + value))
    if not pieces:
        return pl.lit(None, dtype=pl.String)
    tag = pl.concat_str(pieces, separator="&", ignore_nulls=True)
    return pl.when(tag == "").then(None).otherwise(tag)


def utm_value(key: str, column: str = "utm") -> pl.Expr:
    """One tag's value out of a `utm` column (`utm_value("utm_source")`), null when absent."""
    return pl.col(column).cast(pl.String).str.extract(f"(?:^|&){key}=([^&]*)", 1)


def empty_observations() -> pl.DataFrame:
    """A frame with no rows and the observation schema."""
    return OBSERVATION_SCHEMA.to_frame()


def conform(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Add missing optional columns as nulls/defaults and cast to the schema, in schema order.

    Sources build frames with just the columns they know; this makes them a valid observation
    frame. `kind` defaults to event, `width_s` to 0, `source` to "".
    """
    lf = frame.lazy()
    given = lf.collect_schema()
    names = given.names()
    defaults: dict[str, pl.Expr] = {
        "kind": pl.lit("event"),
        "width_s": pl.lit(0),
        "source": pl.lit(""),
        "value": pl.lit(1.0),
    }
    exprs: list[pl.Expr] = []
    for name, dtype in OBSERVATION_SCHEMA.items():
        if name in names:
            expr = pl.col(name)
        elif name in defaults:
            expr = defaults[name]
        else:
            expr = pl.lit(None)
        if dtype == pl.Categorical and given.get(name) not in (None, pl.String, pl.Categorical):
            expr = expr.cast(pl.String)  # numbers and flags become categories via their text
        exprs.append(expr.cast(dtype).alias(name))
    return lf.select(exprs)


BREAKDOWN_DIMENSIONS: Final = ("referrer", "country", "device", "utm", "browser", "os")
"""Dimensions an analytics API reports as a breakdown (counts per value, no time)."""


def breakdown_source(source: str, dimension: str) -> str:
    """Source name of breakdown rows (`umami:referrer`): kept out of the curve, read by drilldown.

    A breakdown repeats counts the source's time series already holds, so adding it to the
    curve would double it; see `engmon.sources.series` for the row layout.
    """
    return f"{source}:{dimension}"


def breakdown_rows() -> pl.Expr:
    """True for rows a source reported as a breakdown (`<source>:referrer|country|...`)."""
    return pl.col("source").str.contains(f":({'|'.join(BREAKDOWN_DIMENSIONS)})$")


def row_end() -> pl.Expr:
    """When a row's span ends: `ts` plus `width_s` (an event's is its own instant)."""
    return pl.col("ts") + pl.duration(seconds=pl.col("width_s"))
