"""`engmon report`: a file's engagement metrics, headless, as they stood at an offset.

The whole file goes through the store's merge rules lazily (`observations_to_deltas`), then
is reduced to per-minute counts (`metrics.minute_counts`) and a per-metric summary; nothing
loops over rows. A Parquet file in the observation schema is scanned, never loaded whole.

JSON keys (stable): `campaign`, `link`, `post_time` (UTC), `tz` (the zone of --tz, default
UTC), `post_time_local` (ISO 8601 in that zone), `at_s`, `bucket`, `bucket_s`,
`followers`, `engagement`, `per_1k_followers`, `verdict` (the dashboard's sentence),
`trend` (the trend words, e.g. "ahead, slowing"), `position` (ahead | on track | behind |
null), `shape` (just starting | flat | still growing | slowing | over), `compared_with`
(what the position is against, or null), `notes`,
`metrics: {name: {count, reach, peak: {value, at_s}, velocity_per_min, first_s}}` and
`buckets: {name: [{at_s, value, reach, cumulative}]}`; `conversions`,
`conversion_rate_per_click` and `conversions_per_1k_followers` (null without a goal),
`visitors_now` (visitors of the 5 minutes up to `at`; null when the data has no such gauge);
with `--breakdown`, `breakdowns: {table: [{value, parent, count, share, per_1k}]}` (`utm`
rows are utm sources, each followed by its campaigns with the source in `parent`).
`--format html` draws the same dict (engmon.watch.report_html).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import polars as pl

from engmon.core import metrics
from engmon.core.campaign import RELATIVE_ANCHOR, Campaign
from engmon.core.history import default_history_dir, load_history, post_key
from engmon.core.judge import judge
from engmon.core.outlook import outlook_at
from engmon.core.printable import printable, spreadsheet_safe_column
from engmon.core.readable import check_regular_file
from engmon.core.schema import (
    CONVERSIONS,
    ENGAGEMENT_METRICS,
    KINDS,
    RESHARE_METRICS,
    RESHARERS,
    UTC_US,
)
from engmon.core.standing import Standing, standing_at
from engmon.core.store import counter_levels, observations_to_deltas
from engmon.core.verdict import rate_text
from engmon.core.words import compact_count, offset_text, plural, singular
from engmon.core.zone import display_zone_name, local, posted_words
from engmon.errors import ConfigError
from engmon.sources.files import FileSpec, LoadedFile, load_observations
from engmon.sources.files.parquet import (
    is_parquet,
    local_row_groups,
    scan_parquet_observations,
)

OUTPUT_FORMATS: Final = ("text", "json", "csv", "html")
FORECAST_AT: Final = timedelta(hours=1)
"""When `--forecast` is given without `--at`: forecast from the first hour (as the paper)."""


@dataclass(frozen=True)
class _Input:
    observations: pl.LazyFrame
    campaign: Campaign
    first: datetime
    last: datetime
    notes: list[str]
    repeated: pl.DataFrame | None = None  # id hashes that repeat, when scanned ahead
    counters: bool = True  # whether any total rows may be present
    metric_names: tuple[str, ...] = ()  # every metric in the file, shown at 0 before it starts


def run_report(
    spec: FileSpec,
    *,
    output_format: str = "text",
    bucket: str = "1m",
    at: str | None = None,
    forecast: bool = False,
    notes: list[str] | None = None,
    breakdowns: Sequence[str] = (),
) -> str:
    """The report on `spec`'s file as text, JSON or CSV (ending with a newline).

    With `notes` (a list to fill) what was noted while reading (malformed lines skipped,
    buckets widened) goes there for stderr instead of into the text; JSON keeps its `notes`.
    """
    tables = report_tables(breakdowns)
    if output_format not in OUTPUT_FORMATS:
        raise ConfigError(f"--format {output_format!r}: use one of {', '.join(OUTPUT_FORMATS)}")
    try:
        width = metrics.parse_bucket(bucket)
    except ValueError:
        raise ConfigError(f"--bucket {bucket!r}: use minutes like 1m, 5m, 15m, 1h or 1d") from None
    offset: timedelta | None = None
    if at is not None:
        try:
            offset = metrics.parse_offset(at)
        except ValueError:
            raise ConfigError(f"--at {at!r}: use seconds or 90s, 15m, 1h, 1h30m") from None
        if offset < timedelta(0):
            raise ConfigError(f"--at {at!r}: must not be before the post")
    if forecast and output_format == "csv":
        raise ConfigError("--forecast: use --format text or json (CSV holds only the buckets)")
    with local_row_groups():  # a Parquet file is scanned one row group ahead: bounded memory
        # the page has breakdown tables, so has --breakdown
        data = _read(spec, dimensions=output_format == "html" or bool(tables))
        report = build_report(data, width=width, offset=offset, breakdowns=tables)
        if forecast or output_format == "html":  # the page always shows the forecast
            report["forecast"] = _forecast(data, report, offset)
        page = _html(data, report, offset) if output_format == "html" else None
    if notes is not None:
        notes.extend(report["notes"])
    if page is not None:
        return page
    if output_format == "json":
        return json.dumps(_finite(report), indent=2, allow_nan=False) + "\n"
    if output_format == "csv":
        return _breakdowns_csv(report) if tables else _csv(report)
    return _text(report, with_notes=notes is None)


def _html(data: _Input, report: dict[str, Any], offset: timedelta | None) -> str:
    from engmon.watch.report_html import html_page

    return html_page(data, report, offset)


REPORT_TABLES: Final = {
    "utm": "utm_source",
    "browser": "browser",
    "os": "os",
    "referrer": "platform",
    "country": "country",
    "device": "device",
    "post": "post",
    "path": "path",
}
"""`--breakdown` names -> the breakdown dimension they show."""


def report_tables(names: Sequence[str]) -> list[str]:
    """The `--breakdown` names, checked and in a fixed order (`all`: every table)."""
    wanted = set(REPORT_TABLES) if "all" in names else set(names)
    unknown = sorted(wanted - set(REPORT_TABLES))
    if unknown:
        raise ConfigError(
            f"--breakdown {unknown[0]!r}: use one of {', '.join(REPORT_TABLES)} or all"
        )
    return [name for name in REPORT_TABLES if name in wanted]


# --- reading ---------------------------------------------------------------------------------


def _read(spec: FileSpec, *, dimensions: bool = False) -> _Input:
    """The file's observations, lazily where the file allows (Parquet in the schema);
    `dimensions`: keep referrer, country, device... even for a file of events only."""
    path = spec.path
    check_regular_file(path)
    plain = not spec.mapped and spec.file_format in ("auto", "observations")
    if plain and is_parquet(path):
        scanned = scan_parquet_observations(spec, dimensions=dimensions)
        if scanned is not None:
            return _Input(
                scanned.observations,
                scanned.campaign,
                scanned.first,
                scanned.last,
                [],
                repeated=scanned.repeated,
                counters=scanned.counters,
                metric_names=scanned.metric_names,
            )
    return _from_loaded(load_observations(spec))


def _from_loaded(loaded: LoadedFile) -> _Input:
    frame = loaded.frame
    first, last = frame.get_column("ts").min(), frame.get_column("ts").max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    campaign = loaded.campaign
    if campaign.post_time is None:
        campaign = Campaign(campaign.name, campaign.link, first, campaign.followers)
    names = tuple(frame.get_column("metric").unique().to_list())
    # ids known to be unique: no hash of every id to look for repeats
    repeated = pl.DataFrame(schema={"_h": pl.UInt64()}) if loaded.unique_ids else None
    return _Input(
        frame.lazy(),
        campaign,
        first,
        last,
        list(loaded.notes),
        repeated=repeated,
        metric_names=names,
    )


# --- metrics ---------------------------------------------------------------------------------


def build_report(
    data: _Input, *, width: int, offset: timedelta | None, breakdowns: Sequence[str] = ()
) -> dict[str, Any]:
    """The report as a plain dict (the JSON document): summary per metric and bucket series.

    The figures are the file's `Standing` at the offset (engmon.core.standing), the same
    numbers the dashboard shows at that clock. Without an offset the report stands at the
    last observation, where a replay of the file ends: every row counts.
    """
    campaign = data.campaign
    post_time = campaign.post_time or data.first
    if offset is None:
        at_s = max(0.0, (data.last - post_time).total_seconds())
    else:
        at_s = max(0.0, offset.total_seconds())
    notes = list(data.notes)
    fitted = metrics.fit_width(width, math.floor(at_s / 60) + 1)
    if fitted != width:
        notes.append(
            f"buckets widened from {width} to {fitted} min: the report spans"
            f" {_offset(at_s)} and holds at most {metrics.MAX_BUCKETS} buckets"
        )
        width = fitted
    observations = data.observations
    if offset is not None:
        observations = observations.filter(pl.col("ts") <= pl.lit(post_time + offset, dtype=UTC_US))
    kinds = KINDS if data.counters else ("event",)
    deltas = observations_to_deltas(observations, data.repeated, kinds)
    shared = pl.col("metric").is_in([*RESHARE_METRICS, RESHARERS])
    # one pass over the file: the per-minute counts and the reshares the forecast reads
    minutes, reshared = pl.collect_all(
        [metrics.minute_counts(deltas, post_time), deltas.filter(shared)], engine="streaming"
    )
    levels = (
        counter_levels(observations).collect(engine="streaming")
        if data.counters
        else pl.DataFrame(schema={"metric": pl.String, "level": pl.Float64})
    )
    names = set(data.metric_names) | set(minutes.get_column("metric").unique().to_list())
    numbers = standing_at(
        minutes,
        levels,
        post_time=post_time,
        elapsed_s=at_s,
        followers=campaign.followers,
        names=names | set(levels.get_column("metric").unique().to_list()),
    )
    order = numbers.metrics
    series = _series(minutes, levels, order, width, numbers.now_minute)
    history = load_history(
        numbers.headline, default_history_dir(), exclude=post_key(campaign.name, post_time)
    )
    outlook = outlook_at(
        reshared,
        minutes,
        post_time,
        numbers.followers,
        at_s,
        numbers.headline,
        history,
        final=offset is None,
    )
    judged = judge(numbers, history=history, outlook=outlook)

    def peak(name: str) -> tuple[float, int | None]:
        """The busiest minute; with wider buckets, the busiest bucket of the series."""
        if width == 1:
            figures = numbers.figures(name)
            return figures.peak, figures.peak_minute
        best = max(series[name], key=lambda row: row["value"], default=None)
        if best is None or not best["value"]:
            return 0.0, None
        return float(best["value"]), int(best["at_s"]) // 60

    metrics_out: dict[str, Any] = {}
    for name in order:
        figures = numbers.figures(name)
        top, top_minute = peak(name)
        metrics_out[name] = {
            "count": _number(figures.count),
            "reach": figures.reach,
            "peak": {
                "value": _number(top),
                "at_s": None if top_minute is None else top_minute * 60,
            },
            "velocity_per_min": figures.velocity,
            "first_s": figures.first_s,
        }
    report: dict[str, Any] = {
        "campaign": campaign.name,
        "link": campaign.link,
        # null when unknown (relative times placed after the 1970 anchor), never a 1970 date
        "post_time": None
        if post_time == RELATIVE_ANCHOR
        else post_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "tz": display_zone_name(),
        "post_time_local": None if post_time == RELATIVE_ANCHOR else local(post_time).isoformat(),
        "at_s": at_s,
        "bucket": f"{width}m" if width % 60 else f"{width // 60}h",
        "bucket_s": width * 60,
        "followers": numbers.followers,
        "engagement": _number(numbers.engagement),
        "per_1k_followers": numbers.per_1k,
        "verdict": judged.text,
        "trend": judged.trend,
        "position": judged.position,
        "shape": judged.shape,
        "compared_with": judged.compared_with,
        "notes": notes,
        **_conversions(numbers),
        "visitors_now": numbers.visitors_now,
        "metrics": metrics_out,
        "buckets": series,
    }
    if breakdowns:
        report["breakdowns"] = _breakdowns(
            deltas,
            levels if data.counters else None,
            breakdowns,
            post_time,
            numbers.now_minute,
            numbers.followers,
        )
    return report


def _conversions(numbers: Standing) -> dict[str, Any]:
    """`conversions` and its rates per click and per 1k followers (null without a goal)."""
    if CONVERSIONS not in numbers.present:
        return dict.fromkeys(
            ("conversions", "conversion_rate_per_click", "conversions_per_1k_followers")
        )
    return {
        "conversions": _number(numbers.conversions),
        "conversion_rate_per_click": numbers.conversion_rate,
        "conversions_per_1k_followers": numbers.conversions_per_1k,
    }


def _breakdowns(
    deltas: pl.LazyFrame,
    levels: pl.DataFrame | None,
    tables: Sequence[str],
    post_time: datetime,
    now_minute: int,
    followers: int | None,
) -> dict[str, list[dict[str, Any]]]:
    """The asked breakdown tables of the headline metric, as the dashboard computes them."""
    from engmon.core.breakdown import (
        CHILDREN,
        breakdown,
        enrich,
        enrich_levels,
        host_children,
        table_sources,
    )

    enriched = enrich(deltas.collect(engine="streaming"))
    names = enriched.get_column("metric").cast(pl.String).unique().to_list()
    headline = metrics.pick_headline(names)
    sources = enriched.get_column("source").cast(pl.String).drop_nulls().unique().to_list()
    held = None
    if levels is not None and "source" in levels.columns:
        held = enrich_levels(levels).lazy()

    def table(dimension: str) -> pl.DataFrame:
        return breakdown(
            enriched.lazy(),
            dimension,
            post_time=post_time,
            now_minute=now_minute,
            metric_names=[headline],
            levels=held,
            followers=followers,
            sources=table_sources(dimension, sources),
        ).collect()

    out: dict[str, list[dict[str, Any]]] = {}
    for name in tables:
        dimension = REPORT_TABLES[name]
        frame = table(dimension)
        child = CHILDREN.get(dimension)
        if child is not None and name == "utm":  # each source followed by its campaigns
            parents = frame.get_column("value").drop_nulls().to_list()
            frame = host_children(frame, table(child), parents).drop("depth")
        out[name] = [
            {
                "value": row["value"],
                "parent": row["parent"],
                "count": _number(row["count"]),
                "share": row["share"],
                "per_1k": row["per_1k"],
            }
            for row in frame.drop("velocity").iter_rows(named=True)
        ]
    return out


def _series(
    minutes: pl.DataFrame, levels: pl.DataFrame, order: list[str], width: int, now_minute: int
) -> dict[str, list[dict[str, Any]]]:
    """Per metric, one entry per bucket from the post to `now_minute`, with the cumulative."""
    seen = minutes.filter(pl.col("minute") < now_minute)
    # cumulative starts at what was there before the post: counter levels, earlier increases
    before = (
        pl.concat(
            [
                levels.group_by("metric").agg(start=pl.col("level").sum()),
                seen.filter(pl.col("minute") < 0)
                .group_by("metric")
                .agg(start=pl.col("value").sum()),
            ]
        )
        .group_by("metric")
        .agg(pl.col("start").sum())
    )
    starts = dict(before.iter_rows())
    out: dict[str, list[dict[str, Any]]] = {}
    for name in order:  # a handful of metrics, each a polars pipeline
        buckets = metrics.bucketed(seen.lazy(), width, name).collect()
        filled = metrics.dense(buckets, width, now_minute)
        cumulative = metrics.with_cumulative(filled.lazy(), float(starts.get(name, 0.0))).collect()
        out[name] = [
            {
                "at_s": int(row["bucket"]) * 60,
                "value": _number(row["value"]),
                "reach": int(row["reach"]),
                "cumulative": _number(row["cumulative"]),
            }
            for row in cumulative.iter_rows(named=True)
        ]
    return out


def _cell(value: float | None) -> str:
    """A table cell: `4,963`, `2.5`, `-` (thousands separated, as everywhere in the text)."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


# --- output ----------------------------------------------------------------------------------


def _offset(seconds: float) -> str:
    return offset_text(seconds)


def _people(count: int | None) -> str:
    """`2.3k followers`, as the verdict and the dashboard say it."""
    return "an unknown audience" if count is None else f"{compact_count(count)} followers"


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _text(report: dict[str, Any], *, with_notes: bool = True) -> str:
    """A human table under a one-line verdict."""
    names = list(report["metrics"])
    headline = [
        plural(report["metrics"][name]["count"], singular(name), name)
        for name in names
        if name in ENGAGEMENT_METRICS
    ]
    per_1k = report["per_1k_followers"]
    rate = f", {rate_text(per_1k)} engaged per 1k followers" if per_1k is not None else ""
    when = posted_words(report["post_time"], report.get("post_time_local"), report.get("tz"))
    posted = f"posted {when}"
    if report["post_time"] is None:
        posted = "post time unknown; give --post-time"
    lines = [
        f"{report['campaign']}: {_offset(report['at_s'])} after a post to "
        f"{_people(report['followers'])} ({posted})",
        f"{', '.join(headline) or 'no engagement'}{rate}",
        f"verdict: {report['verdict']}",
        "",
        f"{'metric':<12} {'count':>9} {'reach':>11} {'peak/' + report['bucket']:>9} "
        f"{'peak at':>9} {'per min':>8} {'first':>9}",
    ]
    for name in names:
        row = report["metrics"][name]
        peak_at = _offset(row["peak"]["at_s"]) if row["peak"]["at_s"] is not None else "-"
        first = _offset(row["first_s"]) if row["first_s"] is not None else "-"
        count, reach, peak = (_cell(v) for v in (row["count"], row["reach"], row["peak"]["value"]))
        lines.append(
            f"{name:<12} {count:>9} {reach:>11} {peak:>9} "
            f"{peak_at:>9} {row['velocity_per_min']:>8.2f} {first:>9}"
        )
    if report.get("conversions") is not None:
        per_click = report["conversion_rate_per_click"]
        per_1k = report["conversions_per_1k_followers"]
        rates = [f"{per_click * 100:.2f}% of clicks"] if per_click is not None else []
        rates += [f"{rate_text(per_1k)} per 1k followers"] if per_1k is not None else []
        shown = f" ({', '.join(rates)})" if rates else ""
        lines.append(f"conversions: {report['conversions']}{shown}")
    if report.get("visitors_now") is not None:
        lines.append(f"visitors now: {_number(report['visitors_now'])} (the 5 minutes up to then)")
    for name, rows in report.get("breakdowns", {}).items():
        lines.extend(["", f"{name:<28} {'count':>9} {'share':>6} {'per 1k':>8}"])
        for row in rows:
            # escaped before it is cut and padded, so the columns stay aligned
            label = "(none)" if row["value"] is None else printable(str(row["value"]))
            label = ("  └ " + label) if row["parent"] is not None else label
            per_1k = "-" if row["per_1k"] is None else f"{row['per_1k']:.2f}"
            share = 0.0 if row["share"] is None else row["share"] * 100
            lines.append(f"{label[:28]:<28} {row['count']:>9} {share:>5.0f}% {per_1k:>8}")
    if "forecast" in report:
        from engmon.core.outlook import forecast_lines

        lines.extend(["", *forecast_lines(report["forecast"])])
    if with_notes:
        lines.extend(f"note: {note}" for note in report["notes"])
    return "\n".join(printable(line) for line in lines) + "\n"


def _forecast(data: _Input, report: dict[str, Any], offset: timedelta | None) -> dict[str, Any]:
    """The forecast made at --at (default one hour) beside the file's actual final size."""
    from engmon.core.outlook import forecast_vs_actual

    post_time = data.campaign.post_time or data.first
    at_s = (offset or FORECAST_AT).total_seconds()
    names = [n for n in report["metrics"] if n in ENGAGEMENT_METRICS] or list(report["metrics"])
    metric = "clicks" if "clicks" in names else (names[0] if names else "clicks")
    return forecast_vs_actual(
        data.observations, post_time, data.campaign.followers, at_s, metric, data.repeated
    )


def _breakdowns_csv(report: dict[str, Any]) -> str:
    """One row per breakdown value: table, value, parent, count, share, per_1k."""
    rows = [
        {"table": name, **row}
        for name, entries in report.get("breakdowns", {}).items()
        for row in entries
    ]
    schema = {
        "table": pl.String,
        "value": pl.String,
        "parent": pl.String,
        "count": pl.Float64,
        "share": pl.Float64,
        "per_1k": pl.Float64,
    }
    buffer = io.StringIO()
    pl.DataFrame(rows, schema=schema, strict=False).write_csv(buffer)
    return buffer.getvalue()


def _csv(report: dict[str, Any]) -> str:
    """One row per bucket per metric: metric, at_s, value, reach, cumulative."""
    frames = [
        pl.DataFrame(
            rows,
            schema={
                "at_s": pl.Int64,
                "value": pl.Float64,
                "reach": pl.Int64,
                "cumulative": pl.Float64,
            },
            strict=False,
        ).select(pl.lit(name).alias("metric"), pl.all())
        for name, rows in report["buckets"].items()
        if rows
    ]
    if not frames:
        return "metric,at_s,value,reach,cumulative\n"
    buffer = io.StringIO()
    pl.concat(frames).with_columns(spreadsheet_safe_column("metric")).write_csv(buffer)
    return buffer.getvalue()
