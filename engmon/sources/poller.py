"""Polling one source: never overlapping, backing off on errors, keeping a visible status.

`SourcePoller.poll_once` runs one poll and never raises for a `SourceError`: it records it in
`status` and schedules the next attempt with exponential backoff and jitter (honouring a
vendor's Retry-After). The caller (a Textual worker or the plain `watch` loop) awaits
`poll_once`, then sleeps `delay()` before the next one, so polls of one source never overlap
and a slow source never blocks another.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from engmon.errors import SourceError
from engmon.sources.base import PollResult, Source


@dataclass
class SourceStatus:
    """What the dashboard shows about a source: last good poll, last error, next try."""

    name: str
    kind: str
    state: str = "waiting"  # waiting | ok | retrying | failed | done
    last_ok: float | None = None  # monotonic seconds of the last good poll
    last_error: str | None = None
    retry_at: float | None = None  # monotonic seconds of the next attempt after an error
    polls: int = 0
    errors: int = 0
    summary: str = ""
    facts: dict[str, float] = field(default_factory=dict)


class SourcePoller:
    """Drives one source: `poll_once()` then wait `delay()`; never raises a SourceError."""

    max_backoff: float = 300.0

    def __init__(
        self,
        source: Source,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.status = SourceStatus(source.name, source.kind)
        self._clock = clock
        self._rng = rng or random.Random()
        self._failures = 0
        self._next_delay = 0.0

    async def poll_once(self, client: httpx.AsyncClient, now: datetime) -> PollResult | None:
        """One poll; the result on success, None after an error (recorded in `status`)."""
        status = self.status
        try:
            result = await self.source.poll(client, now)
        except SourceError as exc:
            self._failures += 1
            status.errors += 1
            status.last_error = str(exc)
            backoff = min(self.max_backoff, self.source.interval * 2 ** min(self._failures, 10))
            backoff *= 0.5 + self._rng.random()  # full jitter around the backoff
            if exc.retry_after is not None:
                backoff = max(backoff, exc.retry_after)
            self._next_delay = backoff if exc.retryable else max(backoff, 60.0)
            status.state = "retrying" if exc.retryable else "failed"
            status.retry_at = self._clock() + self._next_delay
            return None
        self._failures = 0
        status.polls += 1
        status.state = "done" if result.done else "ok"
        status.last_ok = self._clock()
        status.last_error = None
        status.retry_at = None
        status.summary = result.summary
        status.facts.update(result.facts)
        interval = self.source.interval
        self._next_delay = interval if result.retry_in is None else max(interval, result.retry_in)
        return result

    def delay(self) -> float:
        """Seconds to wait before the next poll."""
        return self._next_delay
