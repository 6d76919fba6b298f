"""The source options contract: each kind declares its keys once, and every check comes from it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from engmon.core.campaign import Campaign
from engmon.errors import ConfigError
from engmon.sources.options import (
    COMMON_KEYS,
    CommonOptions,
    SourceKind,
    SourceOptions,
    option,
    read_options,
)
from engmon.sources.registry import MODULES, available_kinds, load_kind


@dataclasses.dataclass(frozen=True, kw_only=True)
class DemoOptions(CommonOptions):
    site: str = option(help="the site")
    every: float = option(60.0, "seconds between breakdowns", minimum=5.0, maximum=3600)
    pages: int = option(2, "pages per poll", minimum=1)
    mode: str = option("fast", "how", choices=("fast", "slow"))
    tags: list[str] = option([], "tags")
    extra: dict[str, Any] = option({}, "a table")
    token_env: str | None = option(None, "optional variable")
    verbose: bool = option(False, "say more")


def read(**table: Any) -> DemoOptions:
    return read_options(DemoOptions, SourceOptions(table, "c.toml: sources[0] (demo)"))


def test_defaults_and_types_come_from_the_declaration() -> None:
    options = read(site="a", every=90, tags=["x"])
    assert options.every == 90.0 and isinstance(options.every, float)
    assert options.pages == 2 and options.mode == "fast" and options.tags == ["x"]
    assert options.interval == 10.0 and options.label() == ""
    assert read(site="a", name="shop").label() == "shop"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "key 'site' is required"),
        ({"site": "a", "colour": 1}, "unknown key 'colour'"),
        ({"site": 5}, "key 'site' must be a string, not 5"),
        ({"site": "a", "every": math.nan}, "key 'every' must be a finite number"),
        ({"site": "a", "interval": math.inf}, "key 'interval' must be a finite number"),
        ({"site": "a", "every": 1}, "key 'every' must be at least 5"),
        ({"site": "a", "every": 1e9}, "key 'every' must be at most 3600"),
        ({"site": "a", "pages": True}, "key 'pages' must be a whole number, not True"),
        ({"site": "a", "pages": 1.5}, "key 'pages' must be a whole number"),
        ({"site": "a", "mode": "warp"}, "key 'mode' must be one of fast, slow"),
        ({"site": "a", "tags": ["x", 1]}, "key 'tags' must be a list of strings"),
        ({"site": "a", "extra": "x"}, "key 'extra' must be a table"),
        ({"site": "a", "verbose": "yes"}, "key 'verbose' must be true or false"),
        ({"site": "a", "name": " "}, "key 'name' must not be empty"),
    ],
)
def test_every_check_names_file_table_and_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(**table)
    assert str(caught.value).startswith("c.toml: sources[0] (demo): ")
    assert message in str(caught.value)


def test_every_registered_kind_declares_its_keys_once() -> None:
    assert available_kinds() == list(MODULES)
    for kind in MODULES:
        source_kind = load_kind(kind)
        assert isinstance(source_kind, SourceKind) and source_kind.name == kind
        assert issubclass(source_kind.options, CommonOptions)
        keys = source_kind.keys()
        assert keys, kind
        assert all(text.strip() for text in keys.values()), kind
        # the common keys are listed once, not again under each kind (interval: its own default)
        assert not (set(keys) - {"interval"}) & set(COMMON_KEYS), kind


@pytest.mark.parametrize("kind", list(MODULES))
def test_every_kind_refuses_unknown_keys_and_nan(kind: str) -> None:
    source_kind = load_kind(kind)
    with pytest.raises(ConfigError, match="unknown key 'no_such_key'"):
        source_kind.build(SourceOptions({"kind": kind, "no_such_key": 1}, "c.toml"), Campaign("c"))
    with pytest.raises(ConfigError, match="'interval' must be a finite number"):
        source_kind.build(
            SourceOptions({"kind": kind, "interval": math.nan}, "c.toml"), Campaign("c")
        )
