"""Which requests count: the link's path (with or without a query), utm_* values, a goal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import polars as pl

from engmon.errors import ConfigError
from engmon.sources.accesslog.agents import STATIC_ASSET

if TYPE_CHECKING:
    pass


# --- link matching ---------------------------------------------------------------------------


def _url_path(link: str) -> str:
    text = link.strip()
    if "://" not in text and not text.startswith("/"):
        text = "//" + text  # "example.com/blog/post": a host, not a relative path
    return (urlsplit(text).path or "/").rstrip("/") or "/"


@dataclass(frozen=True)
class LinkMatch:
    """Which requests count: the link's path (with or without a query), required utm_* values,
    and the goal path whose hits are conversions.

    `path` None means every page of the site (static assets aside).
    """

    path: str | None = None
    utm: tuple[tuple[str, str], ...] = ()
    goal: str | None = None

    @classmethod
    def build(
        cls, link: str | None, utm: Mapping[str, str] | None = None, goal: str | None = None
    ) -> LinkMatch:
        """From a campaign link (URL or path; empty = whole site), utm_* requirements and a
        goal (URL or path of the page that means "converted", e.g. `/thanks`)."""
        wanted: dict[str, str] = {}
        path = _url_path(link) if link and link.strip() else None
        for key, value in (utm or {}).items():
            if not key.startswith("utm_"):
                raise ConfigError(f"utm: key {key!r} is not a utm_* parameter (utm_source, ...)")
            wanted[key] = str(value)
        goal_path = _url_path(goal) if goal and goal.strip() else None
        return cls(path, tuple(sorted(wanted.items())), goal_path)

    @property
    def needle(self) -> str | None:
        """A literal every matching request line contains (cheap prefilter before parsing)."""
        return self.path if self.path not in (None, "/") else None

    def prefilter(self, line: pl.Expr) -> pl.Expr:
        """True for raw request text that may be the link or the goal (before parsing)."""
        if self.needle is None or self.goal == "/":
            return pl.lit(True)
        needles = [self.needle] + ([self.goal] if self.goal else [])
        if len(needles) == 1:
            return line.str.contains(needles[0], literal=True)
        return line.str.contains_any(needles)

    def expr(self, target: pl.Expr) -> pl.Expr:
        """True for targets (path + query) this link counts."""
        path = target.str.split_exact("?", 1).struct.field("field_0")
        if self.path is None:
            keep = path.str.contains(STATIC_ASSET).not_()
        elif self.path == "/":
            keep = path == "/"
        else:
            keep = path.is_in([self.path, self.path + "/"])
        for key, value in self.utm:
            keep = keep & target.str.contains(f"[?&]{re.escape(key)}={re.escape(value)}(?:&|#|$)")
        return keep

    def goal_expr(self, target: pl.Expr) -> pl.Expr:
        """True for targets that are the goal page (false when there is no goal)."""
        if self.goal is None:
            return pl.lit(False)
        path = target.str.split_exact("?", 1).struct.field("field_0")
        return path.is_in([self.goal, self.goal + "/"])
