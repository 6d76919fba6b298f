"""Source kinds by name, imported only when used (so `engmon --help` stays fast).

Adding a kind: write its module (or package) exposing `SOURCE: SourceKind` (see
`engmon.sources.options`), then add one line here.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Final

from engmon.errors import ConfigError
from engmon.sources.options import SourceKind

MODULES: Final[dict[str, str]] = {
    "access-log": "engmon.sources.accesslog",
    "plausible": "engmon.sources.plausible",
    "umami": "engmon.sources.umami",
    "bitly": "engmon.sources.bitly",
    "http-json": "engmon.sources.httpjson",
    "mastodon": "engmon.sources.mastodon",
    "bluesky": "engmon.sources.bluesky",
    "x": "engmon.sources.x",
    "clickhouse": "engmon.sources.clickhouse",
}
"""kind -> module path. A module listed here that is not installed yet is skipped by `kinds()`."""


def load_kind(kind: str, where: str = "") -> SourceKind[Any, Any]:
    """The source kind named `kind`; a ConfigError naming the known kinds otherwise."""
    module = MODULES.get(kind)
    if module is None:
        known = ", ".join(sorted(available_kinds()))
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}unknown source kind {kind!r}; known kinds: {known}")
    found = importlib.import_module(module).SOURCE
    if not isinstance(found, SourceKind) or found.name != kind:
        raise TypeError(f"{module}.SOURCE is not the SourceKind of {kind!r}")
    return found


def available_kinds() -> list[str]:
    """Kinds whose module exists in this installation, in registry order."""
    found: list[str] = []
    for kind, module in MODULES.items():
        if importlib.util.find_spec(module) is not None:
            found.append(kind)
    return found
