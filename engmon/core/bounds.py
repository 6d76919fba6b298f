"""The ranges every value from a file, a feed, an option or a config must fall in.

One place says what is sane, so readers, options and config refuse the same things with one
line each: times between 1900 and 2999 (Python and polars hold far more, but a span of
centuries is a mistake, and arithmetic near year 1 or 9999 overflows), finite non-negative
counts no larger than any platform reports, follower counts that fit an int64, bucket widths
up to a year. `observation_problems` is the same check as polars expressions, used by each
reader on its whole frame at once.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

import polars as pl

from engmon.core.schema import KINDS, UTC_US

EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(3000, 1, 1, tzinfo=UTC)
"""Times are accepted in [EARLIEST, LATEST)."""
TIME_RANGE_TEXT: Final = "between 1900 and 2999"
EARLIEST_S: Final = EARLIEST.timestamp()
LATEST_S: Final = LATEST.timestamp()
MAX_COUNT: Final = 1e12
"""The largest count one row may carry (more than any post has ever had views)."""
MAX_REACH: Final = 10**11
"""The largest follower count (more than people on Earth, far inside int64)."""
MAX_WIDTH_S: Final = 366 * 86_400
"""The widest bucket: a year (int32 seconds hold 68 years)."""
MAX_SPAN: Final = LATEST - EARLIEST


def time_problem(moment: datetime) -> str | None:
    """Why `moment` (aware) cannot be used as a time, or None when it can."""
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return f"{moment.isoformat()} is not {TIME_RANGE_TEXT}"
    if not EARLIEST <= utc < LATEST:
        return f"{utc.isoformat().replace('+00:00', 'Z')} is not {TIME_RANGE_TEXT}"
    return None


class NotATime(ValueError):
    """Text that does not read as an ISO 8601 time at all (as opposed to one out of range)."""


def parse_iso(text: str) -> datetime:
    """ISO 8601 text (`Z` or an offset; naive means UTC) -> an aware UTC time in range.

    The one parser of user and feed time text; ValueError says what is wrong (not a time,
    or out of range), without the text itself, which the caller names where it came from.
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise NotATime("is not an ISO 8601 time, e.g. 2026-11-25T14:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if problem := time_problem(moment):
        raise ValueError(problem)
    return moment.astimezone(UTC)


def offset_problem(offset: timedelta, base: datetime) -> str | None:
    """Why `base + offset` is out of range, or None."""
    try:
        moment = base + offset
    except OverflowError:
        return f"{TIME_RANGE_TEXT} is exceeded"
    return time_problem(moment)


def count_problem(value: float, what: str = "count") -> str | None:
    """Why `value` cannot be a count (nan, inf, negative, absurdly large), or None."""
    if not math.isfinite(value):
        return f"{what} {value!r} is not a finite number"
    if value < 0:
        return f"{what} {value:g} is negative"
    if value > MAX_COUNT:
        return f"{what} {value:g} is larger than {MAX_COUNT:g}"
    return None


def in_time_range(ts: pl.Expr) -> pl.Expr:
    """True where the UTC datetime expression `ts` lies in [EARLIEST, LATEST)."""
    return ts.is_between(pl.lit(EARLIEST, dtype=UTC_US), pl.lit(LATEST, dtype=UTC_US), "left")


def epoch_seconds_ok(seconds: pl.Expr) -> pl.Expr:
    """True where a float of epoch seconds is finite and within the time range."""
    return seconds.is_finite() & seconds.is_between(EARLIEST_S, LATEST_S, "left")


def observation_problems(schema: pl.Schema) -> list[tuple[pl.Expr, str]]:
    """(expression true on a bad row, what is wrong) over an observation frame's columns.

    Works on the schema's own dtypes and on raw ones (strings, floats) before casting, so a
    reader can run it first and name the first bad line instead of failing in a cast.
    """
    checks: list[tuple[pl.Expr, str]] = []
    names = schema.names()
    if "ts" in names and isinstance(schema["ts"], pl.Datetime):
        ts = pl.col("ts")
        if schema["ts"].time_zone is None:
            ts = ts.dt.replace_time_zone("UTC")
        checks.append((ts.is_null(), "column 'ts': empty time"))
        checks.append((~in_time_range(ts.cast(UTC_US)), f"column 'ts': not {TIME_RANGE_TEXT}"))
    if "metric" in names and schema["metric"].is_nested():
        checks.append((pl.lit(True), "column 'metric': a list or object, not a name"))
    elif "metric" in names:
        checks.append((pl.col("metric").is_null(), "column 'metric': empty metric"))
    if "kind" in names and not schema["kind"].is_nested():
        kind = pl.col("kind").cast(pl.String)
        checks.append(
            (kind.is_not_null() & ~kind.is_in(list(KINDS)), f"column 'kind': not {'/'.join(KINDS)}")
        )
    for name, limit, what in (
        ("value", MAX_COUNT, "count"),
        ("reach", MAX_REACH, "follower count"),
        ("width_s", MAX_WIDTH_S, "bucket width in seconds"),
    ):
        if name not in names:
            continue
        if schema[name].is_nested():
            checks.append((pl.lit(True), f"column {name!r}: a list or object, not a number"))
            continue
        if not schema[name].is_numeric():
            number = pl.col(name).cast(pl.String).cast(pl.Float64, strict=False)
            checks.append(
                (number.is_null() & pl.col(name).is_not_null(), f"column {name!r}: not a number")
            )
        else:
            number = pl.col(name).cast(pl.Float64)
        checks.append((~number.is_finite(), f"column {name!r}: NaN or infinite"))
        checks.append((number < 0, f"column {name!r}: negative {what}"))
        checks.append((number > limit, f"column {name!r}: {what} above {limit:g}"))
    return checks


def first_problem(frame: pl.DataFrame) -> tuple[int, str] | None:
    """(row index, what is wrong) of the first row `observation_problems` refuses, or None."""
    checks = observation_problems(frame.schema)
    if not checks:
        return None
    flags = frame.lazy().select(
        [expr.fill_null(False).alias(f"c{index}") for index, (expr, _) in enumerate(checks)]
    )
    found = (
        flags.with_row_index("_row").filter(pl.any_horizontal(pl.exclude("_row"))).head(1).collect()
    )
    if found.is_empty():
        return None
    row = found.row(0, named=True)
    for index, (_, what) in enumerate(checks):
        if row[f"c{index}"]:
            return int(row["_row"]), what
    return None
