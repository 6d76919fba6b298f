"""Typed reading of one `[[sources]]` table, with errors that name file, key and fix.

Each source module's `build(table, campaign)` takes values out of a `SourceOptions` with the
typed getters below and finally calls `finish()`, which rejects any key nobody asked for.
Secrets are only ever named (`token_env = "UMAMI_TOKEN"`); `secret()` reads the variable and
never puts its value in a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from engmon.errors import ConfigError

T = TypeVar("T")

COMMON_KEYS: dict[str, str] = {
    "kind": "source kind (see `engmon sources`)",
    "name": "label shown in the dashboard (default: the kind)",
    "interval": "seconds between polls (default depends on the kind)",
    "timeout": "seconds before a request is given up (default 10)",
}


class SourceOptions:
    """The keys of one source table; `where` is e.g. `campaign.toml: sources[2] (umami)`."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        self._table = dict(table)
        self._used: set[str] = {"kind"}
        self.where = where

    def _fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: key {key!r} {problem}")

    def has(self, key: str) -> bool:
        """Whether the user set `key`."""
        return key in self._table

    def _get(self, key: str, types: tuple[type, ...], type_name: str, default: Any) -> Any:
        self._used.add(key)
        if key not in self._table:
            if default is _REQUIRED:
                raise self._fail(key, f"is required ({type_name})")
            return default
        value = self._table[key]
        if isinstance(value, bool) and bool not in types:
            raise self._fail(key, f"must be {type_name}, not {value!r}")
        if not isinstance(value, types):
            raise self._fail(key, f"must be {type_name}, not {value!r}")
        return value

    def string(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        """A string value (None when absent and not required)."""
        value = self._get(key, (str,), "a string", _REQUIRED if required else default)
        if required and isinstance(value, str) and not value.strip():
            raise self._fail(key, "must not be empty")
        return value

    def link_path(self, key: str, campaign_link: str | None) -> str:
        """The page path to count: `key` when given, else the path of the campaign link
        (`/launch` of https://example.com/launch?x=1); ConfigError when neither is there."""
        given = self.string(key)
        if given:
            return str(given)
        if campaign_link:
            return urlsplit(campaign_link).path or "/"
        raise self._fail(key, "is required when [campaign] has no link")

    def number(self, key: str, default: float | None = None, *, minimum: float = 0.0) -> Any:
        """An int or float value, at least `minimum`."""
        value = self._get(key, (int, float), "a number", default)
        if value is not None and value < minimum:
            raise self._fail(key, f"must be at least {minimum:g}, not {value!r}")
        return None if value is None else float(value)

    def integer(self, key: str, default: int | None = None, *, minimum: int = 0) -> Any:
        """An int value, at least `minimum`."""
        value = self._get(key, (int,), "a whole number", default)
        if value is not None and value < minimum:
            raise self._fail(key, f"must be at least {minimum}, not {value!r}")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        """A true/false value."""
        return bool(self._get(key, (bool,), "true or false", default))

    def strings(self, key: str, default: list[str] | None = None) -> list[str]:
        """A list of strings."""
        value = self._get(key, (list,), "a list of strings", default or [])
        if not all(isinstance(item, str) for item in value):
            raise self._fail(key, "must be a list of strings")
        return list(value)

    def table(self, key: str) -> dict[str, Any]:
        """A nested table (empty when absent)."""
        return dict(self._get(key, (dict,), "a table", {}))

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> Any:
        """One of `choices`."""
        value = self.string(key, default, required=default is None)
        if value not in choices:
            raise self._fail(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def secret(self, key: str, *, required: bool = True) -> str | None:
        """Read the environment variable whose *name* is under `key`; never echo its value."""
        env_name = self.string(key, required=required)
        if env_name is None:
            return None
        value = os.environ.get(env_name)
        if not value:
            if not required:
                return None
            raise ConfigError(
                f"{self.where}: environment variable {env_name} (named by {key!r}) is not set;"
                f" export {env_name}=... before starting engmon"
            )
        return value

    def finish(self) -> None:
        """Reject keys that no getter asked for (typos must not pass silently)."""
        unknown = sorted(set(self._table) - self._used - {"name", "interval", "timeout"})
        if unknown:
            raise ConfigError(f"{self.where}: unknown key {unknown[0]!r}")

    @property
    def name(self) -> str:
        """The source's display name."""
        return str(self.string("name", self._table.get("kind", "source")))

    def interval(self, default: float) -> float:
        """Seconds between polls."""
        return float(self.number("interval", default, minimum=0.05))

    def timeout(self, default: float = 10.0) -> float:
        """Request timeout in seconds."""
        return float(self.number("timeout", default, minimum=0.05))


_REQUIRED = object()
