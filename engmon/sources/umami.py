"""Umami: pageviews and sessions of the link's path per minute, breakdowns, active visitors.

- `GET {api}/websites/:id/pageviews?startAt&endAt&unit=minute&timezone=UTC&path=...` answers
  `{"pageviews": [{"x", "y"}], "sessions": [...]}`. The minute unit covers at most 60 minutes,
  so every poll asks for the last `window_minutes` (<= 60) and the store replaces the re-polled
  buckets; when the post is older than that, earlier hours are caught up in 60-minute windows,
  `CATCH_UP_PER_POLL` per poll (at most `backfill_hours`). An outage longer than the window
  leaves minutes that are caught up the same way once Umami answers again.
- `GET {api}/websites/:id/metrics?type=referrer|country|device&path=...` since the post, on the
  `breakdown_every` cadence, answers `[{"x", "y"}]` (y = visitors).
- `GET {api}/websites/:id/active` answers `{"visitors": n}`: shown as a fact and kept as the
  `active` gauge of the minute (visitors now, replayable from the recording).
- `metrics?type=browser|os` break visitors down by browser and OS; `metrics?type=query` gives
  the query strings, whose utm_* tags become the `utm` breakdown.
- with a `goal` (an event name), `GET {api}/websites/:id/events/series?unit=hour` since the
  post answers `[{"x": event, "t", "y"}]`: the goal's hourly counts are `conversions` buckets.

Auth: Umami Cloud (`api = "https://api.umami.is/v1"`) takes `x-umami-api-key`; a self-hosted
instance (`api = "https://umami.example.com/api"`) takes a Bearer token from
`POST {api}/auth/login` with a username and password (fetched again after a 401).

Progress moves with the rows: the caught-up mark passes a window only once its answer is in
the poll's result, and breakdowns still owed stay owed until each one answered. When a
catch-up, `active` or breakdown request fails, the poll keeps what it already got and says
the error as a partial result; the rest is asked again on the next poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.schema import ACTIVE, CONVERSIONS
from engmon.errors import ConfigError, SourceAuthError, SourceError
from engmon.sources.base import PollResult, Source
from engmon.sources.http import fetch_json, shape_error
from engmon.sources.options import (
    CommonOptions,
    SourceKind,
    interval_option,
    link_path,
    option,
    secret,
)
from engmon.sources.series import (
    breakdown_frame,
    concat_frames,
    describe_frame,
    epoch_ms,
    floor_minute,
    parse_time,
    series_frame,
    utm_breakdown_frame,
)

KIND: Final = "umami"
SUMMARY: Final = (
    "Umami (Cloud or self-hosted): pageviews (clicks) and sessions (visitors) of the link's"
    " path per minute, referrer/country/device/browser/OS/utm breakdowns, visitors now,"
    " conversions (a goal event)"
)
DEFAULT_INTERVAL: Final = 15.0
SERIES: Final = {"pageviews": "clicks", "sessions": "visitors"}
BREAKDOWNS: Final = ("referrer", "country", "device", "browser", "os")
QUERY_BREAKDOWN: Final = "query"  # query strings: their utm_* tags become the utm breakdown
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
        goal: str | None = None,
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
        self.goal = goal
        self._filled_to: datetime | None = None  # minutes before this one are recorded
        self._next_breakdown: datetime | None = None  # when the next breakdown round is due
        self._breakdowns_owed: list[str] = []  # dimensions of the round not yet answered

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

    async def _utm(self, client: httpx.AsyncClient, post: datetime, now: datetime) -> pl.DataFrame:
        """The `utm` breakdown out of `metrics?type=query` (visitors per query string)."""
        rows = await self._get(
            client,
            "metrics",
            {
                "startAt": epoch_ms(post),
                "endAt": epoch_ms(now),
                "type": QUERY_BREAKDOWN,
                self.path_param: self.path,
            },
        )
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and isinstance(r.get("y"), int | float) for r in rows
        ):
            raise shape_error(self.name, "metrics?type=query is not a list of x/y")
        queries = [(str(r.get("x") or ""), float(r["y"])) for r in rows]
        return utm_breakdown_frame(self.name, "visitors", post, queries, path=self.path)

    async def _conversions(
        self, client: httpx.AsyncClient, post: datetime, now: datetime
    ) -> pl.DataFrame:
        """Hourly counts of the goal event since the post, as `conversions` buckets."""
        rows = await self._get(
            client,
            "events/series",
            {"startAt": epoch_ms(post), "endAt": epoch_ms(now), "unit": "hour", "timezone": "UTC"},
        )
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise shape_error(self.name, "events/series is not a list of x/t/y")
        times: list[datetime] = []
        values: list[float] = []
        for row in rows:
            if row.get("x") != self.goal:
                continue
            if not isinstance(row.get("y"), int | float):
                raise shape_error(self.name, "an events/series point without a numeric 'y'")
            try:
                times.append(parse_time(row.get("t")))
            except (TypeError, ValueError):
                raise shape_error(
                    self.name, "an events/series point whose 't' is not a time"
                ) from None
            values.append(float(row["y"]))
        return series_frame(self.name, CONVERSIONS, times, values, 3600)

    async def _active(self, client: httpx.AsyncClient) -> float | None:
        active = await self._get(client, "active", {})
        if isinstance(active, list) and active:  # Umami 1.x answered [{"x": n}]
            active = active[0]
        visitors = active.get("visitors", active.get("x")) if isinstance(active, dict) else None
        if isinstance(visitors, int | float) and not isinstance(visitors, bool):
            return float(visitors)
        return None

    async def _breakdown(
        self, client: httpx.AsyncClient, dimension: str, post: datetime, now: datetime
    ) -> pl.DataFrame:
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
        return breakdown_frame(self.name, "visitors", dimension, post, entries, path=self.path)

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """The last `window_minutes` per minute, older hours if catching up, breakdowns."""
        live_start = floor_minute(now - self.window + timedelta(minutes=1))
        post = floor_minute(self.post_time) if self.post_time else live_start
        post = min(post, floor_minute(now))  # a post time still ahead: start with this minute
        frames = [await self._series(client, max(live_start, post), now)]
        filled = self._filled_to
        if filled is None:
            filled = max(post, live_start - self.backfill)
        problem: SourceError | None = None
        try:
            # minutes older than the live window not recorded yet: the backfill at start, and
            # whatever an outage longer than the window left out
            for _ in range(CATCH_UP_PER_POLL):
                if filled >= live_start:
                    break
                chunk_end = min(filled + timedelta(minutes=60), live_start)
                end = chunk_end - timedelta(milliseconds=1)
                frames.append(await self._series(client, filled, end))
                filled = chunk_end
        except SourceError as exc:  # keep what this poll got; the rest is asked next poll
            problem = exc
        if filled >= live_start:  # no gap left: everything before this minute is recorded
            filled = max(filled, floor_minute(now))
        facts: dict[str, float] = {}
        due = self._next_breakdown is None or now >= self._next_breakdown
        if problem is None and not self._breakdowns_owed and due:
            self._breakdowns_owed = [*BREAKDOWNS, "utm", *(["goal"] if self.goal else [])]
            self._next_breakdown = now + timedelta(seconds=self.breakdown_every)
        read: list[str] = []
        if problem is None:
            try:
                visitors = await self._active(client)
                if visitors is not None:
                    facts["active visitors"] = visitors
                    now_minute = floor_minute(now)
                    frames.append(series_frame(self.name, ACTIVE, [now_minute], [visitors], 60))
                for dimension in self._breakdowns_owed:
                    if dimension == "utm":
                        frames.append(await self._utm(client, post, now))
                    elif dimension == "goal":
                        frames.append(await self._conversions(client, post, now))
                    else:
                        frames.append(await self._breakdown(client, dimension, post, now))
                    read.append(dimension)
            except SourceError as exc:
                problem = exc
        # progress moves only over the rows returned here
        self._filled_to = filled
        self._breakdowns_owed = [d for d in self._breakdowns_owed if d not in read]
        frame = concat_frames(frames)
        return PollResult(
            frame=frame, summary=describe_frame(frame), facts=facts, partial_error=problem
        )


@dataclass(frozen=True, kw_only=True)
class UmamiOptions(CommonOptions):
    """The `[[sources]]` keys of kind `umami`."""

    interval: float = interval_option(15.0)
    api: str = option(
        "https://api.umami.is/v1",
        "API base: https://api.umami.is/v1 (Cloud) or https://HOST/api (self-hosted)",
    )
    website_id: str = option(help="the website's id (a UUID, from Umami's website settings)")
    api_key_env: str | None = option(
        None, "Cloud: environment variable holding the API key (x-umami-api-key)"
    )
    username_env: str | None = option(
        None, "self-hosted: environment variable holding the login username"
    )
    password_env: str | None = option(
        None, "self-hosted: environment variable holding the login password"
    )
    path: str | None = option(None, "page path to filter on (default: the path of [campaign] link)")
    path_param: str = option(
        "path",
        'query parameter of the path filter ("url" for Umami < 2025-10)',
        choices=("path", "url"),
    )
    window_minutes: int = option(
        60, "minutes re-polled each time (Umami's minute unit covers 60)", minimum=1, maximum=60
    )
    backfill_hours: int = option(
        24, "hours before the watch to catch up in 60-minute windows", minimum=0, maximum=24 * 90
    )
    breakdown_every: float = option(
        120.0, "seconds between referrer/country/device breakdowns", minimum=5.0, maximum=86_400
    )
    goal: str | None = option(
        None, "name of the event that means converted: its hourly counts are conversions"
    )


def make_umami(options: UmamiOptions, campaign: Campaign, where: str) -> UmamiSource:
    """An UmamiSource from its checked options (Cloud API key or self-hosted login)."""
    if options.api_key_env is not None:
        api_key = secret(where, "api_key_env", options.api_key_env)
        login = None
    elif options.username_env is not None or options.password_env is not None:
        username = secret(where, "username_env", options.username_env)
        password = secret(where, "password_env", options.password_env)
        assert username is not None and password is not None
        api_key, login = None, (username, password)
    else:
        raise ConfigError(
            f"{where}: set 'api_key_env' (Umami Cloud) or 'username_env' and"
            " 'password_env' (self-hosted)"
        )
    return UmamiSource(
        options.label(),
        api=options.api,
        website_id=options.website_id,
        path=link_path(where, "path", options.path, campaign.link),
        post_time=campaign.post_time,
        api_key=api_key,
        login=login,
        interval=options.interval,
        timeout=options.timeout,
        window_minutes=options.window_minutes,
        backfill_hours=options.backfill_hours,
        breakdown_every=options.breakdown_every,
        path_param=options.path_param,
        goal=options.goal,
    )


SOURCE: Final = SourceKind(KIND, SUMMARY, UmamiOptions, make_umami)
