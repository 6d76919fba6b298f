"""Your past posts, kept small: one Parquet file per watched or replayed post.

Each file holds the post's per-minute counts (columns `metric`, `minute`, `value`, dense from
minute 0 to the last minute seen) plus `post`, `post_time` and `followers` columns, so the
expected band can be drawn per 1k followers for any later post. Saving the same post again
replaces its file (the name is derived from the post time and campaign name).
The default place is `<user data dir>/engmon/history/` (platformdirs).
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Final

import polars as pl

from engmon.core.schema import UTC_US

HISTORY_SCHEMA: Final = pl.Schema(
    {
        "post": pl.String(),
        "post_time": UTC_US,
        "followers": pl.Int64(),
        "metric": pl.String(),
        "minute": pl.Int64(),
        "value": pl.Float64(),
    }
)
MAX_MINUTES: Final = 7 * 24 * 60
"""A week of minutes at most per post: the band is about the first hours anyway."""
HISTORY_ENV: Final = "ENGMON_HISTORY_DIR"


def default_history_dir() -> Path:
    """`$ENGMON_HISTORY_DIR`, else `<user data dir>/engmon/history`."""
    override = os.environ.get(HISTORY_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("engmon")) / "history"


def post_key(name: str, post_time: datetime) -> str:
    """A stable file-name-safe id for one post."""
    digest = hashlib.sha1(f"{name}|{post_time.isoformat()}".encode()).hexdigest()[:10]
    return f"{post_time:%Y%m%dT%H%M%SZ}-{digest}"


def post_curve(
    minutes: pl.DataFrame, name: str, post_time: datetime, followers: int
) -> pl.DataFrame:
    """A history frame from a store's per-minute aggregate (metric, minute, value...)."""
    seen = minutes.filter(pl.col("minute") >= 0, pl.col("minute") < MAX_MINUTES)
    if seen.is_empty():
        return HISTORY_SCHEMA.to_frame()
    end = int(seen.get_column("minute").max())  # type: ignore[arg-type]
    grid = pl.DataFrame({"metric": seen.get_column("metric").unique().sort()}).join(
        pl.DataFrame({"minute": pl.int_range(0, end + 1, eager=True, dtype=pl.Int64)}),
        how="cross",
    )
    sums = seen.group_by("metric", "minute").agg(pl.col("value").sum())
    return (
        grid.join(sums, on=["metric", "minute"], how="left", maintain_order="left")
        .with_columns(
            pl.col("value").fill_null(0.0),
            post=pl.lit(post_key(name, post_time)),
            post_time=pl.lit(post_time, dtype=UTC_US),
            followers=pl.lit(followers, dtype=pl.Int64),
        )
        .cast(HISTORY_SCHEMA)
        .select(HISTORY_SCHEMA.names())
    )


def save_post(curve: pl.DataFrame, directory: Path | None = None) -> Path | None:
    """Write one post's history frame (replacing an earlier save); None when it is empty."""
    if curve.is_empty():
        return None
    where = directory or default_history_dir()
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{curve.get_column('post')[0]}.parquet"
    partial = path.with_suffix(".parquet.tmp")
    curve.write_parquet(partial)
    partial.replace(path)  # atomic: a crash never leaves half a file in the history
    return path


def load_history(
    metric: str,
    directory: Path | None = None,
    *,
    last: int = 10,
    before: datetime | None = None,
    exclude: str | None = None,
) -> pl.DataFrame:
    """The `last` past posts' curves of `metric` per 1k followers: columns post, minute, value.

    Only posts before `before` (the current post's time) count; `exclude` skips one post id.
    Unreadable files are skipped: a broken history must never stop a watch.
    """
    where = directory or default_history_dir()
    frames: list[pl.DataFrame] = []
    for path in sorted(where.glob("*.parquet")) if where.is_dir() else []:
        try:
            frames.append(pl.read_parquet(path).cast(HISTORY_SCHEMA))
        except (OSError, pl.exceptions.PolarsError):
            continue
    if not frames:
        return pl.DataFrame(schema={"post": pl.String, "minute": pl.Int64, "value": pl.Float64})
    every = pl.concat(frames).filter(pl.col("metric") == metric, pl.col("followers") > 0)
    if before is not None:
        every = every.filter(pl.col("post_time") < pl.lit(before, dtype=UTC_US))
    if exclude is not None:
        every = every.filter(pl.col("post") != exclude)
    recent = (
        every.group_by("post")
        .agg(pl.col("post_time").first())
        .sort("post_time", descending=True)
        .head(last)
        .get_column("post")
    )
    return (
        every.filter(pl.col("post").is_in(recent.implode()))
        .select("post", "minute", value=pl.col("value") * 1000.0 / pl.col("followers"))
        .sort("post", "minute")
    )


def list_posts(directory: Path | None = None) -> pl.DataFrame:
    """One row per kept post, oldest first: post, post_time, followers, minutes, and the
    total of each metric (`clicks`, `reposts`...), for `engmon history`."""
    where = directory or default_history_dir()
    frames: list[pl.DataFrame] = []
    for path in sorted(where.glob("*.parquet")) if where.is_dir() else []:
        try:
            frames.append(pl.read_parquet(path).cast(HISTORY_SCHEMA))
        except (OSError, pl.exceptions.PolarsError):
            continue
    if not frames:
        return pl.DataFrame(
            schema={
                "post": pl.String,
                "post_time": UTC_US,
                "followers": pl.Int64,
                "minutes": pl.Int64,
            }
        )
    every = pl.concat(frames)
    heads = every.group_by("post").agg(
        pl.col("post_time").first(),
        pl.col("followers").first(),
        minutes=pl.col("minute").max() + 1,
    )
    totals = every.pivot(on="metric", index="post", values="value", aggregate_function="sum")
    return heads.join(totals, on="post", how="left").sort("post_time", "post")


def clear_history(directory: Path | None = None) -> int:
    """Delete every kept post (the band starts over); the number of posts removed."""
    where = directory or default_history_dir()
    removed = 0
    for path in sorted(where.glob("*.parquet")) if where.is_dir() else []:
        path.unlink()
        removed += 1
    return removed
