"""The `access-log` source kind: web server access logs read from a file or followed live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engmon.sources.accesslog.tail import SOURCE

__all__ = ["SOURCE"]


def __getattr__(name: str) -> Any:
    """`SOURCE` on first use: reading a whole log (replay, report) needs neither the live
    source's httpx nor asyncio."""
    if name == "SOURCE":
        from engmon.sources.accesslog.tail import SOURCE

        return SOURCE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
