"""HTTP plumbing shared by the API sources: one request, mapped to engmon's source errors.

`fetch_json` sends one request on the shared client with an explicit timeout and turns every
way it can fail into a `SourceError` whose message names the source and never a secret:
connection refused / DNS / timeout -> SourceUnreachable, 401/403 -> SourceAuthError,
404/410 -> SourceNotFound, 429 -> SourceRateLimited (with Retry-After or the reset header),
5xx and non-JSON bodies -> SourceResponseError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx

from engmon.core.bounds import parse_iso
from engmon.errors import (
    SourceAuthError,
    SourceNotFound,
    SourceRateLimited,
    SourceResponseError,
    SourceUnreachable,
)


@dataclass(frozen=True)
class JsonResponse:
    """A decoded JSON body with the response headers (rate limits, Link paging)."""

    body: Any
    headers: httpx.Headers
    status: int


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from an explicit `Retry-After` (seconds or an HTTP date), never negative.

    Only this header says when to retry a failed request; a rate-limit *reset* header says when
    a quota refills, which matters for pacing good polls (`rate_limit_reset`), not for a 5xx.
    """
    current = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - current)
        except (TypeError, ValueError, OverflowError):
            return None


def rate_limit_reset(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds until the rate-limit window resets, from a `*-RateLimit-Reset` header.

    Reset headers are epoch seconds (X, GitHub style) or seconds-from-now (small values) or an
    ISO date (Mastodon); whichever applies, the answer is seconds from now, never negative.
    """
    current = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset"):
        reset = lowered.get(name)
        if not reset:
            continue
        try:
            number = float(reset)
        except ValueError:
            try:
                stamp = parse_iso(reset).timestamp()
            except ValueError:
                continue
            return max(0.0, stamp - current)
        if number > 1_000_000_000:  # an epoch timestamp
            return max(0.0, number - current)
        return max(0.0, number)
    return None


def remaining_quota(headers: Mapping[str, str]) -> int | None:
    """Requests left in the current rate-limit window, where the vendor says."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("x-ratelimit-remaining", "x-rate-limit-remaining", "ratelimit-remaining"):
        if name in lowered:
            try:
                return int(float(lowered[name]))
            except ValueError:
                return None
    return None


def raise_for_status(response: httpx.Response, source: str) -> None:
    """Map an HTTP error status to the matching SourceError (no body, no URL query echoed)."""
    status = response.status_code
    if status < 400:
        return
    where = f"{source}: HTTP {status} from {response.request.url.host}{response.request.url.path}"
    if status in (401, 403):
        raise SourceAuthError(f"{where}: check the token (wrong, expired or lacking scope)")
    if status in (404, 410):
        raise SourceNotFound(f"{where}: not found (deleted, private or a wrong id)")
    if status == 429:  # the quota is spent: its reset is when a retry can succeed
        wait = retry_after(response.headers)
        if wait is None:
            wait = rate_limit_reset(response.headers)
        hint = f"; retry in {wait:.0f}s" if wait is not None else ""
        raise SourceRateLimited(f"{where}: rate limited{hint}", retry_after=wait)
    if status >= 500:  # back off from the interval; only an explicit Retry-After overrides
        raise SourceResponseError(
            f"{where}: server error", retry_after=retry_after(response.headers)
        )
    raise SourceResponseError(f"{where}: request rejected")


async def fetch_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    source: str,
    timeout: float,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
) -> JsonResponse:
    """One request, decoded as JSON; every failure becomes a SourceError naming `source`."""
    try:
        response = await client.request(
            method,
            url,
            params=params,
            headers=headers,
            json=json_body,
            timeout=httpx.Timeout(timeout),
        )
    except httpx.TimeoutException:
        raise SourceUnreachable(f"{source}: no answer within {timeout:g}s") from None
    except httpx.ConnectError as exc:
        raise SourceUnreachable(f"{source}: cannot connect ({transport_reason(exc)})") from None
    except httpx.RequestError as exc:
        raise SourceUnreachable(f"{source}: {transport_reason(exc)}") from None
    except (UnicodeEncodeError, ValueError):  # a header or parameter httpx cannot encode
        raise SourceAuthError(
            f"{source}: a credential or header value is not plain ASCII; fix the variable"
        ) from None
    raise_for_status(response, source)
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise SourceResponseError(
            f"{source}: response from {response.request.url.host} is not JSON"
        ) from exc
    return JsonResponse(body, response.headers, response.status_code)


_TRANSPORT_WORDS: Final[tuple[tuple[type[httpx.RequestError], str], ...]] = (
    (httpx.LocalProtocolError, "request refused before sending: a header value is invalid"),
    (httpx.RemoteProtocolError, "the server broke off the HTTP exchange"),
    (httpx.ConnectError, "connection failed"),
    (httpx.ReadError, "connection lost while reading the answer"),
    (httpx.WriteError, "connection lost while sending the request"),
    (httpx.ProxyError, "the proxy failed"),
    (httpx.UnsupportedProtocol, "unsupported URL scheme"),
    (httpx.DecodingError, "the answer's content encoding is broken"),
    (httpx.TooManyRedirects, "too many redirects"),
)


def transport_reason(exc: BaseException) -> str:
    """A short, fixed description of a failed request: never `str(exc)`.

    httpx/h11 put the offending header value (a Bearer token, a password) into the text of
    `LocalProtocolError`; so the words come from the exception's class, plus the operating
    system's own reason (`Connection refused`, `Name or service not known`) when one is there.
    """
    words = next(
        (text for kind, text in _TRANSPORT_WORDS if isinstance(exc, kind)),
        type(exc).__name__,
    )
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 8:  # httpx -> httpcore -> OSError
        if isinstance(cause, OSError) and cause.strerror:
            return f"{words}: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return words


def shape_error(source: str, what: str) -> SourceResponseError:
    """The error for a response whose shape is not what the vendor documents."""
    return SourceResponseError(f"{source}: unexpected response shape: {what}")


def pace(headers: Mapping[str, str]) -> float | None:
    """Seconds to hold the next poll back after a *successful* answer, from `X-RateLimit-*`.

    When the vendor says no requests are left in the window, wait for its reset; otherwise
    None (poll at the configured interval).
    """
    if remaining_quota(headers) == 0:
        return rate_limit_reset(headers)
    return None
