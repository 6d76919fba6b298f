"""Alerts to chat: Slack and Discord incoming webhooks, ntfy topics, a generic JSON POST.

`webhook_request` shapes one alert for one target (pure); `send_webhook` posts it on the
watch's shared `httpx.AsyncClient`, retrying a network failure, HTTP 429 or 5xx with
exponential backoff (tenacity), and returns one line when it finally fails. Callers run it
as a background task, so a slow or dead webhook never holds up a poll or a redraw.

The URL is a secret: it is never printed, logged or put in a message (the target is named
by its environment variable), and httpx's own request log lines for it are dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from engmon import __version__
from engmon.core.alerts import Alert, AlertRunner, WebhookTarget, command_problem

ATTEMPTS: Final = 4
BACKOFF_S: Final = 2.0
"""First wait between tries; it doubles (2, 4, 8 s), capped at BACKOFF_MAX_S."""
BACKOFF_MAX_S: Final = 30.0
TIMEOUT_S: Final = 10.0

_NTFY_TAGS: Final = {"spike": "chart_with_upwards_trend", "flat": "hourglass"}


@dataclass(frozen=True)
class WebhookRequest:
    """The body and headers of one POST."""

    content: bytes
    headers: dict[str, str]


def alert_text(alert: Alert, campaign: str) -> str:
    """The one line every chat gets."""
    return f"engmon {campaign}: {alert.message}" if campaign else f"engmon: {alert.message}"


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel>): escape as its docs ask
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_request(target: WebhookTarget, alert: Alert, campaign: str) -> WebhookRequest:
    """What to POST to `target` for `alert` (campaign names are feed text: no mentions)."""
    text = alert_text(alert, campaign)
    as_json = {"Content-Type": "application/json"}
    if target.kind == "slack":
        body: object = {"text": _slack_escape(text)}
    elif target.kind == "discord":
        body = {"content": text, "allowed_mentions": {"parse": []}}
    elif target.kind == "ntfy":  # a topic URL takes the message as plain text
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": "engmon alert",
            "Tags": _NTFY_TAGS.get(alert.kind, "bell"),
        }
        return WebhookRequest(text.encode(), headers)
    else:
        body = {
            "source": "engmon",
            "version": __version__,
            "campaign": campaign,
            "kind": alert.kind,
            "message": alert.message,
            "at": alert.at.isoformat().replace("+00:00", "Z"),
        }
    return WebhookRequest(json.dumps(body, ensure_ascii=False).encode(), as_json)


class _TryAgain(Exception):
    """A failure worth retrying (network, 429, 5xx); `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Refused(Exception):
    """The receiver said no (4xx, a redirect): retrying would not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _HideUrls(logging.Filter):
    """Drop httpx's INFO line for requests to a webhook (it carries the URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(url in message for url in self.urls)


_HIDE: Final = _HideUrls()
logging.getLogger("httpx").addFilter(_HIDE)


async def _post_once(client: httpx.AsyncClient, target: WebhookTarget, req: WebhookRequest) -> None:
    try:
        response = await client.post(
            target.url,
            content=req.content,
            headers=req.headers,
            timeout=TIMEOUT_S,
            follow_redirects=False,  # a redirect would turn the POST into a GET elsewhere
        )
    except httpx.TransportError as exc:
        # never str(exc): transport errors may quote the URL
        raise _TryAgain(type(exc).__name__) from None
    except httpx.HTTPError as exc:
        raise _Refused(type(exc).__name__) from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise _TryAgain(f"HTTP {status}")
    if status >= 300:
        raise _Refused(f"HTTP {status}")


async def send_webhook(
    client: httpx.AsyncClient,
    target: WebhookTarget,
    alert: Alert,
    campaign: str = "",
    *,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> str | None:
    """Post `alert` to `target`; None once delivered, else one line saying what went wrong."""
    request = webhook_request(target, alert, campaign)
    _HIDE.urls.add(target.url)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_s, max=BACKOFF_MAX_S),
        retry=retry_if_exception_type(_TryAgain),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                await _post_once(client, target, request)
    except _TryAgain as exc:
        tries = "try" if attempts == 1 else "tries"
        return f"alert {target.label} failed: {exc.reason} after {attempts} {tries}"
    except _Refused as exc:
        return f"alert {target.label} refused: {exc.reason}"
    return None


async def send_webhooks(
    client: httpx.AsyncClient,
    targets: Sequence[WebhookTarget],
    alert: Alert,
    campaign: str = "",
    *,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> list[str]:
    """Post `alert` to every target at once; the problems, one line each (empty: all sent)."""
    results = await asyncio.gather(
        *(
            send_webhook(client, t, alert, campaign, attempts=attempts, backoff_s=backoff_s)
            for t in targets
        )
    )
    return [line for line in results if line is not None]


async def deliver_alert(
    client: httpx.AsyncClient, runner: AlertRunner, alert: Alert, campaign: str = ""
) -> list[str]:
    """Post `alert` to the rules' webhooks and run their command, side by side; the
    problems, one line each. Run it in the background (a task or worker)."""

    async def run_command() -> list[str]:
        if not runner.rules.command:
            return []
        code = await runner.run_command(alert, campaign)
        problem = command_problem(runner.rules.command, code)
        return [problem] if problem else []

    hooks, command = await asyncio.gather(
        send_webhooks(client, runner.rules.webhooks, alert, campaign), run_command()
    )
    return hooks + command
