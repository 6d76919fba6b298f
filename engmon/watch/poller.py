"""Polling one source: never overlapping, backing off on errors, keeping a visible status.

`SourcePoller.poll_once` runs one poll and never raises for a `SourceError`: it records it in
`status` and schedules the next attempt with exponential backoff and jitter (honouring a
vendor's Retry-After). The caller (a Textual worker or the plain `watch` loop) awaits
`poll_once`, then sleeps `delay()` before the next one, so polls of one source never overlap
and a slow source never blocks another.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from engmon.errors import SourceError, SourceUnreachable
from engmon.sources.base import LocalSource, PollResult, Source

if TYPE_CHECKING:
    import httpx


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
    auth_retry: float = 60.0  # 401/403/404: try again now and then (a token may be fixed)

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

    async def poll_once(self, client: httpx.AsyncClient | None, now: datetime) -> PollResult | None:
        """One poll; the result on success, None after an error (recorded in `status`).
        `client` is the shared HTTP client (None will do for a `LocalSource`).

        A partial result (`PollResult.partial_error`) is returned *and* counted as an error:
        its rows are kept, the status says retrying.

        The whole poll is bounded by `poll_deadline()` (a server trickling bytes cannot hold a
        worker forever). Exceptions outside `SourceError` are bugs and propagate: the worker
        (dashboard or plain watch) shows them as status and keeps going.
        """
        status = self.status
        try:
            async with asyncio.timeout(self.poll_deadline()):
                result = await self._poll(client, now)
        except SourceError as exc:
            self._failed(exc)
            return None
        except TimeoutError:
            self._failed(
                SourceUnreachable(
                    f"{self.source.name}: poll took longer than {self.poll_deadline():g}s"
                )
            )
            return None
        status.polls += 1
        status.last_ok = self._clock()
        status.summary = result.summary
        status.facts.update(result.facts)
        if result.partial_error is not None:
            # rows came but not all of them: keep those (the caller records them), show the
            # error, and ask again soon: the source answered, so its backoff starts over
            self._failures = 0
            self._failed(result.partial_error)
            return result
        self._failures = 0
        status.state = "done" if result.done else "ok"
        status.last_error = None
        status.retry_at = None
        interval = self.source.interval
        self._next_delay = interval if result.retry_in is None else max(interval, result.retry_in)
        return result

    async def _poll(self, client: httpx.AsyncClient | None, now: datetime) -> PollResult:
        source = self.source
        if isinstance(source, LocalSource):
            return await source.read(now)
        if client is None:
            raise TypeError(f"{source.name}: a {source.kind} source needs the HTTP client")
        return await source.poll(client, now)

    def poll_deadline(self) -> float:
        """Seconds one whole poll may take (several requests, each with its own timeout)."""
        return self.source.timeout * 4 + 1.0

    def backoff(self, failures: int) -> float:
        """Delay after `failures` consecutive errors: exponential from the interval, jittered.

        tenacity's `wait_exponential_jitter` computes it (interval * 2^(n-1) + U(0, interval),
        capped at `max_backoff`); the loop itself stays ours so each attempt shows as status.
        """
        import tenacity  # only once a poll failed: kept off the dashboard's start

        interval = self.source.interval
        wait = tenacity.wait_exponential_jitter(
            multiplier=interval, max=self.max_backoff, jitter=interval
        )
        state = tenacity.RetryCallState(tenacity.AsyncRetrying(), None, (), {})
        state.attempt_number = max(1, min(failures, 30))
        return float(wait(state))

    def _failed(self, exc: SourceError) -> None:
        status = self.status
        self._failures += 1
        status.errors += 1
        status.last_error = str(exc)
        delay = self.backoff(self._failures)
        if exc.retry_after is not None:  # the vendor said when: never earlier than that
            delay = max(delay, exc.retry_after)
        self._next_delay = delay if exc.retryable else max(delay, self.auth_retry)
        status.state = "retrying" if exc.retryable else "failed"
        status.retry_at = self._clock() + self._next_delay

    def delay(self) -> float:
        """Seconds to wait before the next poll."""
        return self._next_delay
