"""Access logs as tables: CSV/TSV exports and W3C extended logs (CloudFront, IIS).

Published data sets and log exports often carry the request fields as named columns (`ip`,
`time`, `method`, `url`, `status`, ...) rather than as server log lines. Read as observation
tables, every row would count as a click; read here, they go through the same rules as a
server log: the link, GET only, 2xx/3xx, no static assets, no bots, visitors per day.

A W3C extended log names its columns in a `#Fields:` directive (space- or tab-separated, with
`date` and `time` in separate columns, as CloudFront and IIS write them).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Final

import polars as pl

from engmon.errors import FileFormatError, InputError

TABULAR: Final = "tabular"
"""The `format` name of a log read as a table."""

# normalised column name (lowercase letters and digits only) -> engmon field
_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "ip": (
        "ip",
        "host",
        "client",
        "clientip",
        "cip",
        "remoteaddr",
        "remotehost",
        "remoteip",
        "clienthost",
        "address",
        "ipaddress",
        "sourceip",
    ),
    "time": (
        "time",
        "timestamp",
        "datetime",
        "ts",
        "timelocal",
        "requesttime",
        "eventtime",
        "logtime",
        "timeiso8601",
    ),
    "method": ("method", "csmethod", "requestmethod", "verb", "httpmethod"),
    "target": (
        "url",
        "uri",
        "path",
        "target",
        "requesturi",
        "csuristem",
        "requestpath",
        "endpoint",
        "page",
        "resource",
        "urlpath",
    ),
    "query": ("query", "csuriquery", "querystring", "args"),
    "request": ("request", "requestline"),
    "status": (
        "status",
        "statuscode",
        "scstatus",
        "code",
        "responsecode",
        "httpstatus",
        "response",
        "staus",
    ),
    "referrer": ("referrer", "referer", "csreferer", "csreferrer", "httpreferer", "httpreferrer"),
    "user_agent": (
        "useragent",
        "agent",
        "ua",
        "csuseragent",
        "httpuseragent",
        "browser",
        "clientua",
    ),
}
_BY_ALIAS: Final = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
_W3C_FIELDS: Final = re.compile(rb"^#Fields:\s*(.+)$", re.M)
_TIME_FORMATS: Final = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%d/%b/%Y:%H:%M:%S %z",
)
_NAIVE_TIME_FORMATS: Final = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%d/%b/%Y:%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
)


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def field_columns(header: list[str]) -> dict[str, str]:
    """engmon field -> column of `header`, for the columns whose names say what they hold."""
    found: dict[str, str] = {}
    for column in header:
        field = _BY_ALIAS.get(_normalise(column))
        if field is not None and field not in found:
            found[field] = column
    if "time" not in found and "date" in {_normalise(c) for c in header}:
        found["time"] = next(c for c in header if _normalise(c) == "date")
    return found


def _separator(line: str) -> str | None:
    counts = {sep: line.count(sep) for sep in ("\t", ",", ";")}
    sep, count = max(counts.items(), key=lambda item: item[1])
    return sep if count else None


def _w3c_header(head: bytes) -> list[str] | None:
    match = _W3C_FIELDS.search(head)
    if match is None:
        return None
    return match.group(1).decode("utf-8", "replace").split()


def is_tabular_log(head: bytes) -> bool:
    """Whether `head` starts a table of requests: a W3C `#Fields:` log, or a CSV/TSV header
    naming a time and a URL (or request) column and no observation `metric`/`value` column."""
    if _w3c_header(head) is not None:
        return True
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lstrip("\ufeff")
    sep = _separator(first)
    if sep is None:
        return False
    header = [column.strip().strip('"') for column in first.split(sep)]
    names = {_normalise(column) for column in header}
    if {"metric", "value"} <= names:
        return False  # engmon's own observation schema
    fields = field_columns(header)
    return "time" in fields and ("target" in fields or "request" in fields)


def _times(raw: pl.Expr) -> pl.Expr:
    """Request times in the shapes exports use: ISO 8601, CLF `[10/Oct/2000:13:55:36 -0700]`,
    epoch seconds or milliseconds; naive times are UTC."""
    text = raw.str.strip_chars(" []").str.replace(r"Z$", "+00:00")
    number = text.cast(pl.Float64, strict=False)
    epoch = (
        pl.when(number > 1e11).then(number * 1_000).otherwise(number * 1_000_000).cast(pl.Int64)
    ).cast(pl.Datetime("us", "UTC"))
    aware = [text.str.to_datetime(f, time_zone="UTC", strict=False) for f in _TIME_FORMATS]
    naive = [
        text.str.to_datetime(f, strict=False).dt.replace_time_zone("UTC")
        for f in _NAIVE_TIME_FORMATS
    ]
    parsed = pl.coalesce(
        [pl.when(number.is_not_null()).then(epoch), *(e.dt.cast_time_unit("us") for e in aware)]
        + [e.dt.cast_time_unit("us") for e in naive]
    )
    return parsed


def read_table(path: Path, data: bytes) -> pl.DataFrame:
    """The requests of a tabular log as raw hit columns (`line`, `_time` parsed, fields)."""
    header = _w3c_header(data[:65536])
    if header is not None:
        body = b"\n".join(
            line for line in data.split(b"\n") if line.strip() and not line.startswith(b"#")
        )
        sep = "\t" if b"\t" in body[:65536] else " "
        frame = pl.read_csv(
            io.BytesIO(body),
            separator=sep,
            has_header=False,
            new_columns=header,
            infer_schema=False,
            quote_char='"' if sep == "\t" else None,
            truncate_ragged_lines=True,
            encoding="utf8-lossy",
            row_index_name="line",
            row_index_offset=1,
        )
        fields = field_columns(header)
    else:
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
        sep = _separator(first) or ","
        try:
            frame = pl.read_csv(
                io.BytesIO(data),
                separator=sep,
                infer_schema=False,
                truncate_ragged_lines=True,
                encoding="utf8-lossy",
                row_index_name="line",
                row_index_offset=2,  # line 1 is the header
            )
        except pl.exceptions.PolarsError as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FileFormatError(f"{path}: not a readable table ({message})") from None
        frame = frame.rename({c: c.strip().strip('"').lstrip("\ufeff") for c in frame.columns})
        fields = field_columns([c for c in frame.columns if c != "line"])
    dates = [c for c in frame.columns if _normalise(c) == "date"]
    if (
        dates
        and fields.get("time") not in (None, dates[0])
        and _normalise(fields["time"]) == "time"
    ):
        # W3C logs (and some exports) keep the day and the time of day apart
        when = pl.concat_str([pl.col(dates[0]), pl.lit("T"), pl.col(fields["time"])])
        frame = frame.with_columns(when.alias("_when"))
        fields["time"] = "_when"
    if "time" not in fields or not ("target" in fields or "request" in fields):
        raise InputError(f"{path}: a table without a time and a URL column is not an access log")

    def column(name: str) -> pl.Expr:
        return pl.col(fields[name]) if name in fields else pl.lit(None, pl.String)

    raw = pl.col(fields["target"] if "target" in fields else fields["request"]).str.strip_chars()
    # a column of request lines ("GET /x HTTP/1.1"), whatever its name, gives method and target
    is_request = raw.str.contains(r"^[A-Z]{3,7} \S")
    parts = raw.str.split_exact(" ", 2)
    target = pl.when(is_request).then(parts.struct.field("field_1")).otherwise(raw)
    method = pl.coalesce(column("method"), pl.when(is_request).then(parts.struct.field("field_0")))
    # a full URL counts by its path; a separate query column is joined back on
    target = target.str.replace(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*", "")
    if "query" in fields:
        query = pl.col(fields["query"])
        target = (
            pl.when(query.is_null() | query.is_in(["", "-"]))
            .then(target)
            .otherwise(pl.concat_str([target, pl.lit("?"), query]))
        )
    # W3C logs write spaces in the user agent as `+` (IIS) or %20 (CloudFront)
    agent = column("user_agent")
    if header is not None:
        agent = agent.str.replace_all("+", " ", literal=True).str.replace_all(
            "%20", " ", literal=True
        )
    return frame.select(
        pl.col("line").cast(pl.Int64),
        _time=column("time"),
        ip=column("ip"),
        user_agent=agent,
        referrer=column("referrer"),
        target=target,
        status=column("status").fill_null("200") if "status" in fields else pl.lit("200"),
        method=method,
    )


def time_expr(raw: pl.Expr) -> pl.Expr:
    """Parsed request times of a tabular log (see `_times`)."""
    return _times(raw)
