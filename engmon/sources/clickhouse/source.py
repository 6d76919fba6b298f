"""ClickHouse source: the cluster aggregates, engmon receives a few kilobytes per poll.

Self-hosted Plausible keeps every event in ClickHouse, and nginx logs are often shipped to a
ClickHouse table. Instead of pulling rows, each poll sends two kinds of `SELECT` over the HTTP
interface (`FORMAT JSONEachRow`):

- per-minute counts for the link since the last complete minute minus a small overlap
  (`clicks = count()`, `visitors = uniqExact(<visitor column>)`), emitted as `bucket` rows of
  width 60 s that replace what an earlier poll said about the same minute;
- at a slower cadence, the top-N referrers, countries and devices since the post, emitted as
  `bucket` rows of metric `clicks` from source `<name>:referrer|country|device` with
  `ts` = window start and `width_s` = 0 ("since the start"), so they never add to the curve.

Values are never formatted into SQL. Identifiers from the config are checked against
`[A-Za-z_][A-Za-z0-9_]*` and back-quoted. Values are bound server-side in one of two ways:
query parameters (`{name:Type}` in the SQL, `param_name=` in the URL; ClickHouse 19.11+), or,
for servers without them (Debian's 18.16 rejects `param_*` as an unknown setting), a one-row
external data table `_engmon_params` sent as a multipart part and read with scalar
subqueries `(SELECT name FROM _engmon_params)`. `binding = "auto"` asks `version()` once.
The first query asks the server its version and the user's `readonly` level; later queries
carry what that profile accepts: `readonly` (1, or 2 for `cluster()`, which readonly=1
forbids) when the profile leaves it at 0, `max_execution_time` and `wait_end_of_query=1`
(errors arrive as an HTTP status, not mid-stream) unless the profile is readonly=1, and
always an httpx timeout a little longer than the server's (see `client`).

Progress is kept only for what a poll returns: the last complete minute moves on after the
bucket query succeeded, and the breakdowns still owed stay owed until each one answered; a
failed breakdown leaves the buckets of the poll standing and is asked again next poll.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.export import POST_TIME_KEY
from engmon.core.recording import RecordingWriter
from engmon.core.schema import (
    CLICKS,
    VISITORS,
    breakdown_rows,
    breakdown_source,
    conform,
    empty_observations,
)
from engmon.errors import ConfigError, SourceError
from engmon.sources.base import PollResult, Source
from engmon.sources.clickhouse.client import ClickHouseClient, Transfer
from engmon.sources.clickhouse.config import (
    BREAKDOWNS,
    ClickHouseConfig,
    ClickHouseOptions,
    breakdown_query,
    bucket_query,
    read_config,
)
from engmon.sources.options import SourceKind, SourceOptions
from engmon.sources.series import floor_minute

KIND: Final = "clickhouse"
SUMMARY: Final = (
    "clicks/visitors per minute and top referrers/countries/devices for one link,"
    " aggregated inside ClickHouse (Plausible or nginx tables, Distributed clusters)"
)

# --- frames -------------------------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())


def _epoch_end(moment: datetime) -> int:
    """Exclusive upper bound in whole seconds: events stamped before `moment` are in."""
    return math.ceil(moment.astimezone(UTC).timestamp())


def bucket_frame(rows: list[dict[str, Any]], source: str, path: str) -> pl.DataFrame:
    """Per-minute rows -> `bucket` observations (clicks, visitors) of width 60 s."""
    if not rows:
        return empty_observations()
    frame = pl.DataFrame(rows, orient="row", infer_schema_length=None)
    metrics = [m for m in (CLICKS, VISITORS) if m in frame.columns]
    long = frame.unpivot(index="minute", on=metrics, variable_name="metric", value_name="value")
    return (
        conform(
            long.select(
                ts=pl.from_epoch(pl.col("minute").cast(pl.Int64), time_unit="s"),
                metric=pl.col("metric"),
                value=pl.col("value").cast(pl.Float64),
                kind=pl.lit("bucket"),
                width_s=pl.lit(60),
                source=pl.lit(source),
                path=pl.lit(path),
            )
        )
        .sort("ts", "metric")
        .collect()
    )


def breakdown_frame(
    rows: list[dict[str, Any]], dimension: str, source: str, path: str, start: datetime
) -> pl.DataFrame:
    """Top-N rows of one dimension -> `bucket` rows of `clicks`, width 0, from `<source>:<dim>`.

    The `source:dimension` name (engmon.core.schema.breakdown_source) keeps them off the curve.
    """
    if not rows:
        return empty_observations()
    frame = pl.DataFrame(rows, orient="row", schema={"value": pl.String, "clicks": pl.Float64})
    # FixedString columns (Plausible's country_code) pad with NUL bytes; '' means unknown.
    label = pl.col("value").str.strip_chars("\x00 ")
    return conform(
        frame.select(
            ts=pl.lit(start.astimezone(UTC)),
            metric=pl.lit(CLICKS),
            value=pl.col("clicks"),
            kind=pl.lit("bucket"),
            width_s=pl.lit(0),
            source=pl.lit(breakdown_source(source, dimension)),
            path=pl.lit(path),
            **{dimension: pl.when(label != "").then(label)},
        )
    ).collect()


class ClickHouseSource(Source):
    """Polls one link's per-minute counts and top-N breakdowns out of a ClickHouse table."""

    kind = KIND

    def __init__(
        self, config: ClickHouseConfig, campaign: Campaign, *, exact_start: datetime | None = None
    ) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout)
        self.config = config
        self.campaign = campaign
        self.client = ClickHouseClient(config)
        self.exact_start = exact_start  # an export's window start, kept to the second
        self._complete_until: datetime | None = None  # minutes before this are complete
        self._last_breakdown: datetime | None = None
        self._breakdowns_owed: list[str] = []  # dimensions of a breakdown round not yet read

    def window_start(self, now: datetime) -> datetime:
        """Start of everything this source reports: the post's minute, or a lookback."""
        if self.exact_start is not None:
            return self.exact_start.astimezone(UTC)
        if self.campaign.post_time is not None:
            return floor_minute(self.campaign.post_time)
        return floor_minute(now) - timedelta(minutes=self.config.lookback_minutes)

    def _dimensions(self) -> list[str]:
        return [d for d in BREAKDOWNS if getattr(self.config.columns, d)]

    def _breakdown_due(self, now: datetime) -> bool:
        if self._last_breakdown is None:
            return True
        return (now - self._last_breakdown).total_seconds() >= self.config.breakdown_interval

    def describe(self) -> str:
        """What is polled and the SQL sent (placeholders, never values of secrets)."""
        config = self.config
        binding = self.client.binding or "auto"
        shown = "parameters" if binding in ("auto", "parameters") else "external"
        lines = [
            f"clickhouse {config.name}: {config.url} {config.database}.{config.table}"
            + (f" on cluster {config.cluster}" if config.cluster else "")
            + f", link {config.link!r}, user {config.user}"
            + (f" (password from ${config.password_env})" if config.password_env else "")
            + f", binding {binding}"
            + (
                " ({name:Type} parameters; an external table before 19.11)"
                if binding == "auto"
                else ""
            )
            + f", {self.client.readonly_text()},"
            f" max_execution_time={config.max_execution_time}s",
            "  " + bucket_query(config, 0, 0).with_binding(shown),
        ]
        for dimension in self._dimensions():
            lines.append("  " + breakdown_query(config, dimension, 0, 0).with_binding(shown))
        return "\n".join(lines)

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """Buckets since the last complete minute (minus overlap), breakdowns when due."""
        config = self.config
        self.client.transfer = Transfer()
        start = self.window_start(now)
        since = start
        if self._complete_until is not None:
            since = max(start, self._complete_until - timedelta(minutes=config.overlap_minutes))
        end = _epoch_end(now)
        buckets = bucket_query(config, _epoch(since), end, origin=_epoch(start))
        rows = await self.client.rows(client, buckets)
        frames = [bucket_frame(rows, config.name, config.link)]
        if not self._breakdowns_owed and self._breakdown_due(now):
            self._breakdowns_owed = self._dimensions()
            self._last_breakdown = now
        read: list[str] = []
        problem: SourceError | None = None
        for dimension in list(self._breakdowns_owed):
            try:
                query = breakdown_query(config, dimension, _epoch(start), end)
                top = await self.client.rows(client, query)
            except SourceError as exc:  # the buckets stand; this dimension is asked next poll
                problem = exc
                break
            frames.append(breakdown_frame(top, dimension, config.name, config.link, start))
            read.append(dimension)
        # progress moves only with the rows returned here
        self._breakdowns_owed = [d for d in self._breakdowns_owed if d not in read]
        self._complete_until = floor_minute(now)
        frame = pl.concat(frames, how="vertical")
        curve = frame.filter(~breakdown_rows() & (pl.col("metric") == CLICKS))
        transfer = self.client.transfer
        summary = (
            f"{len(rows)} minute(s) since {since:%H:%M}, {curve['value'].sum():g} clicks"
            + (f", breakdowns ({', '.join(read)})" if read else "")
            + f"; {transfer.queries} queries, {transfer.received / 1024:.1f} KiB received"
        )
        return PollResult(
            frame=frame,
            summary=summary,
            facts={"bytes_received": float(transfer.received)},
            partial_error=problem,
        )


def make_clickhouse(options: ClickHouseOptions, campaign: Campaign, where: str) -> ClickHouseSource:
    """A ClickHouse source from its checked options (ConfigError naming the key if wrong)."""
    return ClickHouseSource(read_config(options, campaign, where), campaign)


SOURCE: Final = SourceKind(KIND, SUMMARY, ClickHouseOptions, make_clickhouse)


def load_clickhouse_observations(
    table: Mapping[str, Any],
    start: datetime,
    end: datetime,
    *,
    campaign: Campaign | None = None,
    where: str = "clickhouse",
) -> pl.DataFrame:
    """Observations for a past post: the live queries run once over exactly [start, end).

    `table` is a `[[sources]]` table of kind clickhouse; minutes are counted from `start`
    (to the second), so the frame replays and reports like any observation file. Raises
    SourceError when the server fails, a breakdown included.
    """
    base = campaign or Campaign(name="clickhouse")
    campaign_at_start = replace(base, post_time=start)
    source = SOURCE.build(SourceOptions(table, where), campaign_at_start)
    assert isinstance(source, ClickHouseSource)
    source.exact_start = start

    async def run() -> pl.DataFrame:
        # timeouts always set: the server's own limit plus a margin
        async with httpx.AsyncClient(timeout=httpx.Timeout(source.timeout + 5.0)) as client:
            result = await source.poll(client, end)
        if result.partial_error is not None:
            raise result.partial_error
        return result.frame

    return asyncio.run(run())


def clickhouse_table(
    tables: list[dict[str, Any]], path: Path, name: str | None = None
) -> tuple[dict[str, Any], str]:
    """The clickhouse `[[sources]]` table of a campaign file (by name, else the first one)
    and its `file: sources[i]` location for messages."""
    for index, table in enumerate(tables):
        if table.get("kind") == KIND and (name is None or table.get("name", KIND) == name):
            return table, f"{path}: sources[{index}]"
    wanted = f" named {name!r}" if name else ""
    raise ConfigError(f"{path}: no [[sources]] table with kind = {KIND!r}{wanted}")


def export_past_post(
    table: Mapping[str, Any],
    where: str,
    campaign: Campaign,
    start: datetime,
    end: datetime,
    out: Path,
) -> int:
    """Run a ClickHouse source table's queries over [start, end) and write an observation file.

    The file (`.parquet`, or `.ndjson`/`.jsonl` written as a recording) replays and reports
    like any other, with `start` as the post time; returns the number of observation rows.
    """
    if out.suffix not in (".parquet", ".ndjson", ".jsonl"):
        raise ConfigError(f"{out}: output must end in .parquet, .ndjson or .jsonl")
    if not out.parent.is_dir():  # before querying the server, not after
        raise ConfigError(f"{out}: folder {out.parent} does not exist")
    if end <= start:
        raise ConfigError(f"window end {end.isoformat()} is not after start {start.isoformat()}")
    frame = load_clickhouse_observations(
        table, start, end, campaign=campaign, where=f"{where} ({KIND})"
    )
    # the window start is the post: Parquet carries it as metadata, NDJSON as a recording header
    post = replace(campaign, post_time=start.astimezone(UTC))
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.unlink(missing_ok=True)
        if out.suffix == ".parquet":
            stamp = start.astimezone(UTC).isoformat().replace("+00:00", "Z")
            frame.write_parquet(partial, metadata={POST_TIME_KEY: stamp})
        else:
            writer = RecordingWriter(partial, post)
            writer.append(frame)
            writer.close()
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return frame.height
