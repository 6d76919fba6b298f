"""SourcePoller: status, jittered exponential backoff, Retry-After, and never dying."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from engmon.errors import SourceAuthError, SourceRateLimited, SourceUnreachable
from engmon.sources.base import PollResult, Source
from engmon.watch.poller import SourcePoller

NOW = datetime(2026, 11, 25, 14, tzinfo=UTC)


class Scripted(Source):
    """Raises or returns the next scripted outcome."""

    kind = "scripted"

    def __init__(self, outcomes: list[object], interval: float = 2.0) -> None:
        super().__init__("s", interval=interval, timeout=0.05)
        self.outcomes = outcomes

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        outcome = self.outcomes.pop(0)
        if outcome == "hang":
            await asyncio.sleep(10)
        if isinstance(outcome, BaseException):
            raise outcome
        return PollResult(summary="fine")


async def test_backoff_grows_with_jitter_and_resets_after_success() -> None:
    errors: list[object] = [SourceUnreachable("s: down")] * 5
    poller = SourcePoller(Scripted([*errors, "ok"]))
    delays = []
    async with httpx.AsyncClient() as client:
        for _ in range(5):
            assert await poller.poll_once(client, NOW) is None
            delays.append(poller.delay())
        assert poller.status.state == "retrying" and poller.status.errors == 5
        for attempt, delay in enumerate(delays, start=1):
            base = 2.0 * 2 ** (attempt - 1)
            assert base <= delay <= base + 2.0
        assert await poller.poll_once(client, NOW) is not None
    assert poller.status.state == "ok" and poller.status.last_error is None
    assert poller.delay() == 2.0


async def test_retry_after_is_honoured_and_auth_errors_wait_long() -> None:
    poller = SourcePoller(
        Scripted([SourceRateLimited("s: slow down", retry_after=42.0), SourceAuthError("s: 401")])
    )
    async with httpx.AsyncClient() as client:
        await poller.poll_once(client, NOW)
        assert poller.delay() >= 42.0
        await poller.poll_once(client, NOW)
    assert poller.status.state == "failed" and poller.delay() >= 60.0
    assert poller.status.retry_at is not None


async def test_a_hung_poll_is_bounded_and_shown_as_status() -> None:
    poller = SourcePoller(Scripted(["hang"], interval=0.1))
    async with httpx.AsyncClient() as client:
        assert await poller.poll_once(client, NOW) is None
    assert "poll took longer than" in (poller.status.last_error or "")
    assert poller.status.state == "retrying"


async def test_a_source_bug_is_a_status_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import engmon.watch.session
    from engmon.core.campaign import Campaign
    from engmon.watch.listener import Listener
    from engmon.watch.session import Session, SourcePolled

    monkeypatch.setattr(engmon.watch.session, "BUG_RETRY_S", 0.01)
    session = Session(Campaign("c"), [Scripted([KeyError("results"), "ok"], interval=0.01)])
    reports: list[str] = []

    class Reports(Listener):
        def source_polled(self, event: SourcePolled) -> None:
            reports.append(event.status.state + ": " + (event.status.last_error or ""))
            if event.status.polls:
                raise asyncio.CancelledError

    session.listener = Reports()
    with pytest.raises(asyncio.CancelledError):
        await session.poll_source(session.pollers["s"])
    await session.aclose()
    assert reports == ["retrying: s: KeyError: 'results'", "ok: "]


async def test_cancellation_still_propagates() -> None:
    poller = SourcePoller(Scripted(["hang"], interval=0.1))
    poller.source.timeout = 100.0
    async with httpx.AsyncClient() as client:
        task = asyncio.create_task(poller.poll_once(client, NOW))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
