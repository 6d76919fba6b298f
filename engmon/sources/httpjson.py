"""Any JSON endpoint, read through a mapping from its fields to observations.

The mapping says where the array is (`items`, a dotted path; empty for a top-level array),
which field holds the time, the value and each dimension (dotted paths inside an item), and
what the values are (`shape`):

- `events`: one row per occurrence; `id` names the field that identifies it (re-polled items
  count once; without `id`, an item's whole content is its identity);
- `buckets`: a count for `[time, time + width_s)`; re-polls replace;
- `totals`: a running counter (the time field is optional: the poll time is used).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx
import polars as pl

from engmon.core.bounds import MAX_REACH, count_problem, time_problem
from engmon.core.campaign import Campaign
from engmon.core.schema import DIMENSIONS, UTC_US, conform
from engmon.errors import ConfigError
from engmon.sources.base import PollResult, Source
from engmon.sources.http import fetch_json, pace, shape_error
from engmon.sources.options import (
    CommonOptions,
    SourceKind,
    interval_option,
    option,
    secret,
)
from engmon.sources.series import describe_frame, parse_time

KIND: Final = "http-json"
SUMMARY: Final = (
    "any JSON endpoint: a mapping names the array, the time/value/dimension fields and"
    " whether values are events, buckets or running totals"
)
DEFAULT_INTERVAL: Final = 30.0
SHAPES: Final = {"events": "event", "buckets": "bucket", "totals": "total"}


def dig(item: Any, dotted: str) -> Any:
    """The value at a dotted path (`data.rows`, `stats.0.count`), None when absent."""
    current = item
    for part in dotted.split(".") if dotted else []:
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


class HttpJsonSource(Source):
    """Polls one JSON endpoint and maps its items to observation rows."""

    kind = KIND

    def __init__(
        self,
        name: str,
        *,
        url: str,
        shape: str,
        method: str = "GET",
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        items: str = "",
        time_field: str | None = None,
        time_unit: str | None = None,
        value_field: str | None = None,
        metric: str = "clicks",
        metric_field: str | None = None,
        width_s: int = 60,
        id_field: str | None = None,
        reach_field: str | None = None,
        dimensions: dict[str, str] | None = None,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name, interval=interval, timeout=timeout)
        self.url = url
        self.method = method
        self.params = params or {}
        self.body = body
        self._headers = headers or {}
        self.items = items
        self.shape = shape
        self.time_field = time_field
        self.time_unit = time_unit
        self.value_field = value_field
        self.metric = metric
        self.metric_field = metric_field
        self.width_s = width_s
        self.id_field = id_field
        self.reach_field = reach_field
        self.dimensions = dimensions or {}

    def describe(self) -> str:
        parsed = httpx.URL(self.url)
        port = f":{parsed.port}" if parsed.port else ""  # never the userinfo or query
        return (
            f"http-json {self.name}: {self.method} {parsed.host}{port}{parsed.path} ({self.shape})"
        )

    def _time(self, raw: Any) -> datetime:
        if self.time_unit == "ms" and isinstance(raw, int | float):
            return parse_time(float(raw) / 1000 if raw < 100_000_000_000 else raw)
        if self.time_unit == "s" and isinstance(raw, int | float):
            return parse_time(float(raw))
        if (
            self.time_unit in ("s", "ms")
            and isinstance(raw, str)
            and raw.replace(".", "").isdigit()
        ):
            return self._time(float(raw))
        return parse_time(raw)

    def rows(self, answer: Any, now: datetime) -> pl.DataFrame:
        """Map a decoded answer to observation rows (shape errors name the field)."""
        found = dig(answer, self.items)
        if not isinstance(found, list):
            where = f"'{self.items}'" if self.items else "the top level"
            raise shape_error(self.name, f"no array at {where}")
        columns: dict[str, list[Any]] = {"ts": [], "value": [], "metric": [], "id": []}
        columns |= {dim: [] for dim in self.dimensions}
        columns["reach"] = []
        for index, item in enumerate(found):
            if self.time_field:
                raw_time = dig(item, self.time_field)
                try:
                    stamp = self._time(raw_time)
                except (TypeError, ValueError, OverflowError, OSError):
                    raise shape_error(
                        self.name, f"item {index}: {self.time_field!r} is not a time ({raw_time!r})"
                    ) from None
            else:
                stamp = now
            if problem := time_problem(stamp):
                raise shape_error(self.name, f"item {index}: {self.time_field!r}: {problem}")
            if self.value_field:
                value = dig(item, self.value_field)
                if isinstance(value, str):
                    try:
                        value = float(value)
                    except ValueError:
                        value = None
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise shape_error(
                        self.name, f"item {index}: {self.value_field!r} is not a number"
                    )
                # NaN, Infinity, "nan" or -5 would show as "clicks nan" and record otherwise
                if problem := count_problem(float(value)):
                    raise shape_error(self.name, f"item {index}: {self.value_field!r}: {problem}")
            else:
                value = 1.0
            metric = self.metric
            if self.metric_field:
                named = dig(item, self.metric_field)
                metric = str(named) if named is not None else self.metric
            ident: str | None = None
            if self.shape == "events":
                raw_id = dig(item, self.id_field) if self.id_field else None
                if raw_id is None:
                    text = json.dumps(item, sort_keys=True, default=str)
                    raw_id = hashlib.sha256(text.encode()).hexdigest()[:24]
                ident = str(raw_id)
            columns["ts"].append(stamp)
            columns["value"].append(float(value))
            columns["metric"].append(metric)
            columns["id"].append(ident)
            for dim, path in self.dimensions.items():
                got = dig(item, path)
                columns[dim].append(None if got is None else str(got))
            reach = dig(item, self.reach_field) if self.reach_field else None
            if isinstance(reach, int) and not isinstance(reach, bool):
                if not 0 <= reach <= MAX_REACH:
                    raise shape_error(
                        self.name, f"item {index}: {self.reach_field!r}: {reach} followers"
                    )
            else:
                reach = None
            columns["reach"].append(reach)
        frame = pl.DataFrame(
            columns,
            schema={
                "ts": UTC_US,
                "value": pl.Float64,
                "metric": pl.String,
                "id": pl.String,
                **{dim: pl.String for dim in self.dimensions},
                "reach": pl.Int64,
            },
        ).with_columns(
            source=pl.lit(self.name),
            kind=pl.lit(SHAPES[self.shape]),
            width_s=pl.lit(self.width_s if self.shape == "buckets" else 0),
        )
        return conform(frame).collect()

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """Fetch the endpoint once and map it."""
        answer = await fetch_json(
            client,
            self.method,
            self.url,
            source=self.name,
            timeout=self.timeout,
            params=self.params,
            headers=self._headers,
            json_body=self.body if self.method == "POST" else None,
        )
        frame = self.rows(answer.body, now)
        wait = pace(answer.headers)
        retry_in = None if wait is None else max(self.interval, wait)
        return PollResult(frame=frame, summary=describe_frame(frame), retry_in=retry_in)


@dataclass(frozen=True, kw_only=True)
class HttpJsonOptions(CommonOptions):
    """The `[[sources]]` keys of kind `http-json`."""

    interval: float = interval_option(DEFAULT_INTERVAL)
    url: str = option(help="endpoint URL (http or https)")
    method: str = option("GET", "GET or POST", choices=("GET", "POST"))
    params: dict[str, Any] = option({}, "table of query parameters (strings or numbers)")
    body: dict[str, Any] = option({}, "table sent as the JSON body of a POST")
    token_env: str | None = option(None, "environment variable holding a token (optional)")
    token_param: str | None = option(None, "send the token as this query parameter, not a header")
    auth_header: str = option("Authorization", "header carrying the token")
    auth_scheme: str = option("Bearer", 'prefix before the token ("" sends the token alone)')
    items: str = option("", 'dotted path to the array of items ("": the answer is the array)')
    shape: str = option(help="events, buckets or totals", choices=tuple(SHAPES))
    time: str | None = option(None, "field holding each item's time (required except for totals)")
    time_unit: str | None = option(
        None,
        "iso, s or ms (default: ISO text or epoch seconds, by value)",
        choices=("iso", "s", "ms"),
    )
    value: str | None = option(None, "field holding the count (default 1 per item for events)")
    metric: str = option("clicks", "metric of every row")
    metric_field: str | None = option(None, "field naming each item's metric (overrides metric)")
    width_s: int = option(60, "bucket width in seconds (buckets)", minimum=1, maximum=86_400 * 31)
    id: str | None = option(None, "field identifying an event (events)")
    reach: str | None = option(None, "field holding the actor's followers (optional)")
    dimensions: dict[str, Any] = option(
        {}, "table dimension -> field: referrer, country, device, post, path"
    )


def make_http_json(options: HttpJsonOptions, campaign: Campaign, where: str) -> HttpJsonSource:
    """An HttpJsonSource from its checked options."""
    if not options.url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: key 'url' must start with http:// or https://")
    params = dict(options.params)
    if not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in params.values()
    ):
        raise ConfigError(f"{where}: key 'params' values must be strings or numbers")
    shape = options.shape
    if options.time is None and shape != "totals":
        raise ConfigError(f"{where}: key 'time' is required for shape = {shape!r}")
    if options.value is None and shape != "events":
        raise ConfigError(f"{where}: key 'value' is required for shape = {shape!r}")
    for dim, path in options.dimensions.items():
        if dim not in DIMENSIONS:
            raise ConfigError(
                f"{where}: key 'dimensions.{dim}' is not a dimension; use {', '.join(DIMENSIONS)}"
            )
        if not isinstance(path, str):
            raise ConfigError(f"{where}: key 'dimensions.{dim}' must be a field name")
    headers: dict[str, str] = {"Accept": "application/json"}
    token = secret(where, "token_env", options.token_env) if options.token_env else None
    if token and options.token_param:
        params[options.token_param] = token  # error messages and describe() never show the query
    elif token:
        headers[options.auth_header] = f"{options.auth_scheme} {token}".strip()
    return HttpJsonSource(
        options.label(),
        url=options.url,
        shape=shape,
        method=options.method,
        params={k: str(v) for k, v in params.items()},
        body=options.body or None,
        headers=headers,
        items=options.items,
        time_field=options.time,
        time_unit=options.time_unit,
        value_field=options.value,
        metric=options.metric,
        metric_field=options.metric_field,
        width_s=options.width_s,
        id_field=options.id,
        reach_field=options.reach,
        dimensions={k: str(v) for k, v in options.dimensions.items()},
        interval=options.interval,
        timeout=options.timeout,
    )


SOURCE: Final = SourceKind(KIND, SUMMARY, HttpJsonOptions, make_http_json)
