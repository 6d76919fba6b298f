"""Umami: pageviews and sessions of the link's path per minute, breakdowns, active visitors.

- `GET {api}/websites/:id/pageviews?startAt&endAt&unit=minute&timezone=UTC&path=...` answers
  `{"pageviews": [{"x", "y"}], "sessions": [...]}`. The minute unit covers at most 60 minutes,
  so every poll asks for the last `window_minutes` (<= 60) and the store replaces the re-polled
  buckets; when the post is older than that, earlier hours are caught up in 60-minute windows,
  `CATCH_UP_PER_POLL` per poll (at most `backfill_hours`).
- `GET {api}/websites/:id/metrics?type=referrer|country|device&path=...` since the post, on the
  `breakdown_every` cadence, answers `[{"x", "y"}]` (y = visitors).
- `GET {api}/websites/:id/active` answers `{"visitors": n}`: shown as a fact.

Auth: Umami Cloud (`api = "https://api.umami.is/v1"`) takes `x-umami-api-key`; a self-hosted
instance (`api = "https://umami.example.com/api"`) takes a Bearer token from
`POST {api}/auth/login` with a username and password (fetched again after a 401).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.errors import ConfigError, SourceAuthError
from engmon.sources.base import PollResult, Source
from engmon.sources.http import fetch_json, shape_error
from engmon.sources.options import SourceOptions
from engmon.sources.series import (
    breakdown_frame,
    concat_frames,
    describe_frame,
    epoch_ms,
    floor_minute,
    parse_time,
    series_frame,
)

KIND: Final = "umami"
SUMMARY: Final = (
    "Umami (Cloud or self-hosted): pageviews (clicks) and sessions (visitors) of the link's"
    " path per minute, referrer/country/device breakdowns, active visitors"
)
KEYS: Final = {
    "api": "API base: https://api.umami.is/v1 (Cloud, default) or https://HOST/api (self-hosted)",
    "website_id": "the website's id (a UUID, from Umami's website settings)",
    "api_key_env": "Cloud: environment variable holding the API key (x-umami-api-key)",
    "username_env": "self-hosted: environment variable holding the login username",
    "password_env": "self-hosted: environment variable holding the login password",
    "path": "page path to filter on (default: the path of [campaign] link)",
    "path_param": 'query parameter of the path filter: "path" (default) or "url" (Umami < 2025-10)',
    "window_minutes": "minutes re-polled each time, at most 60 (default 60)",
    "backfill_hours": "hours before the watch to catch up in 60-minute windows (default 24)",
    "breakdown_every": "seconds between referrer/country/device breakdowns (default 120)",
}
DEFAULT_INTERVAL: Final = 15.0
SERIES: Final = {"pageviews": "clicks", "sessions": "visitors"}
BREAKDOWNS: Final = ("referrer", "country", "device")
CATCH_UP_PER_POLL: Final = 4  # older hours fetched per poll while catching up


def _points(body: Any, key: str, source: str) -> tuple[list[datetime], list[float]]:
    points = body.get(key) if isinstance(body, dict) else None
    if not isinstance(points, list):
        raise shape_error(source, f"no {key!r} list in the pageviews answer")
    times: list[datetime] = []
    values: list[float] = []
    for point in points:
        if not isinstance(point, dict) or not isinstance(point.get("y"), int | float):
            raise shape_error(source, f"a {key!r} point without a numeric 'y'")
        try:
            times.append(parse_time(point.get("x")))
        except (TypeError, ValueError):
            raise shape_error(source, f"a {key!r} point whose 'x' is not a time") from None
        values.append(float(point["y"]))
    return times, values


class UmamiSource(Source):
    """Polls one path of one Umami website."""

    kind = KIND

    def __init__(
        self,
        name: str,
        *,
        api: str,
        website_id: str,
        path: str,
        post_time: datetime | None,
        api_key: str | None = None,
        login: tuple[str, str] | None = None,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = 10.0,
        window_minutes: int = 60,
        backfill_hours: int = 24,
        breakdown_every: float = 120.0,
        path_param: str = "path",
    ) -> None:
        super().__init__(name, interval=interval, timeout=timeout)
        self.api = api.rstrip("/")
        self.website_id = website_id
        self.path = path
        self.post_time = post_time
        self._api_key = api_key
        self._login = login
        self._token: str | None = None
        self.window = timedelta(minutes=window_minutes)
        self.backfill = timedelta(hours=backfill_hours)
        self.breakdown_every = breakdown_every
        self.path_param = path_param
        self._caught_up_to: datetime | None = None
        self._next_breakdown = 0.0

    def describe(self) -> str:
        auth = "api key" if self._api_key else "login"
        return (
            f"umami {self.name}: website {self.website_id} path {self.path} at {self.api} ({auth})"
        )

    async def _headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        if self._api_key:
            return {"x-umami-api-key": self._api_key, "Accept": "application/json"}
        if self._token is None:
            assert self._login is not None
            username, password = self._login
            answer = await fetch_json(
                client,
                "POST",
                f"{self.api}/auth/login",
                source=self.name,
                timeout=self.timeout,
                json_body={"username": username, "password": password},
            )
            token = answer.body.get("token") if isinstance(answer.body, dict) else None
            if not isinstance(token, str) or not token:
                raise shape_error(self.name, "login answer without a 'token'")
            self._token = token
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    async def _get(self, client: httpx.AsyncClient, endpoint: str, params: dict[str, Any]) -> Any:
        headers = await self._headers(client)
        try:
            answer = await fetch_json(
                client,
                "GET",
                f"{self.api}/websites/{self.website_id}/{endpoint}",
                source=self.name,
                timeout=self.timeout,
                params=params,
                headers=headers,
            )
        except SourceAuthError:
            self._token = None  # an expired login token: log in again on the next poll
            raise
        return answer.body

    async def _series(
        self, client: httpx.AsyncClient, start: datetime, end: datetime
    ) -> pl.DataFrame:
        body = await self._get(
            client,
            "pageviews",
            {
                "startAt": epoch_ms(start),
                "endAt": epoch_ms(end),
                "unit": "minute",
                "timezone": "UTC",
                self.path_param: self.path,
            },
        )
        frames = []
        for key, metric in SERIES.items():
            times, values = _points(body, key, self.name)
            frames.append(series_frame(self.name, metric, times, values, 60, path=self.path))
        return concat_frames(frames)

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """The last `window_minutes` per minute, one older hour if catching up, breakdowns."""
        live_start = floor_minute(now - self.window + timedelta(minutes=1))
        post = floor_minute(self.post_time) if self.post_time else live_start
        post = min(post, floor_minute(now))  # a post time still ahead: start with this minute
        frames = [await self._series(client, max(live_start, post), now)]
        if self._caught_up_to is None:
            self._caught_up_to = max(post, live_start - self.backfill)
        for _ in range(CATCH_UP_PER_POLL):
            if self._caught_up_to >= live_start:
                break
            chunk_end = min(self._caught_up_to + timedelta(minutes=60), live_start)
            end = chunk_end - timedelta(milliseconds=1)
            frames.append(await self._series(client, self._caught_up_to, end))
            self._caught_up_to = chunk_end
        facts: dict[str, float] = {}
        active = await self._get(client, "active", {})
        if isinstance(active, list) and active:  # Umami 1.x answered [{"x": n}]
            active = active[0]
        visitors = active.get("visitors", active.get("x")) if isinstance(active, dict) else None
        if isinstance(visitors, int | float) and not isinstance(visitors, bool):
            facts["active visitors"] = float(visitors)
        if time.monotonic() >= self._next_breakdown:
            self._next_breakdown = time.monotonic() + self.breakdown_every
            for dimension in BREAKDOWNS:
                rows = await self._get(
                    client,
                    "metrics",
                    {
                        "startAt": epoch_ms(post),
                        "endAt": epoch_ms(now),
                        "type": dimension,
                        self.path_param: self.path,
                    },
                )
                if not isinstance(rows, list) or not all(
                    isinstance(r, dict) and isinstance(r.get("y"), int | float) for r in rows
                ):
                    raise shape_error(self.name, f"metrics?type={dimension} is not a list of x/y")
                entries = [(str(r.get("x") or "(none)"), float(r["y"])) for r in rows]
                frames.append(
                    breakdown_frame(self.name, "visitors", dimension, post, entries, path=self.path)
                )
        frame = concat_frames(frames)
        return PollResult(frame=frame, summary=describe_frame(frame), facts=facts)


def build(options: SourceOptions, campaign: Campaign) -> UmamiSource:
    """An UmamiSource from its `[[sources]]` table (Cloud API key or self-hosted login)."""
    name = options.name
    interval = options.interval(DEFAULT_INTERVAL)
    timeout = options.timeout()
    api = options.string("api", "https://api.umami.is/v1")
    website_id = options.string("website_id", required=True)
    path = options.link_path("path", campaign.link)
    window = options.integer("window_minutes", 60, minimum=1)
    if window > 60:
        raise ConfigError(
            f"{options.where}: key 'window_minutes' must be at most 60 (Umami's minute unit"
            f" covers 60 minutes), not {window}"
        )
    backfill = options.integer("backfill_hours", 24, minimum=0)
    path_param = options.choice("path_param", ("path", "url"), "path")
    breakdown_every = options.number("breakdown_every", 120.0, minimum=5.0)
    if options.has("api_key_env"):
        api_key = options.secret("api_key_env")
        login = None
    elif options.has("username_env") or options.has("password_env"):
        username = options.secret("username_env")
        password = options.secret("password_env")
        assert username is not None and password is not None
        api_key, login = None, (username, password)
    else:
        raise ConfigError(
            f"{options.where}: set 'api_key_env' (Umami Cloud) or 'username_env' and"
            " 'password_env' (self-hosted)"
        )
    return UmamiSource(
        name,
        api=api,
        website_id=website_id,
        path=path,
        post_time=campaign.post_time,
        api_key=api_key,
        login=login,
        interval=interval,
        timeout=timeout,
        window_minutes=window,
        backfill_hours=backfill,
        breakdown_every=breakdown_every,
        path_param=path_param,
    )
