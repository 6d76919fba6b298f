"""The Source protocol: how a feed becomes observation frames.

A source is polled by exactly one worker; polls of one source never overlap. `poll` receives
the shared `httpx.AsyncClient` and the clock's `now` (wall time when live, the replay clock when
replaying), and returns a `PollResult` whose frame already matches the observation schema.
A failed poll raises a `engmon.errors.SourceError`; the worker turns it into visible status.

Every source kind lives in its own module under `engmon.sources` and exposes:

    KIND: str                      the `kind = "..."` name in the campaign config
    SUMMARY: str                   one line: what it reads and measures
    KEYS: dict[str, str]           its own config keys -> one-line help (shown by `engmon sources`)
    def build(table: ConfigTable, campaign: Campaign) -> Source

`engmon.sources.registry` maps kinds to modules and imports them lazily.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from engmon.core.schema import empty_observations
from engmon.errors import SourceError

if TYPE_CHECKING:  # a replay never needs httpx: it is imported by the sources that do
    import httpx


@dataclass(frozen=True)
class Progress:
    """How far a finite source got: `done` of `total` rows (a replayed file)."""

    done: int
    total: int


@dataclass(frozen=True)
class PollResult:
    """What one successful poll brought back.

    `frame`: observation rows (may be empty). `summary`: one human line for `check` and the
    plain watch log ("12 buckets 14:00-14:11, 41 clicks"). `retry_in`: seconds the source wants
    to wait before its next poll (rate-limit pacing), None for its configured interval.
    `facts`: small named values the dashboard may show (poster followers, active visitors).
    `done`: a finite source (a replayed file) has nothing more to give; `progress`: how far
    it got. `missing`: what the source waits for and cannot find yet (a log file not created):
    a live watch keeps polling, `engmon check` fails on it. `partial_error`: the poll got
    `frame` but failed on the rest (a follow-up request): the rows are recorded and merged, the
    source shows as retrying and is asked again soon. A source that returns a partial result
    advances its own progress markers only over what `frame` covers.
    """

    frame: pl.DataFrame = field(default_factory=empty_observations)
    summary: str = ""
    retry_in: float | None = None
    facts: dict[str, float] = field(default_factory=dict)
    done: bool = False
    missing: str | None = None
    progress: Progress | None = None
    partial_error: SourceError | None = None


class Source(abc.ABC):
    """One feed of observations. Subclasses set `kind` and implement `poll`."""

    kind: str = ""

    def __init__(self, name: str, *, interval: float = 10.0, timeout: float = 10.0) -> None:
        self.name = name
        self.interval = interval
        self.timeout = timeout

    @abc.abstractmethod
    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """Fetch what is new up to `now`; raise `SourceError` on failure."""

    def resume(self, recorded: pl.DataFrame) -> None:
        """Continue after a restart: `recorded` holds the rows this source wrote before.

        Sources that remember what they already reported (accounts that reshared) learn it
        here, so a restarted watch does not write those rows again; the default keeps nothing.
        """
        return None

    def describe(self) -> str:
        """One line saying what is polled (for `check`); never includes a secret."""
        return f"{self.kind} {self.name}"

    async def aclose(self) -> None:
        """Release files or other resources; the shared HTTP client is not the source's."""
        return None


class LocalSource(Source):
    """A source that reads nothing over the network (a replayed frame). A session polls it
    through `read`, without the shared HTTP client: a replay never makes one (nor imports
    httpx, which would delay the dashboard's first frame)."""

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        return await self.read(now)

    @abc.abstractmethod
    async def read(self, now: datetime) -> PollResult:
        """What is new up to `now`; raise `SourceError` on failure."""
