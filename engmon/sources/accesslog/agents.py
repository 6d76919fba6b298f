"""User agents: which hits are bots or static assets, and the device of a browser."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Final, TypeAlias

import polars as pl

from engmon.sources.accesslog.cache import read_cached, write_cached

STATIC_ASSET: Final = (
    r"(?i)(?:\.(?:css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|bmp|woff2?|ttf|otf|eot|"
    r"mp4|webm|mp3|ogg|wasm)$|^/(?:favicon\.ico|robots\.txt|sitemap[^/]*\.xml|"
    r"apple-touch-icon[^/]*|browserconfig\.xml|site\.webmanifest|manifest\.json|ads\.txt)$)"
)
"""Paths that are page furniture, not visits (ignored in the whole-site view)."""

BOT_AGENT: Final = (
    r"(?i)bot\b|bot/|crawl|spider|slurp|fetch|scrape|preview|monitor|headless|python-|"
    r"\bcurl/|wget|go-http-client|java/|okhttp|libwww|httpclient|zgrab|masscan|nmap|nikto|"
    r"facebookexternalhit|whatsapp|telegram|embedly|lighthouse|pingdom|uptime"
)
"""User agents counted as bots beyond what ua-parser calls a Spider."""

TABLET_FAMILIES: Final = ("ipad", "tablet", "kindle", "nexus 7", "nexus 9", "nexus 10", "xoom")
DESKTOP_OSES: Final = (
    "Windows",
    "Mac OS X",
    "Linux",
    "Ubuntu",
    "Fedora",
    "Debian",
    "Chrome OS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
)
MOBILE_OSES: Final = ("iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS")


AgentParts: TypeAlias = tuple[str, str | None, str | None]
"""(device, browser family, OS family) of one user agent."""

AGENT_CACHE_LIMIT: Final = 100_000
"""Agents kept in the cache; past it only the last log's agents are kept."""


# --- devices, on distinct user agents only ---------------------------------------------------


def device_of(user_agent: str) -> str:
    """desktop, mobile, tablet, bot or other for one user agent (ua-parser + a bot pattern)."""
    return agent_of(user_agent)[0]


def agent_of(user_agent: str) -> AgentParts:
    """(device, browser family, OS family) of one user agent, as ua-parser names them
    (`Mobile Safari`, `iOS`); browser and OS are None when ua-parser does not know them."""
    if not user_agent or user_agent == "-" or re.search(BOT_AGENT, user_agent):
        return "bot", None, None  # bots are left out by default: no need to parse them
    from ua_parser import parse

    result = parse(user_agent)
    browser = (result.user_agent.family if result.user_agent else None) or None
    os_family = (result.os.family if result.os else "") or ""
    named_os = None if os_family in ("", "Other") else os_family
    named_browser = None if browser in (None, "Other") else browser
    return _device(user_agent, result, os_family), named_browser, named_os


def _device(user_agent: str, result: object, os_family: str) -> str:
    found = getattr(result, "device", None)
    device = (found.family if found else "") or ""
    brand = (found.brand if found else "") or ""
    if device == "Spider":
        return "bot"
    lowered = f"{device} {brand}".lower()
    if any(name in lowered for name in TABLET_FAMILIES):
        return "tablet"
    if os_family == "Android" and "Mobile" not in user_agent:
        return "tablet"
    if os_family in MOBILE_OSES or (device and device != "Other"):
        return "mobile"
    if os_family in DESKTOP_OSES:
        return "desktop"
    return "other"


# --- what ua-parser said, kept between runs -------------------------------------------------


def _agent_cache_name() -> str:
    """One cache per ua-parser release, regex set and version of these rules."""
    from importlib.metadata import version

    rules = zlib.crc32(Path(__file__).read_bytes())
    return f"agents-{version('ua-parser')}-{version('ua-parser-builtins')}-{rules:08x}.parquet"


def cached_agents() -> dict[str, AgentParts]:
    """`agent_of` of the agents read by earlier runs (empty when there is no cache).

    Compiling ua-parser's regexes costs more than reading a whole log's agents: a log whose
    agents were all seen before never loads it.
    """
    table = read_cached(_agent_cache_name())
    if table is None or table.columns != ["agent", "device", "browser", "os"]:
        return {}
    return {agent: (device, browser, os) for agent, device, browser, os in table.iter_rows()}


def save_agents(known: Mapping[str, AgentParts], learned: Mapping[str, AgentParts]) -> None:
    """Add the agents `learned` this run to the cache of `known` ones (bounded)."""
    merged = {**known, **learned} if len(known) + len(learned) <= AGENT_CACHE_LIMIT else learned
    table = pl.DataFrame(
        {
            "agent": list(merged),
            "device": [parts[0] for parts in merged.values()],
            "browser": [parts[1] for parts in merged.values()],
            "os": [parts[2] for parts in merged.values()],
        },
        schema={
            "agent": pl.String(),
            "device": pl.String(),
            "browser": pl.String(),
            "os": pl.String(),
        },
    )
    write_cached(_agent_cache_name(), table)
