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
Every query carries `readonly` (1, or 2 when the `cluster()` table function is used, which
readonly=1 forbids), `max_execution_time` and `wait_end_of_query=1` (errors arrive as an HTTP
status, not mid-stream), and an httpx timeout a little longer than the server's.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.schema import CLICKS, VISITORS, breakdown_source, conform, empty_observations
from engmon.errors import (
    ConfigError,
    SourceAuthError,
    SourceError,
    SourceNotFound,
    SourceResponseError,
    SourceUnreachable,
)
from engmon.sources.base import PollResult, Source
from engmon.sources.http import raise_for_status
from engmon.sources.options import SourceOptions
from engmon.sources.series import floor_minute

KIND: Final = "clickhouse"
SUMMARY: Final = (
    "clicks/visitors per minute and top referrers/countries/devices for one link,"
    " aggregated inside ClickHouse (Plausible or nginx tables, Distributed clusters)"
)
KEYS: Final[dict[str, str]] = {
    "url": "HTTP(S) URL of any ClickHouse node, e.g. http://127.0.0.1:8123",
    "preset": "column layout: plausible (events_v2), nginx, or none (map every column)",
    "database": "database holding the table (plausible: plausible_events_db, else default)",
    "table": "table to read: a MergeTree table or a Distributed table over the cluster",
    "cluster": "read `table` on every shard through cluster('<name>', db, table) (readonly=2)",
    "link": "value of the link column to count (default: the path of the campaign link)",
    "time_column": "DateTime column of each event",
    "link_column": "column compared with `link` (path of the page/request)",
    "referrer_column": "column for the referrer breakdown ('' to skip)",
    "country_column": "column for the country breakdown ('' to skip)",
    "device_column": "column for the device breakdown ('' to skip)",
    "visitor_column": "column whose distinct values are visitors (uniqExact; '' to skip)",
    "match": "table of extra column = value filters, e.g. { site_id = 1, name = 'pageview' }",
    "user": "ClickHouse user (default: default)",
    "password_env": "name of the environment variable holding the password",
    "auth": "how credentials travel: headers (X-ClickHouse-User/Key, default) or basic",
    "binding": "how values are bound: auto (default), parameters ({name:Type}) or external",
    "overlap_minutes": "complete minutes re-queried each poll to catch late events (default 2)",
    "breakdown_interval": "seconds between top-N breakdown queries (default 60)",
    "top": "rows per breakdown (default 10)",
    "lookback_minutes": "window start when the campaign has no post time (default 60)",
    "max_execution_time": "server-side limit per query in seconds (default: timeout - 1)",
}

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PARAMS_TABLE: Final = "_engmon_params"
FIRST_VERSION_WITH_PARAMETERS: Final = (19, 11)
BREAKDOWNS: Final = ("referrer", "country", "device")
PARAM_TYPES: Final = {str: "String", int: "Int64"}
ERROR_CODE = re.compile(r"Code:\s*(\d+)")
ERROR_TEXT = re.compile(r"DB::Exception:\s*(.*?)(?:, e\.what\(\)|\s*\(version |$)", re.S)


@dataclass(frozen=True)
class Columns:
    """Which table columns hold the time, link and dimensions (None: not mapped)."""

    time: str
    link: str
    referrer: str | None = None
    country: str | None = None
    device: str | None = None
    visitor: str | None = None


@dataclass(frozen=True)
class Preset:
    """Defaults for a well-known table layout."""

    database: str
    table: str | None
    columns: Columns
    match: Mapping[str, str | int] = field(default_factory=dict)


PRESETS: Final[dict[str, Preset]] = {
    # Plausible CE: plausible_events_db.events_v2 (older installs: events, same columns).
    "plausible": Preset(
        "plausible_events_db",
        "events_v2",
        Columns(
            "timestamp", "pathname", "referrer_source", "country_code", "screen_size", "user_id"
        ),
        {"name": "pageview"},
    ),
    # nginx access log table (see README for the DDL this expects).
    "nginx": Preset(
        "default",
        "nginx_access",
        Columns("timestamp", "path", "referer", visitor="remote_addr"),
    ),
    "none": Preset("default", None, Columns("", "")),
}


@dataclass(frozen=True)
class ClickHouseConfig:
    """A validated clickhouse source table (identifiers checked, password resolved)."""

    name: str
    url: str
    database: str
    table: str
    columns: Columns
    link: str
    cluster: str | None = None
    match: Mapping[str, str | int] = field(default_factory=dict)
    user: str = "default"
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None
    auth: str = "headers"
    binding: str = "auto"
    overlap_minutes: int = 2
    breakdown_interval: float = 60.0
    top: int = 10
    lookback_minutes: int = 60
    timeout: float = 10.0
    max_execution_time: int = 9
    interval: float = 10.0


@dataclass(frozen=True)
class Query:
    """SQL with `{name:Type}` placeholders, and the values to bind to them."""

    sql: str
    params: Mapping[str, tuple[str, str | int]]  # name -> (ClickHouse type, value)

    def with_binding(self, binding: str) -> str:
        """The SQL as sent: placeholders kept, or rewritten to read the external params table."""
        if binding == "parameters":
            return self.sql
        out = self.sql
        for name, (ch_type, _value) in self.params.items():
            out = out.replace(f"{{{name}:{ch_type}}}", f"(SELECT {name} FROM {PARAMS_TABLE})")
        return out


def quote_identifier(name: str, where: str, key: str) -> str:
    """`name` back-quoted, after checking it is a plain identifier (ConfigError otherwise)."""
    if not IDENTIFIER.match(name):
        raise ConfigError(
            f"{where}: key {key!r} must be a plain identifier (letters, digits, _), not {name!r}"
        )
    return f"`{name}`"


def _column_option(options: SourceOptions, key: str, default: str | None) -> str | None:
    value = options.string(key, default)
    return value or None


def read_config(options: SourceOptions, campaign: Campaign) -> ClickHouseConfig:
    """Validate one `[[sources]]` table of kind clickhouse into a ClickHouseConfig."""
    where = options.where
    name = options.name
    url = options.string("url", required=True)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: key 'url' must be an http:// or https:// URL, not {url!r}")
    if parts.username or parts.password or parts.query:
        raise ConfigError(
            f"{where}: key 'url' must not carry credentials or a query; use user/password_env"
        )
    preset = PRESETS[options.choice("preset", tuple(PRESETS), "none")]
    database = options.string("database", preset.database)
    table = options.string("table", preset.table, required=preset.table is None)
    cluster = options.string("cluster")
    columns = Columns(
        time=options.string("time_column", preset.columns.time, required=not preset.columns.time),
        link=options.string("link_column", preset.columns.link, required=not preset.columns.link),
        referrer=_column_option(options, "referrer_column", preset.columns.referrer),
        country=_column_option(options, "country_column", preset.columns.country),
        device=_column_option(options, "device_column", preset.columns.device),
        visitor=_column_option(options, "visitor_column", preset.columns.visitor),
    )
    checks = {"database": database, "table": table, "cluster": cluster}
    checks |= {f"{k}_column": v for k, v in vars(columns).items()}
    for key, value in checks.items():
        if value is not None:
            quote_identifier(value, where, key)
    match: dict[str, str | int] = dict(preset.match)
    for column, value in options.table("match").items():
        quote_identifier(column, where, f"match.{column}")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(f"{where}: key 'match.{column}' must be a string or whole number")
        match[column] = value
    link = options.link_path("link", campaign.link)
    timeout = options.timeout(10.0)
    default_limit = max(1, int(timeout) - 1)
    config = ClickHouseConfig(
        name=name,
        url=url.rstrip("/") or url,
        database=database,
        table=table,
        columns=columns,
        link=link,
        cluster=cluster,
        match=match,
        user=options.string("user", "default"),
        password=options.secret("password_env", required=False),
        password_env=options.string("password_env"),
        auth=options.choice("auth", ("headers", "basic"), "headers"),
        binding=options.choice("binding", ("auto", "parameters", "external"), "auto"),
        overlap_minutes=options.integer("overlap_minutes", 2),
        breakdown_interval=options.number("breakdown_interval", 60.0),
        top=options.integer("top", 10, minimum=1),
        lookback_minutes=options.integer("lookback_minutes", 60, minimum=1),
        timeout=timeout,
        max_execution_time=options.integer("max_execution_time", default_limit, minimum=1),
        interval=options.interval(10.0),
    )
    if config.password_env and config.password is None:
        options.secret("password_env")  # raises the "variable is not set" ConfigError
    options.finish()
    return config


# --- SQL ----------------------------------------------------------------------------------


def _source_sql(config: ClickHouseConfig) -> str:
    database = f"`{config.database}`"
    table = f"`{config.table}`"
    if config.cluster:
        # cluster('name', db, table): every shard answers, like a Distributed table would.
        return f"cluster('{config.cluster}', {database}, {table})"
    return f"{database}.{table}"


def _where(config: ClickHouseConfig) -> tuple[str, dict[str, tuple[str, str | int]]]:
    time = f"`{config.columns.time}`"
    clauses = [
        f"{time} >= toDateTime({{start:UInt32}})",
        f"{time} < toDateTime({{end:UInt32}})",
        f"`{config.columns.link}` = {{link:String}}",
    ]
    params: dict[str, tuple[str, str | int]] = {"link": ("String", config.link)}
    for index, (column, value) in enumerate(sorted(config.match.items())):
        ch_type = PARAM_TYPES[type(value)]
        clauses.append(f"`{column}` = {{m{index}:{ch_type}}}")
        params[f"m{index}"] = (ch_type, value)
    return " AND ".join(clauses), params


def bucket_query(config: ClickHouseConfig, start: int, end: int) -> Query:
    """Per-minute clicks (and visitors) for the link in [start, end) epoch seconds."""
    where, params = _where(config)
    select = [f"toUInt32(toStartOfMinute(`{config.columns.time}`)) AS minute"]
    select.append("toFloat64(count()) AS clicks")
    if config.columns.visitor:
        select.append(f"toFloat64(uniqExact(`{config.columns.visitor}`)) AS visitors")
    sql = (
        f"SELECT {', '.join(select)} FROM {_source_sql(config)} WHERE {where}"
        " GROUP BY minute ORDER BY minute FORMAT JSONEachRow"
    )
    return Query(sql, {**params, "start": ("UInt32", start), "end": ("UInt32", end)})


def breakdown_query(config: ClickHouseConfig, dimension: str, start: int, end: int) -> Query:
    """Top-N values of one dimension by clicks in [start, end); ties broken by value."""
    column = getattr(config.columns, dimension)
    where, params = _where(config)
    # LIMIT takes the validated integer `top` from the config: the one literal in the SQL.
    sql = (
        f"SELECT toString(`{column}`) AS value, toFloat64(count()) AS clicks"
        f" FROM {_source_sql(config)} WHERE {where}"
        f" GROUP BY value ORDER BY clicks DESC, value ASC LIMIT {int(config.top)}"
        " FORMAT JSONEachRow"
    )
    return Query(sql, {**params, "start": ("UInt32", start), "end": ("UInt32", end)})


# --- HTTP ---------------------------------------------------------------------------------


@dataclass
class Transfer:
    """Bytes sent and received by the queries of one poll (request bodies and responses)."""

    sent: int = 0
    received: int = 0
    queries: int = 0


def _server_error(response: httpx.Response, config: ClickHouseConfig) -> SourceError | None:
    text = response.text
    code_match = ERROR_CODE.search(text)
    if code_match is None:
        return None
    code = int(code_match.group(1))
    detail_match = ERROR_TEXT.search(text)
    detail = (
        (detail_match.group(1) if detail_match else text).strip().splitlines()[0][:200].rstrip(".")
    )
    where = f"{config.name}: ClickHouse at {response.request.url.host}"
    if code in (192, 193, 194, 195, 516) or response.status_code in (401, 403):
        env = f" (password from ${config.password_env})" if config.password_env else ""
        return SourceAuthError(
            f"{where} rejected user {config.user!r}{env}: {detail}; check user/password_env"
        )
    if code in (60, 81):
        return SourceNotFound(
            f"{where}: {detail}; check database/table (table = {config.database}.{config.table})"
        )
    if code in (16, 47):
        return SourceNotFound(f"{where}: {detail}; check the *_column keys of this source")
    if code == 159:
        return SourceResponseError(
            f"{where}: query exceeded max_execution_time={config.max_execution_time}s; raise it"
            " or narrow the window"
        )
    if code == 164:
        return SourceAuthError(
            f"{where}: {detail}; user {config.user!r} has a readonly=1 profile, which refuses"
            f" per-query settings: give it readonly=2 (still no writes)"
        )
    return SourceResponseError(f"{where}: error {code}: {detail}")


def _readonly(config: ClickHouseConfig) -> int:
    # The cluster() table function is refused under readonly=1; readonly=2 still forbids writes.
    return 2 if config.cluster else 1


class ClickHouseClient:
    """Sends queries of one source and maps every failure to a SourceError naming it."""

    def __init__(self, config: ClickHouseConfig) -> None:
        self.config = config
        self.binding: str | None = None if config.binding == "auto" else config.binding
        self.server_version: str | None = None
        self.transfer = Transfer()

    def _auth(self) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        config = self.config
        if config.auth == "basic":
            return {}, httpx.BasicAuth(config.user, config.password or "")
        headers = {"X-ClickHouse-User": config.user}
        if config.password:
            headers["X-ClickHouse-Key"] = config.password
        return headers, None

    def _settings(self) -> dict[str, str]:
        return {
            "readonly": str(_readonly(self.config)),
            "max_execution_time": str(self.config.max_execution_time),
            "wait_end_of_query": "1",
        }

    async def _send(
        self,
        client: httpx.AsyncClient,
        params: dict[str, str],
        *,
        content: bytes | None = None,
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> bytes:
        config = self.config
        headers, auth = self._auth()
        timeout = httpx.Timeout(config.timeout)
        try:
            request = client.build_request(
                "POST",
                config.url + "/",
                params=params,
                headers=headers,
                content=content,
                files=files,
                timeout=timeout,
            )
            request.read()
            response = await client.send(request, auth=auth)
        except httpx.TimeoutException as exc:
            raise SourceUnreachable(
                f"{config.name}: no answer from ClickHouse within {timeout.read:g}s"
            ) from exc
        except httpx.TransportError as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:120]
            raise SourceUnreachable(
                f"{config.name}: cannot reach ClickHouse at {urlsplit(config.url).netloc}"
                f" ({reason})"
            ) from exc
        self.transfer.queries += 1
        self.transfer.sent += len(str(request.url)) + len(request.content)
        self.transfer.received += len(response.content)
        if response.status_code != 200:
            error = _server_error(response, config)
            if error is not None:
                raise error
            raise_for_status(response, config.name)
            raise SourceResponseError(f"{config.name}: HTTP {response.status_code} from ClickHouse")
        return response.content

    async def resolve_binding(self, client: httpx.AsyncClient) -> str:
        """Query parameters when the server has them, else the external-table binding."""
        if self.binding is not None:
            return self.binding
        body = await self._send(
            client, self._settings(), content=b"SELECT version() AS version FORMAT JSONEachRow"
        )
        try:
            version = str(json.loads(body.splitlines()[0])["version"])
            numbers = tuple(int(part) for part in version.split(".")[:2])
        except (ValueError, KeyError, IndexError) as exc:
            raise SourceResponseError(
                f"{self.config.name}: unexpected answer to SELECT version()"
            ) from exc
        self.server_version = version
        self.binding = "parameters" if numbers >= FIRST_VERSION_WITH_PARAMETERS else "external"
        return self.binding

    async def rows(self, client: httpx.AsyncClient, query: Query) -> list[dict[str, Any]]:
        """Run `query` with its values bound server-side; the decoded JSONEachRow rows."""
        binding = await self.resolve_binding(client)
        settings = self._settings()
        if binding == "parameters":
            params = settings | {f"param_{k}": _escaped(v) for k, (_t, v) in query.params.items()}
            body = await self._send(client, params, content=query.sql.encode())
        else:
            structure = ", ".join(f"{name} {t}" for name, (t, _v) in query.params.items())
            row = json.dumps({name: v for name, (_t, v) in query.params.items()}).encode()
            params = settings | {
                "query": query.with_binding("external"),
                f"{PARAMS_TABLE}_structure": structure,
                f"{PARAMS_TABLE}_format": "JSONEachRow",
            }
            body = await self._send(client, params, files={PARAMS_TABLE: (PARAMS_TABLE, row)})
        try:
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        except ValueError as exc:
            raise SourceResponseError(
                f"{self.config.name}: ClickHouse answer is not JSONEachRow"
            ) from exc


def _escaped(value: str | int) -> str:
    """A parameter value in ClickHouse's Escaped text format (backslash, tab, newline)."""
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


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

    def __init__(self, config: ClickHouseConfig, campaign: Campaign) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout)
        self.config = config
        self.campaign = campaign
        self.client = ClickHouseClient(config)
        self._complete_until: datetime | None = None  # minutes before this are complete
        self._last_breakdown: datetime | None = None

    def window_start(self, now: datetime) -> datetime:
        """Start of everything this source reports: the post's minute, or a lookback."""
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
            + f", readonly={_readonly(config)},"
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
        rows = await self.client.rows(client, bucket_query(config, _epoch(since), end))
        frames = [bucket_frame(rows, config.name, config.link)]
        breakdown_due = self._breakdown_due(now)
        if breakdown_due:
            for dimension in self._dimensions():
                query = breakdown_query(config, dimension, _epoch(start), end)
                top = await self.client.rows(client, query)
                frames.append(breakdown_frame(top, dimension, config.name, config.link, start))
            self._last_breakdown = now
        self._complete_until = floor_minute(now)
        frame = pl.concat(frames, how="vertical")
        clicks = frame.filter(pl.col("metric") == CLICKS)["value"].sum()
        transfer = self.client.transfer
        summary = (
            f"{len(rows)} minute(s) since {since:%H:%M}, {clicks:g} clicks"
            + (", breakdowns" if breakdown_due else "")
            + f"; {transfer.queries} queries, {transfer.received / 1024:.1f} KiB received"
        )
        return PollResult(
            frame=frame,
            summary=summary,
            facts={"bytes_received": float(transfer.received)},
        )


def build(options: SourceOptions, campaign: Campaign) -> ClickHouseSource:
    """A ClickHouse source from one `[[sources]]` table (ConfigError naming the key if wrong)."""
    return ClickHouseSource(read_config(options, campaign), campaign)


def load_clickhouse_observations(
    table: Mapping[str, Any],
    start: datetime,
    end: datetime,
    *,
    campaign: Campaign | None = None,
    where: str = "clickhouse",
) -> pl.DataFrame:
    """Observations for a past post: the live queries run once over [start, end).

    `table` is a `[[sources]]` table of kind clickhouse; the frame can be replayed or reported
    like any observation file. Raises SourceError when the server fails.
    """
    base = campaign or Campaign(name="clickhouse")
    campaign_at_start = replace(base, post_time=start)
    source = build(SourceOptions(table, where), campaign_at_start)

    async def run() -> pl.DataFrame:
        async with httpx.AsyncClient() as client:
            result = await source.poll(client, end)
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

    The file (`.parquet`, or `.ndjson`/`.jsonl`) replays and reports like any other; returns
    the number of observation rows written.
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
    try:
        if out.suffix == ".parquet":
            frame.write_parquet(out)
        else:
            frame.write_ndjson(out)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return frame.height
