"""The campaign TOML file -> validated, typed models (`load_campaign`).

    [campaign]   name, link, posted_at ("now" or ISO 8601), followers, record, tz
    [[sources]]  kind, name, interval, timeout + the kind's own keys (`engmon sources`)
    [alerts]     spike_per_min, flat_minutes, command, cooldown_s, webhooks (kind, url_env)
    [export]     dir

Every mistake is one `ConfigError` line naming the file and the key (TOML syntax errors: file,
line and column). Secrets are named by environment variable (`token_env = "UMAMI_TOKEN"`) and
read when the sources are built; their values never appear in a message.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engmon.core.alerts import DEFAULT_COOLDOWN_S, WEBHOOK_KINDS, AlertRules, WebhookTarget
from engmon.core.bounds import MAX_REACH, NotATime, parse_iso, time_problem
from engmon.core.campaign import Campaign
from engmon.core.readable import check_regular_file
from engmon.core.zone import check_zone
from engmon.errors import ConfigError
from engmon.sources.base import Source
from engmon.sources.options import SourceOptions
from engmon.sources.registry import load_kind

TABLES = ("campaign", "sources", "alerts", "export")
MAX_CONFIG_BYTES = 1024 * 1024
CAMPAIGN_KEYS = ("name", "link", "posted_at", "followers", "record", "tz")
ALERT_KEYS = ("spike_per_min", "flat_minutes", "command", "cooldown_s", "webhooks")
WEBHOOK_KEYS = ("kind", "url_env")
EXPORT_KEYS = ("dir",)


@dataclass(frozen=True)
class ExportConfig:
    """Where exports (CSV/Parquet/SVG) go; None: the current directory."""

    dir: Path | None = None


@dataclass(frozen=True)
class CampaignConfig:
    """A loaded campaign file: what is watched, by which sources, with which alerts.

    `posted_now` is True when `posted_at = "now"` (a restarted watch then keeps the post time
    of its recording). `record` is the recording path from the file (None: the default).
    """

    path: Path
    campaign: Campaign
    sources: list[Source]
    posted_now: bool = False
    record: Path | None = None
    alerts: AlertRules = field(default_factory=AlertRules)
    export: ExportConfig = field(default_factory=ExportConfig)


class _Table:
    """Typed reads from one plain table (`[campaign]`, `[alerts]`, `[export]`)."""

    def __init__(self, path: Path, name: str, value: object, allowed: tuple[str, ...]) -> None:
        self.where = f"{path}: [{name}]"
        if not isinstance(value, dict):
            raise ConfigError(f"{self.where} must be a table")
        self.data: dict[str, Any] = value
        for key in value:
            if key not in allowed:
                raise ConfigError(
                    f"{self.where}: unknown key {key!r}; known keys: {', '.join(allowed)}"
                )

    def get(self, key: str, types: tuple[type, ...], type_name: str) -> Any:
        value = self.data.get(key)
        if value is None:
            return None
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ConfigError(f"{self.where}: key {key!r} must be {type_name}, not {value!r}")
        return value


def _read_toml(path: Path) -> dict[str, Any]:
    check_regular_file(path, "a campaign file", ConfigError)  # a FIFO would block forever
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a campaign")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such campaign file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: byte {exc.start + 1}: not UTF-8 text") from exc
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message) or "invalid TOML"
        if where:
            raise ConfigError(f"{path}: line {where[1]}, column {where[2]}: {reason}") from None
        raise ConfigError(f"{path}: {reason}") from None


def parse_posted_at(text: str, where: str) -> datetime:
    """ISO 8601 (naive means UTC) or "now" -> an aware UTC datetime."""
    if text.strip().lower() == "now":
        # whole seconds: logs and APIs stamp seconds, so a hit in the starting second is not
        # "before the post"
        return datetime.now(UTC).replace(microsecond=0)
    try:
        return parse_iso(text)
    except NotATime:
        raise ConfigError(
            f"{where}: key 'posted_at' must be ISO 8601 (2026-11-25T14:00:00Z) or \"now\","
            f" not {text!r}"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{where}: key 'posted_at': {exc}") from None


def _in_range(moment: datetime, where: str) -> datetime:
    """`moment` as aware UTC; ConfigError when it is outside the times engmon accepts."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if problem := time_problem(moment):
        raise ConfigError(f"{where}: key 'posted_at': {problem}")
    return moment.astimezone(UTC)


def _campaign(
    path: Path, raw: object, post_time_now: datetime | None, *, need_post_time: bool = True
) -> tuple[Campaign, bool, Path | None]:
    table = _Table(path, "campaign", raw, CAMPAIGN_KEYS)
    name = table.get("name", (str,), "a string") or path.stem
    link = table.get("link", (str,), "a URL string")
    posted = table.get("posted_at", (str, datetime), 'an ISO 8601 time or "now"')
    if posted is None and need_post_time:
        raise ConfigError(f"{table.where}: key 'posted_at' is required (ISO 8601 time or \"now\")")
    if posted is None:
        post_time = None
    elif isinstance(posted, datetime):
        post_time = _in_range(posted, table.where)
    else:
        post_time = parse_posted_at(posted, table.where)
    posted_now = isinstance(posted, str) and posted.strip().lower() == "now"
    if posted_now and post_time_now is not None:
        post_time = post_time_now
    followers = table.get("followers", (int,), "a whole number")
    if followers is not None and not 1 <= followers <= MAX_REACH:
        raise ConfigError(
            f"{table.where}: key 'followers' must be from 1 to {MAX_REACH:g}, not {followers}"
        )
    record = table.get("record", (str,), "a file path string")
    record_path = None
    if record:
        record_path = Path(record).expanduser()
        if not record_path.is_absolute():
            record_path = path.parent / record_path
    tz = table.get("tz", (str,), 'an IANA time zone name such as "Europe/Paris"')
    if tz is not None:
        check_zone(tz, f"{table.where}: key 'tz'")
    campaign = Campaign(name=name, link=link, post_time=post_time, followers=followers, tz=tz)
    return campaign, posted_now, record_path


def _alerts(path: Path, raw: object) -> AlertRules:
    table = _Table(path, "alerts", raw, ALERT_KEYS)
    spike = table.get("spike_per_min", (int, float), "a number")
    flat = table.get("flat_minutes", (int, float), "a number")
    command = table.get("command", (list,), "a list of strings")
    if command is not None and not all(isinstance(part, str) for part in command):
        raise ConfigError(f"{table.where}: key 'command' must be a list of strings")
    if command is not None and (not command or not command[0].strip()):
        raise ConfigError(f"{table.where}: key 'command' needs a program first, e.g. [\"curl\"]")
    cooldown = table.get("cooldown_s", (int, float), "a number")
    # a rule at 0, nan or inf would never fire (or never fire again): say so now
    for key, value, zero in (
        ("spike_per_min", spike, False),
        ("flat_minutes", flat, False),
        ("cooldown_s", cooldown, True),
    ):
        if value is None:
            continue
        if value < 0 or (value == 0 and not zero) or not math.isfinite(value):
            never = "negative, nan or inf" if zero else "negative, zero, nan or inf"
            raise ConfigError(f"{table.where}: key {key!r} must not be {never}")
    hooks = table.get("webhooks", (list,), "a list of tables ([[alerts.webhooks]])")
    return AlertRules(
        spike_per_min=None if spike is None else float(spike),
        flat_minutes=None if flat is None else float(flat),
        command=tuple(command or ()),
        cooldown_s=DEFAULT_COOLDOWN_S if cooldown is None else float(cooldown),
        webhooks=tuple(_webhook(path, n, raw_hook) for n, raw_hook in enumerate(hooks or [])),
    )


_URL_SAFE = re.compile(r"https?://[!-~]+")
"""Printable ASCII only: no space, CR, LF or other control or non-ASCII character (a header
or request line built from it could be split or rejected)."""


def _webhook(path: Path, index: int, raw: object) -> WebhookTarget:
    """One `[[alerts.webhooks]]` table; its URL comes from the environment, checked here and
    never shown (messages name the variable)."""
    table = _Table(path, f"alerts.webhooks #{index}", raw, WEBHOOK_KEYS)
    kind = table.get("kind", (str,), "a string")
    if kind not in WEBHOOK_KINDS:
        raise ConfigError(f"{table.where}: key 'kind' must be one of {', '.join(WEBHOOK_KINDS)}")
    url_env = table.get("url_env", (str,), "an environment variable name")
    if not url_env:
        raise ConfigError(f"{table.where}: key 'url_env' names the variable holding the URL")
    url = os.environ.get(url_env, "")
    if not url:
        raise ConfigError(f"{table.where}: environment variable {url_env} is not set")
    if _URL_SAFE.fullmatch(url) is None:
        raise ConfigError(
            f"{table.where}: ${url_env} must be an http(s) URL of printable ASCII"
            " (no space, line break or non-ASCII character)"
        )
    return WebhookTarget(kind, url_env, url)


def _export(path: Path, raw: object) -> ExportConfig:
    table = _Table(path, "export", raw, EXPORT_KEYS)
    directory = table.get("dir", (str,), "a directory path string")
    if directory is None:
        return ExportConfig()
    folder = Path(directory).expanduser()
    return ExportConfig(folder if folder.is_absolute() else path.parent / folder)


def build_source(
    table: Mapping[str, Any], where: str, campaign: Campaign, base: Path | None = None
) -> Source:
    """Build one `[[sources]]` table through its kind's module (which validates its keys);
    relative file paths in it are read from `base`, the campaign file's folder."""
    kind = table.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{where}: key 'kind' is required (see `engmon sources`)")
    try:
        source_kind = load_kind(kind, where)
    except ModuleNotFoundError:
        raise ConfigError(f"{where}: source kind {kind!r} is not available in this build") from None
    options = SourceOptions(table, f"{where} ({kind})", base=base)
    source: Source = source_kind.build(options, campaign)
    return source


@dataclass(frozen=True)
class CampaignFile:
    """A campaign file read and checked at the file level; its sources not yet built."""

    data: dict[str, Any]
    campaign: Campaign
    posted_now: bool
    record: Path | None
    source_tables: list[dict[str, Any]]


def read_campaign_file(
    path: Path, *, post_time: datetime | None = None, need_post_time: bool = True
) -> CampaignFile:
    """The tables of a campaign file and its `[campaign]` (ConfigError naming file and key).

    `need_post_time=False` lets `posted_at` be absent (an export over a window given apart).
    """
    data = _read_toml(path)
    for key in data:
        if key not in TABLES:
            raise ConfigError(f"{path}: unknown table or key {key!r}; expected {', '.join(TABLES)}")
    if "campaign" not in data:
        raise ConfigError(f"{path}: a [campaign] table is required (name, link, posted_at)")
    campaign, posted_now, record = _campaign(
        path, data["campaign"], post_time, need_post_time=need_post_time
    )
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list) or not all(isinstance(t, dict) for t in raw_sources):
        raise ConfigError(f"{path}: 'sources' must be [[sources]] tables")
    return CampaignFile(data, campaign, posted_now, record, raw_sources)


def load_campaign(path: Path, *, post_time: datetime | None = None) -> CampaignConfig:
    """Read and validate a campaign file; builds every source (reading its secrets).

    `post_time` stands in for `posted_at = "now"` (a restarted watch keeps its first start).
    """
    read = read_campaign_file(path, post_time=post_time)
    data, campaign, posted_now, record = read.data, read.campaign, read.posted_now, read.record
    raw_sources = read.source_tables
    sources: list[Source] = []
    names: dict[str, int] = {}
    for index, table in enumerate(raw_sources):
        where = f"{path}: sources[{index}]"
        source = build_source(table, where, campaign, path.parent)
        if source.name in names:
            raise ConfigError(
                f"{where}: duplicate source name {source.name!r}"
                f" (also sources[{names[source.name]}]);"
                " give each source its own `name`"
            )
        names[source.name] = index
        sources.append(source)
    alerts = _alerts(path, data["alerts"]) if "alerts" in data else AlertRules()
    export = _export(path, data["export"]) if "export" in data else ExportConfig()
    return CampaignConfig(path, campaign, sources, posted_now, record, alerts, export)
