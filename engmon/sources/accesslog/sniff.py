"""Which access-log format a file is in, from its first lines (`format = "auto"`).

Servers are configured once and rarely say so in the log, so engmon looks: each preset has a
line shape, and the one most of the first non-blank lines match wins. A JSON line is told
apart by its keys (Caddy's `request`/`ts`, Traefik's `ClientHost`/`StartUTC`). Lines that
match nothing leave the choice to the user, with the presets named.
"""

from __future__ import annotations

import json
import re
from typing import Final

from engmon.sources.accesslog.tabular import TABULAR, is_tabular_log

AUTO: Final = "auto"
"""The `format` value that asks engmon to look."""

_TIME: Final = rb"\[[^\]]+\]"
_QUOTED: Final = rb'"(?:[^"\\]|\\.)*"'
# Most specific first: a vhost_combined line also starts like a combined one, a combined line
# like a common one.
_SHAPES: Final[tuple[tuple[str, re.Pattern[bytes]], ...]] = (
    (
        "vhost_combined",
        re.compile(
            rb"^\S+:\d+ \S+ \S+ \S+ "
            + _TIME
            + rb" "
            + _QUOTED
            + rb" \d{3} \S+ "
            + _QUOTED
            + rb" "
            + _QUOTED
            + rb"\s*$"
        ),
    ),
    (
        "combined",
        re.compile(
            rb"^\S+ \S+ \S+ "
            + _TIME
            + rb" "
            + _QUOTED
            + rb" \d{3} \S+ "
            + _QUOTED
            + rb" "
            + _QUOTED
            + rb"(?: .*)?$"
        ),
    ),
    ("common", re.compile(rb"^\S+ \S+ \S+ " + _TIME + rb" " + _QUOTED + rb" \d{3} \S+\s*$")),
)
_SAMPLE_LINES: Final = 50
_CLF_START: Final = re.compile(rb"^\S+ \S+ \S+ " + _TIME + rb' "')


def _json_format(line: bytes) -> str | None:
    try:
        item = json.loads(line)
    except ValueError:
        return None
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("request"), dict) and "ts" in item:
        return "caddy"
    if "ClientHost" in item and ("StartUTC" in item or "StartLocal" in item):
        return "traefik"
    return "json"


def sniff_format(head: bytes) -> str | None:
    """The preset most of the first lines of `head` match, or None when none fits."""
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")[:-1] if line.strip()]
    if not lines and head.strip():
        lines = [head.strip()]  # one line without its newline yet
    lines = lines[:_SAMPLE_LINES]
    if not lines:
        return None
    if is_tabular_log(head):
        return TABULAR
    if lines[0].lstrip().startswith(b"{"):
        found = _json_format(lines[0].strip())
        return None if found in (None, "json") else found
    votes: dict[str, int] = {}
    for line in lines:
        for name, shape in _SHAPES:
            if shape.match(line):
                votes[name] = votes.get(name, 0) + 1
                break
    if votes:
        # the most common shape; lines that fit none are counted as malformed when read
        return max(votes.items(), key=lambda item: item[1])[0]
    if any(_CLF_START.match(line) for line in lines):
        return "combined"  # client, identity, user, [time] "request": read, count what is off
    return None


def undetected(where: str, head: bytes) -> str:
    """The one line said when no preset fits: what the first line looks like, what to set."""
    first = next((line for line in head.split(b"\n") if line.strip()), b"")[:80]
    shown = first.decode("utf-8", "replace")
    if first.lstrip().startswith(b"{"):
        return (
            f"{where}: JSON log lines of an unknown shape (line 1: {shown!r}); set"
            ' format = "json" and json_fields, or format = "caddy" / "traefik"'
        )
    return (
        f"{where}: cannot tell the log format from its first lines (line 1: {shown!r}); set"
        " format (combined, common, vhost_combined, caddy, traefik) or an nginx log_format"
    )
