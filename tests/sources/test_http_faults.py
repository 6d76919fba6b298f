"""Faults of one request: when to try again, and what an error may say (never a secret)."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from social_helpers import Router

from engmon.errors import ConfigError, SourceRateLimited, SourceResponseError, SourceUnreachable
from engmon.sources.http import fetch_json, raise_for_status, rate_limit_reset, retry_after
from engmon.sources.mastodon import MastodonSource
from engmon.sources.options import secret
from engmon.sources.posturl import MastodonPost, parse_post_url
from engmon.watch.poller import SourcePoller

T0 = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
STATUS = "117020586019094258"
SECRET = "SEKRET-4b1d"


def answer(status: int, headers: dict[str, str]) -> httpx.Response:
    request = httpx.Request("GET", "https://api.example/thing?token=" + SECRET)
    return httpx.Response(status, headers=headers, request=request)


def far_reset(remaining: int = 290) -> dict[str, str]:
    """Rate-limit headers of a window that resets in ten minutes (X / GitHub style)."""
    reset = str(int(time.time()) + 600)
    return {"x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": reset}


def test_a_5xx_carries_only_an_explicit_retry_after() -> None:
    with pytest.raises(SourceResponseError) as plain:
        raise_for_status(answer(503, far_reset()), "src")
    assert plain.value.retry_after is None  # the reset header is not a retry time
    with pytest.raises(SourceResponseError) as told:
        raise_for_status(answer(503, far_reset() | {"Retry-After": "7"}), "src")
    assert told.value.retry_after == 7.0
    assert SECRET not in str(plain.value)


def test_a_429_waits_for_retry_after_or_else_the_reset() -> None:
    with pytest.raises(SourceRateLimited) as by_reset:
        raise_for_status(answer(429, far_reset()), "src")
    assert by_reset.value.retry_after is not None and 590 < by_reset.value.retry_after <= 600
    with pytest.raises(SourceRateLimited) as by_header:
        raise_for_status(answer(429, far_reset() | {"Retry-After": "3"}), "src")
    assert by_header.value.retry_after == 3.0


def test_retry_after_reads_seconds_and_dates_and_reset_reads_three_forms() -> None:
    now = 1_800_000_000.0
    date = format_datetime(datetime.fromtimestamp(now + 30, UTC), usegmt=True)
    assert retry_after({"Retry-After": date}, now=now) == pytest.approx(30.0)
    assert retry_after({"X-RateLimit-Reset": str(now + 30)}, now=now) is None
    assert rate_limit_reset({"X-RateLimit-Reset": str(now + 30)}, now=now) == 30.0
    assert rate_limit_reset({"ratelimit-reset": "12"}, now=now) == 12.0
    iso = datetime.fromtimestamp(now + 45, UTC).isoformat().replace("+00:00", "Z")
    assert rate_limit_reset({"X-RateLimit-Reset": iso}, now=now) == pytest.approx(45.0)


def mastodon_post() -> MastodonPost:
    ref = parse_post_url(f"https://masto.example/@poster/{STATUS}")
    assert isinstance(ref, MastodonPost)
    return ref


def status_body(reblogs: int) -> dict[str, object]:
    return {
        "id": STATUS,
        "replies_count": 0,
        "reblogs_count": reblogs,
        "favourites_count": 1,
        "account": {"acct": "poster", "followers_count": 900},
    }


async def test_one_5xx_on_a_social_source_backs_off_from_its_interval() -> None:
    router = Router()
    router.add(f"/api/v1/statuses/{STATUS}", {"error": "boom"}, status=502, headers=far_reset())
    router.add(f"/api/v1/statuses/{STATUS}", status_body(1), headers=far_reset())
    router.add(f"/api/v1/statuses/{STATUS}/reblogged_by", [])
    poller = SourcePoller(MastodonSource("masto", [mastodon_post()], interval=60.0))
    async with router.client() as client:
        assert await poller.poll_once(client, T0) is None
        assert 60.0 <= poller.delay() <= 120.0  # not the 600 s until the window resets
        assert await poller.poll_once(client, T0) is not None
    assert poller.status.state == "ok"


async def test_a_failed_follow_up_keeps_the_counters_and_does_not_wait_for_the_reset() -> None:
    router = Router()
    router.add(f"/api/v1/statuses/{STATUS}", status_body(2), headers=far_reset())
    router.add(
        f"/api/v1/statuses/{STATUS}/reblogged_by", {"error": "x"}, status=500, headers=far_reset()
    )
    poller = SourcePoller(MastodonSource("masto", [mastodon_post()], interval=60.0))
    async with router.client() as client:
        result = await poller.poll_once(client, T0)
    assert result is not None
    reposts = result.frame.filter(result.frame["metric"] == "reposts")["value"].to_list()
    assert reposts == [2.0]
    assert "HTTP 500" in str(result.partial_error)  # kept rows, the rest asked again
    assert poller.status.state == "retrying"
    assert 60.0 <= poller.delay() <= 120.0  # backoff from the interval, not the 600 s reset


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "flaw"),
    [
        (SECRET + "\n", "line break"),
        (SECRET + "\r\n", "line break"),
        ("a\nb" + SECRET, "line break"),
        (SECRET + "é", "non-ASCII"),
        (SECRET + "\x07", "control character"),
    ],
)
def test_a_secret_with_a_line_break_or_non_ascii_is_refused_at_load(
    monkeypatch: pytest.MonkeyPatch, value: str, flaw: str
) -> None:
    monkeypatch.setenv("ENGMON_T", value)
    with pytest.raises(ConfigError) as caught:
        secret("c.toml: sources[0] (x)", "token_env", "ENGMON_T")
    text = str(caught.value)
    assert "ENGMON_T" in text and flaw in text and "\n" not in text
    assert SECRET not in text and "é" not in text


def test_a_printable_secret_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGMON_T", "abc DEF-123_~!")
    assert secret("c.toml: sources[0] (x)", "token_env", "ENGMON_T") == "abc DEF-123_~!"


class _Listener:
    """A loopback socket that accepts connections and answers nothing useful."""

    def __enter__(self) -> str:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


@pytest.mark.parametrize("token", [SECRET + "\n", SECRET + "\r\nX-Evil: 1", SECRET + "é"])
async def test_a_request_header_is_never_echoed_in_the_error(token: str) -> None:
    with _Listener() as url:
        async with httpx.AsyncClient() as client:
            with pytest.raises((SourceUnreachable, Exception)) as caught:
                await fetch_json(
                    client,
                    "GET",
                    url,
                    source="src",
                    timeout=2.0,
                    headers={"Authorization": f"Bearer {token}"},
                )
    text = str(caught.value)
    assert type(caught.value).__module__ == "engmon.errors"
    assert text.startswith("src: ") and SECRET not in text and "é" not in text


async def test_check_fails_a_partial_poll_and_says_what_came_and_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from engmon.config import CampaignConfig
    from engmon.core.campaign import Campaign
    from engmon.watch.check import check_sources

    router = Router()
    router.add(f"/api/v1/statuses/{STATUS}", status_body(2), headers=far_reset())
    router.add(f"/api/v1/statuses/{STATUS}/reblogged_by", {"error": "x"}, status=503)
    monkeypatch.setattr("engmon.watch.check.make_client", router.client)
    source = MastodonSource("masto", [mastodon_post()])
    out = io.StringIO()
    failed = await check_sources(CampaignConfig(tmp_path / "c.toml", Campaign("c"), [source]), out)
    line = out.getvalue()
    assert failed == 1 and line.startswith("FAIL masto (mastodon): ")
    assert "2 reposts" in line and "(mastodon): 1 post(s), public: HTTP 503" in line
