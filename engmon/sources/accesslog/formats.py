"""Access-log formats as vectorised split plans: presets, nginx `log_format` strings, JSON lines.

A text format is an nginx `log_format` string (Apache presets are written the same way). Lines
are split on `"` by polars' CSV reader, so the format's `"`-separated segments become columns;
a segment holding one variable is taken whole, any other segment is matched with a small regex
built from the template (run only on the rows that survive the link filter).

A JSON-lines format maps engmon's fields to JSON paths inside each line (Caddy, Traefik presets).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from engmon.errors import ConfigError

PRESETS: Final[dict[str, str]] = {
    "combined": (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
        ' "$http_referer" "$http_user_agent"'
    ),
    "common": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
    # Apache's `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`
    "vhost_combined": (
        "$server_name:$server_port $remote_addr $remote_ident $remote_user [$time_local]"
        ' "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
    ),
}
"""Named text formats, as nginx `log_format` strings."""

JSON_PRESETS: Final[dict[str, dict[str, str]]] = {
    # Caddy v2 `http.log.access` lines: {"ts": 1646861401.52, "request": {...}, "status": 200}
    "caddy": {
        "ip": "request.client_ip|request.remote_ip",
        "time": "ts",
        "method": "request.method",
        "target": "request.uri",
        "status": "status",
        "referrer": "request.headers.Referer[0]",
        "user_agent": "request.headers.User-Agent[0]",
    },
    # Traefik `accessLog.format = "json"` with request headers kept.
    "traefik": {
        "ip": "ClientHost",
        "time": "StartUTC",
        "method": "RequestMethod",
        "target": "RequestPath",
        "status": "DownstreamStatus",
        "referrer": "request_Referer",
        "user_agent": "request_User-Agent",
    },
}
"""Named JSON-lines formats: engmon field -> JSON path ("a.b[0]", alternatives split by |)."""

JSON_FIELDS: Final = ("ip", "time", "method", "target", "status", "referrer", "user_agent")
"""Fields a JSON mapping may name; `time` and `target` are required."""

FORMAT_NAMES: Final = (*PRESETS, "json", *JSON_PRESETS)
"""Values `log_format`/`format` accepts by name (anything with a `$` is a custom nginx format)."""

# nginx variable -> engmon field. Variables not listed are read and ignored.
VARIABLE_FIELDS: Final[dict[str, str]] = {
    "remote_addr": "ip",
    "binary_remote_addr": "ip",
    "http_x_forwarded_for": "forwarded_for",
    "time_local": "time_local",
    "time_iso8601": "time_iso",
    "msec": "time_epoch",
    "request": "request",
    "request_method": "method",
    "request_uri": "target",
    "uri": "target",
    "status": "status",
    "http_referer": "referrer",
    "http_user_agent": "user_agent",
    "host": "host",
    "server_name": "host",
}

# Per-variable value patterns where `[^<next literal char>]*` would be wrong or slow.
_VALUE_PATTERNS: Final[dict[str, str]] = {
    "status": r"\d{3}",
    "msec": r"\d+(?:\.\d+)?",
}

_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


@dataclass(frozen=True)
class Segment:
    """One `"`-separated segment of the template: a whole variable, a regex, or a literal."""

    index: int
    variable: str | None = None  # the segment is exactly this one variable
    pattern: str | None = None  # otherwise a regex with named groups, one per variable
    literal: str | None = None  # a segment without variables (checked only when it is empty)


@dataclass(frozen=True)
class SplitPlan:
    """How to read one text format: `columns` after splitting on `"`, and each segment's rule."""

    source: str
    columns: int
    segments: tuple[Segment, ...]
    fields: frozenset[str]

    def segment_of(self, engmon_field: str) -> Segment | None:
        """The segment holding `engmon_field`, or None."""
        for segment in self.segments:
            names = [segment.variable] if segment.variable else _group_names(segment.pattern)
            if any(VARIABLE_FIELDS.get(name) == engmon_field for name in names):
                return segment
        return None


@dataclass(frozen=True)
class JsonPlan:
    """How to read JSON lines: engmon field -> list of JSONPath expressions to try in order."""

    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _group_names(pattern: str | None) -> list[str]:
    return re.findall(r"\(\?P<(\w+)>", pattern or "")


def _segment_pattern(template: str, where: str) -> str:
    """A regex matching one unquoted (or mixed) segment, a named group per variable."""
    parts: list[str] = ["^"]
    pos = 0
    seen: set[str] = set()
    matches = list(_VARIABLE.finditer(template))
    for number, match in enumerate(matches):
        parts.append(re.escape(template[pos : match.start()]))
        name = match.group(1) or match.group(2)
        following = (
            template[match.end() : matches[number + 1].start()]
            if (number + 1 < len(matches))
            else template[match.end() :]
        )
        if name in _VALUE_PATTERNS:
            value = _VALUE_PATTERNS[name]
        elif following:
            value = f"[^{re.escape(following[0])}]*"
        else:
            value = ".*"
        if name in seen:
            parts.append(f"(?:{value})")
        else:
            seen.add(name)
            parts.append(f"(?P<{name}>{value})")
        pos = match.end()
    parts.append(re.escape(template[pos:]))
    parts.append("$")
    pattern = "".join(parts)
    try:
        re.compile(pattern)
    except re.error as exc:  # pragma: no cover - escaped literals always compile
        raise ConfigError(f"{where}: cannot use log format segment {template!r}: {exc}") from exc
    return pattern


def compile_format(log_format: str, where: str = "log_format") -> SplitPlan:
    """Turn a preset name or an nginx `log_format` string into a split plan.

    Raises ConfigError (naming `where`) for an unknown name or a format engmon cannot use:
    one without a time variable or without the request/URI.
    """
    text = PRESETS.get(log_format, log_format)
    if "$" not in text:
        known = ", ".join(FORMAT_NAMES)
        raise ConfigError(
            f"{where}: unknown log format {log_format!r}; use one of {known}"
            " or an nginx log_format string such as '$remote_addr [$time_local] \"$request\"'"
        )
    segments: list[Segment] = []
    names: set[str] = set()
    for index, template in enumerate(text.split('"')):
        found = [m.group(1) or m.group(2) for m in _VARIABLE.finditer(template)]
        names.update(found)
        if not found:
            segments.append(Segment(index, literal=template))
        elif len(found) == 1 and _VARIABLE.fullmatch(template):
            segments.append(Segment(index, variable=found[0]))
        else:
            segments.append(Segment(index, pattern=_segment_pattern(template, where)))
    fields = frozenset(VARIABLE_FIELDS[name] for name in names if name in VARIABLE_FIELDS)
    if not fields & {"time_local", "time_iso", "time_epoch"}:
        raise ConfigError(
            f"{where}: log format {log_format!r} has no time variable"
            " ($time_local, $time_iso8601 or $msec); engmon needs one to place hits in time"
        )
    if not fields & {"request", "target"}:
        raise ConfigError(
            f"{where}: log format {log_format!r} has neither $request nor $request_uri;"
            " engmon needs the requested path"
        )
    return SplitPlan(text, len(segments), tuple(segments), fields)


def _json_path(dotted: str) -> str:
    """`request.headers.User-Agent[0]` -> `$['request']['headers']['User-Agent'][0]`."""
    out = ["$"]
    for part in dotted.split("."):
        match = re.fullmatch(r"(.+?)((?:\[\d+\])*)", part)
        if match is None:
            raise ValueError(part)
        out.append(f"['{match.group(1)}']{match.group(2)}")
    return "".join(out)


def compile_json(
    preset: str = "json", mapping: Mapping[str, str] | None = None, where: str = "json_fields"
) -> JsonPlan:
    """A JSON plan from a preset (caddy, traefik; `json` = caddy) overridden by `mapping`."""
    base = dict(JSON_PRESETS.get(preset, JSON_PRESETS["caddy"]))
    for key, value in (mapping or {}).items():
        if key not in JSON_FIELDS:
            raise ConfigError(
                f"{where}: unknown field {key!r}; fields are {', '.join(JSON_FIELDS)}"
            )
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: field {key!r} must be a JSON path such as 'request.uri'")
        base[key] = value
    paths: dict[str, tuple[str, ...]] = {}
    for key, value in base.items():
        try:
            paths[key] = tuple(_json_path(alt.strip()) for alt in value.split("|"))
        except ValueError as exc:
            raise ConfigError(f"{where}: field {key!r}: cannot read JSON path {value!r}") from exc
    return JsonPlan(paths)


def is_json_format(log_format: str) -> bool:
    """Whether `log_format` names a JSON-lines format."""
    return log_format == "json" or log_format in JSON_PRESETS
