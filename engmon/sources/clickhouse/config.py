"""ClickHouse source settings (checked identifiers, presets) and the SQL it sends; values are
never formatted into SQL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from engmon.core.campaign import Campaign
from engmon.errors import (
    ConfigError,
)
from engmon.sources.options import CommonOptions, link_path, option, secret

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # used with fullmatch: no trailing newline
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
    # nginx access log table (see docs/clickhouse.md for the DDL this expects).
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
    if not IDENTIFIER.fullmatch(name):
        raise ConfigError(
            f"{where}: key {key!r} must be a plain identifier (letters, digits, _), not {name!r}"
        )
    return f"`{name}`"


@dataclass(frozen=True, kw_only=True)
class ClickHouseOptions(CommonOptions):
    """The `[[sources]]` keys of kind `clickhouse`."""

    url: str = option(help="HTTP(S) URL of any ClickHouse node, e.g. http://127.0.0.1:8123")
    preset: str = option(
        "none",
        "column layout: plausible (events_v2), nginx, or none (map every column)",
        choices=tuple(PRESETS),
    )
    database: str | None = option(
        None, "database holding the table (plausible: plausible_events_db, else default)"
    )
    table: str | None = option(
        None, "table to read: a MergeTree table or a Distributed table over the cluster"
    )
    cluster: str | None = option(
        None, "read `table` on every shard through cluster('<name>', db, table) (readonly=2)"
    )
    link: str | None = option(
        None, "value of the link column to count (default: the path of the campaign link)"
    )
    time_column: str | None = option(None, "DateTime column of each event")
    link_column: str | None = option(None, "column compared with `link` (path of the page/request)")
    referrer_column: str | None = option(None, "column for the referrer breakdown ('' to skip)")
    country_column: str | None = option(None, "column for the country breakdown ('' to skip)")
    device_column: str | None = option(None, "column for the device breakdown ('' to skip)")
    visitor_column: str | None = option(
        None, "column whose distinct values are visitors (uniqExact; '' to skip)"
    )
    match: dict[str, Any] = option(
        {}, "table of extra column = value filters, e.g. { site_id = 1, name = 'pageview' }"
    )
    user: str = option("default", "ClickHouse user")
    password_env: str | None = option(None, "name of the environment variable holding the password")
    auth: str = option(
        "headers",
        "how credentials travel: headers (X-ClickHouse-User/Key) or basic",
        choices=("headers", "basic"),
    )
    binding: str = option(
        "auto",
        "how values are bound: auto, parameters ({name:Type}) or external",
        choices=("auto", "parameters", "external"),
    )
    overlap_minutes: int = option(
        2, "complete minutes re-queried each poll to catch late events", minimum=0, maximum=1440
    )
    breakdown_interval: float = option(
        60.0, "seconds between top-N breakdown queries", minimum=0.0, maximum=86_400
    )
    top: int = option(10, "rows per breakdown", minimum=1, maximum=10_000)
    lookback_minutes: int = option(
        60, "window start when the campaign has no post time", minimum=1, maximum=525_600
    )
    max_execution_time: int | None = option(
        None, "server-side limit per query in seconds (default: timeout - 1)", minimum=1
    )


def _column(given: str | None, default: str | None) -> str | None:
    value = default if given is None else given
    return value or None


def read_config(options: ClickHouseOptions, campaign: Campaign, where: str) -> ClickHouseConfig:
    """Check the options of one `[[sources]]` table of kind clickhouse into a ClickHouseConfig."""
    url = options.url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: key 'url' must be an http:// or https:// URL, not {url!r}")
    if parts.username or parts.password or parts.query:
        raise ConfigError(
            f"{where}: key 'url' must not carry credentials or a query; use user/password_env"
        )
    preset = PRESETS[options.preset]
    database = options.database or preset.database
    table = options.table or preset.table
    if table is None:
        raise ConfigError(f"{where}: key 'table' is required (a string)")
    time_column = options.time_column or preset.columns.time
    link_column = options.link_column or preset.columns.link
    if not time_column:
        raise ConfigError(f"{where}: key 'time_column' is required (a string)")
    if not link_column:
        raise ConfigError(f"{where}: key 'link_column' is required (a string)")
    columns = Columns(
        time=time_column,
        link=link_column,
        referrer=_column(options.referrer_column, preset.columns.referrer),
        country=_column(options.country_column, preset.columns.country),
        device=_column(options.device_column, preset.columns.device),
        visitor=_column(options.visitor_column, preset.columns.visitor),
    )
    checks = {"database": database, "table": table, "cluster": options.cluster}
    checks |= {f"{k}_column": v for k, v in vars(columns).items()}
    for key, value in checks.items():
        if value is not None:
            quote_identifier(value, where, key)
    match: dict[str, str | int] = dict(preset.match)
    for column, value in options.match.items():
        quote_identifier(column, where, f"match.{column}")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(f"{where}: key 'match.{column}' must be a string or whole number")
        match[column] = value
    timeout = options.timeout
    return ClickHouseConfig(
        name=options.label(),
        url=url.rstrip("/") or url,
        database=database,
        table=table,
        columns=columns,
        link=link_path(where, "link", options.link, campaign.link),
        cluster=options.cluster,
        match=match,
        user=options.user,
        password=secret(where, "password_env", options.password_env)
        if options.password_env
        else None,
        password_env=options.password_env,
        auth=options.auth,
        binding=options.binding,
        overlap_minutes=options.overlap_minutes,
        breakdown_interval=options.breakdown_interval,
        top=options.top,
        lookback_minutes=options.lookback_minutes,
        timeout=timeout,
        max_execution_time=options.max_execution_time or max(1, int(timeout) - 1),
        interval=options.interval,
    )


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


def bucket_query(config: ClickHouseConfig, start: int, end: int, origin: int = 0) -> Query:
    """Per-minute clicks (and visitors) for the link in [start, end) epoch seconds.

    Minutes are whole clock minutes, or start `origin % 60` seconds into one (an export whose
    window starts off a whole minute counts its minutes from that start).
    """
    where, params = _where(config)
    # the one other literal in the SQL: an int 0-59 computed here, never text from the config
    shift = int(origin) % 60
    time = f"`{config.columns.time}`"
    minute = (
        f"toUInt32(toStartOfMinute({time}))"
        if shift == 0
        else f"toUInt32(toStartOfMinute({time} - {shift})) + {shift}"
    )
    select = [f"{minute} AS minute"]
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
