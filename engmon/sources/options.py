"""Source options declared once: a typed dataclass per kind gives defaults, help and checks.

A kind declares its `[[sources]]` keys as a frozen dataclass deriving from `CommonOptions`,
each field made with `option(default, help, ...)`. From that one declaration come:

- `engmon sources` (the key list and help text),
- the config validation (`read_options`: types from the annotations, ranges and choices from
  the field, finite numbers only, unknown keys rejected naming file, table and key),
- the defaults the source is built with.

Secrets are only ever named (`token_env = "UMAMI_TOKEN"`); `secret()` reads the variable and
never puts its value in a message.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union
from urllib.parse import urlsplit

from engmon.errors import ConfigError

if TYPE_CHECKING:
    from engmon.core.campaign import Campaign
    from engmon.sources.base import Source

OptionsT = TypeVar("OptionsT", bound="CommonOptions")
SourceT = TypeVar("SourceT", bound="Source")

REQUIRED: Any = dataclasses.MISSING
"""The default of an option the user must set."""


def option(
    default: Any = REQUIRED,
    help: str = "",
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """One `[[sources]]` key: its default (REQUIRED: none), one line of help, its range."""
    meta = {"help": help, "minimum": minimum, "maximum": maximum, "choices": choices}
    if isinstance(default, list | dict):
        factory = type(default)
        return dataclasses.field(
            default_factory=lambda: factory(default), metadata=meta, kw_only=True
        )
    return dataclasses.field(default=default, metadata=meta, kw_only=True)


def interval_option(default: float) -> Any:
    """The `interval` key with a kind's own default."""
    return option(default, "seconds between polls", minimum=0.05, maximum=86_400)


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is REQUIRED and field.default_factory is REQUIRED


@dataclass(frozen=True, kw_only=True)
class CommonOptions:
    """Keys every `[[sources]]` table takes. A kind overrides `interval` for its own default."""

    kind: str = option("", "source kind (see `engmon sources`)")
    name: str | None = option(None, "label shown in the dashboard (default: the kind)")
    interval: float = interval_option(10.0)
    timeout: float = option(10.0, "seconds before a request is given up", minimum=0.05, maximum=600)

    def label(self) -> str:
        """The source's display name."""
        return self.name or self.kind


class SourceOptions:
    """One raw `[[sources]]` table and where it is (`campaign.toml: sources[2] (umami)`)."""

    def __init__(self, table: Mapping[str, Any], where: str, *, base: Path | None = None) -> None:
        self.table = dict(table)
        self.where = where
        self.base = base
        """The campaign file's folder: relative file paths in the table are read from it."""

    def resolve_paths(self, keys: tuple[str, ...]) -> None:
        """Make the file paths under `keys` absolute (`~` expanded, relative ones read from
        the campaign file's folder), so a campaign works from any current directory."""
        for key in keys:
            value = self.table.get(key)
            if isinstance(value, str) and value:
                path = Path(value).expanduser()
                if not path.is_absolute() and self.base is not None:
                    path = self.base / path
                self.table[key] = str(path)

    def fail(self, key: str, problem: str) -> ConfigError:
        """A ConfigError naming the file, the table and `key`."""
        return ConfigError(f"{self.where}: key {key!r} {problem}")


_TYPE_NAMES: dict[object, str] = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list of strings",
    dict: "a table",
}


def _accepts(value: Any, base: object) -> bool:
    if isinstance(value, bool):
        return base is bool
    if base is float:
        return isinstance(value, int | float)
    if base is list:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(base, type) and isinstance(value, base)


_Fields = tuple[tuple[dataclasses.Field[Any], object, bool], ...]
_FIELDS: dict[type, _Fields] = {}


def _fields(cls: type[CommonOptions]) -> _Fields:
    """(field, base type, optional) per option of `cls`, from its annotations (cached)."""
    if cls in _FIELDS:
        return _FIELDS[cls]
    hints = typing.get_type_hints(cls)
    out = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        args = typing.get_args(hint)
        optional = typing.get_origin(hint) in (Union, types.UnionType) and type(None) in args
        if optional:
            hint = next(arg for arg in args if arg is not type(None))
        base = typing.get_origin(hint) or hint
        if base not in _TYPE_NAMES:
            raise TypeError(f"{cls.__name__}.{field.name}: unsupported option type {hint!r}")
        out.append((field, base, optional))
    _FIELDS[cls] = tuple(out)
    return _FIELDS[cls]


def _check(
    table: SourceOptions, key: str, value: Any, base: object, meta: Mapping[str, Any]
) -> Any:
    if not _accepts(value, base):
        raise table.fail(key, f"must be {_TYPE_NAMES[base]}, not {value!r}")
    if base is float:
        value = float(value)
        if not math.isfinite(value):
            raise table.fail(key, f"must be a finite number, not {value!r}")
    if base is str and meta.get("choices") and value not in meta["choices"]:
        raise table.fail(key, f"must be one of {', '.join(meta['choices'])}, not {value!r}")
    if base in (int, float):
        low, high = meta.get("minimum"), meta.get("maximum")
        if low is not None and value < low:
            raise table.fail(key, f"must be at least {low:g}, not {value!r}")
        if high is not None and value > high:
            raise table.fail(key, f"must be at most {high:g}, not {value!r}")
    if base is str and key == "name" and not value.strip():
        raise table.fail(key, "must not be empty")
    return value


def read_options(cls: type[OptionsT], table: SourceOptions) -> OptionsT:
    """The typed options of one table: every key checked, unknown keys refused."""
    known = {field.name for field, _, _ in _fields(cls)}
    unknown = sorted(set(table.table) - known)
    if unknown:
        raise ConfigError(f"{table.where}: unknown key {unknown[0]!r} (see `engmon sources`)")
    values: dict[str, Any] = {}
    for field, base, optional in _fields(cls):
        if field.name not in table.table:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise table.fail(field.name, f"is required ({_TYPE_NAMES[base]})")
            continue
        value = table.table[field.name]
        if value is None and optional:
            continue
        values[field.name] = _check(table, field.name, value, base, field.metadata)
    return cls(**values)


def option_help(cls: type[CommonOptions], *, own: bool = True) -> dict[str, str]:
    """key -> help line with its default, for `engmon sources` (`own`: leave out common keys)."""
    common = {field.name for field in dataclasses.fields(CommonOptions)}
    lines: dict[str, str] = {}
    for field, _, _ in _fields(cls):
        if own and field.name in common and field.name != "interval":
            continue
        text = str(field.metadata.get("help", ""))
        if field.default is not dataclasses.MISSING and field.default not in (None, "", False):
            if "default" not in text:
                shown = (
                    str(field.default).lower()
                    if isinstance(field.default, bool)
                    else f"{field.default:g}"
                    if isinstance(field.default, float)
                    else field.default
                )
                text = f"{text} (default {shown})"
        elif _required(field):
            text = f"{text} (required)"
        lines[field.name] = text
    return lines


COMMON_KEYS: dict[str, str] = option_help(CommonOptions, own=False)
"""Keys every `[[sources]]` table takes, with their help."""


@dataclass(frozen=True)
class SourceKind(Generic[OptionsT, SourceT]):
    """A source kind: its name, one line of what it reads, its options and how to build it.

    `make(options, campaign, where)` builds the source from checked options; `where` names the
    table in the errors it may still raise (checks across keys, files that must exist).
    """

    name: str
    summary: str
    options: type[OptionsT]
    make: Callable[[OptionsT, Campaign, str], SourceT]
    paths: tuple[str, ...] = ()
    """Keys naming files: relative ones are read from the campaign file's folder."""

    def keys(self) -> dict[str, str]:
        """The kind's own keys with their help (the common ones are listed once)."""
        return option_help(self.options)

    def build(self, table: SourceOptions, campaign: Campaign) -> SourceT:
        """Check the table against the options and build the source."""
        table.resolve_paths(self.paths)
        options = read_options(self.options, table)
        return self.make(options, campaign, table.where)


def secret(where: str, key: str, env_name: str | None, *, required: bool = True) -> str | None:
    """Read the environment variable named under `key`; never echo its value."""
    if env_name is None:
        if required:
            raise ConfigError(f"{where}: key {key!r} is required (an environment variable name)")
        return None
    value = os.environ.get(env_name)
    if not value:
        if not required:
            return None
        raise ConfigError(
            f"{where}: environment variable {env_name} (named by {key!r}) is not set;"
            f" export {env_name}=... before starting engmon"
        )
    flaw = secret_flaw(value)
    if flaw is not None:
        # a header cannot carry it, and httpx would echo it in the error: refuse it here
        raise ConfigError(
            f"{where}: environment variable {env_name} (named by {key!r}) {flaw};"
            " a token or password must be printable ASCII (strip a trailing newline)"
        )
    return value


def secret_flaw(value: str) -> str | None:
    """What makes `value` unusable as a credential, in words that never quote it; None if fine.

    Tokens and passwords travel in HTTP headers (Bearer, X-ClickHouse-Key, Basic), which take
    printable ASCII only; a line break usually comes from `$(cat secret-file)` or an editor.
    """
    if "\r" in value or "\n" in value:
        return "holds a line break (CR or LF)"
    if not value.isascii():
        return "holds a non-ASCII character"
    if not value.isprintable():
        return "holds a control character"
    return None


def link_path(where: str, key: str, given: str | None, campaign_link: str | None) -> str:
    """The page path to count: `given` when set, else the path of the campaign link
    (`/launch` of https://example.com/launch?x=1); ConfigError when neither is there."""
    if given:
        return given
    if campaign_link:
        return urlsplit(campaign_link).path or "/"
    raise ConfigError(f"{where}: key {key!r} is required when [campaign] has no link")


def string_table(where: str, key: str, table: Mapping[str, Any]) -> dict[str, str]:
    """A table whose values must all be strings (utm filters, JSON field paths)."""
    for name, value in table.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: key '{key}.{name}' must be a string, not {value!r}")
    return dict(table)
