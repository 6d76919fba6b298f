"""Plausible Stats API v2: pageviews and visitors of the link's page, in minute buckets.

`POST {url}/api/v2/query` with `Authorization: Bearer <key>`, filtered with
`["is", "event:page", [page]]`. The public API has no per-minute time dimension, so each poll
asks for the aggregate of the *current minute so far* (a datetime `date_range`) and stores it
as that minute's bucket (replaced on every poll until the minute is over). Every minute that
is over is then asked once more whole ("closed"), oldest first, `MAX_CLOSED_PER_POLL` per
poll and only while the hourly budget has room: the minutes since the post (at most
`backfill_minutes` back) when the watch starts, the previous minute on a normal poll, and every
minute missed while Plausible or the network was down, so a recovered source fills its gap.
Result: minute buckets, the current one provisional to within `interval` seconds.

Progress moves with the rows: a minute counts as closed only once its answer is in the poll's
result, and the breakdowns still owed stay owed until each one answered. When a closing or
breakdown request fails, the poll keeps what it already got (the current minute, the minutes
closed before the failure) with the error as a partial result; the rest is asked again on
the next poll.

Referrer source, country, device, browser, OS and utm breakdowns since the post run on their
own slower cadence (`breakdown_every`): the utm one asks for the `visit:utm_source`,
`visit:utm_medium`, `visit:utm_campaign` and `visit:utm_content` dimensions at once. With a
`goal` (a goal name as set up in Plausible), the same cadence asks for the goal's visitors per
`time:hour` since the post (filter `["is", "event:goal", [goal]]`, not limited to the page):
`conversions` buckets of an hour (Plausible answers hours in the site's time zone; engmon
reads them as UTC). Visitors now come from `GET {url}/api/v1/stats/realtime/visitors`
(a bare number: visitors of the last 5 minutes) every `realtime_every` seconds, kept as the
`active` gauge of the minute. Plausible allows 600 requests per hour per key: the configured cadence
is checked against that at start, and a sliding-window budget holds requests back at run time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.schema import ACTIVE, CONVERSIONS, UTM_KEYS
from engmon.errors import ConfigError, SourceError, SourceRateLimited
from engmon.sources.base import PollResult, Source
from engmon.sources.http import fetch_json, shape_error
from engmon.sources.options import (
    CommonOptions,
    SourceKind,
    link_path,
    option,
    secret,
)
from engmon.sources.series import (
    breakdown_frame,
    concat_frames,
    describe_frame,
    floor_minute,
    parse_time,
    series_frame,
    utm_breakdown_frame,
)

KIND: Final = "plausible"
SUMMARY: Final = (
    "Plausible Stats API v2: pageviews (clicks) and visitors of the link's page per minute,"
    " plus source/country/device/browser/OS/utm breakdowns, visitors now and goal conversions"
)
DEFAULT_INTERVAL: Final = 15.0
METRICS: Final = {"pageviews": "clicks", "visitors": "visitors"}
MAX_CLOSED_PER_POLL: Final = 10  # whole minutes closed per poll while catching up
BREAKDOWNS: Final = {
    "referrer": "visit:source",
    "country": "visit:country",
    "device": "visit:device",
    "browser": "visit:browser",
    "os": "visit:os",
}
UTM_DIMENSIONS: Final = tuple(f"visit:{key}" for key in UTM_KEYS)
"""Asked together: one row per combination of tags, in `UTM_KEYS` order."""


class RequestBudget:
    """At most `limit` requests in any `period` seconds (a sliding window of send times)."""

    def __init__(
        self, limit: int, period: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sent: deque[float] = deque()

    def wait_needed(self, requests: int = 1) -> float:
        """Seconds until `requests` more may go out (0 when they may go now)."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.period:
            self._sent.popleft()
        overflow = len(self._sent) + requests - self.limit
        if overflow <= 0:
            return 0.0
        return self._sent[overflow - 1] + self.period - now

    def spend(self, requests: int = 1) -> None:
        """Note `requests` sent now."""
        now = self._clock()
        self._sent.extend([now] * requests)


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


class PlausibleSource(Source):
    """Polls one page of one Plausible site."""

    kind = KIND

    def __init__(
        self,
        name: str,
        *,
        url: str,
        site_id: str,
        key: str,
        page: str,
        post_time: datetime | None,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = 10.0,
        breakdown_every: float = 300.0,
        hourly_limit: int = 600,
        backfill_minutes: int = 60,
        goal: str | None = None,
        realtime_every: float | None = 60.0,
    ) -> None:
        super().__init__(name, interval=interval, timeout=timeout)
        self.endpoint = url.rstrip("/") + "/api/v2/query"
        self.realtime_endpoint = url.rstrip("/") + "/api/v1/stats/realtime/visitors"
        self.goal = goal
        self.realtime_every = realtime_every
        self._next_realtime = 0.0
        self.site_id = site_id
        self._key = key
        self.page = page
        self.post_time = post_time
        self.breakdown_every = breakdown_every
        self.budget = RequestBudget(hourly_limit)
        self.backfill = timedelta(minutes=backfill_minutes)
        self._open_from: datetime | None = None  # minutes before this one are closed
        self._next_breakdown: datetime | None = None  # when the next breakdown round is due
        self._breakdowns_owed: list[str] = []  # dimensions of the round not yet answered

    def describe(self) -> str:
        return f"plausible {self.name}: site {self.site_id} page {self.page} at {self.endpoint}"

    async def _query(
        self,
        client: httpx.AsyncClient,
        start: datetime,
        end: datetime,
        dimension: str | None,
        *,
        dimensions: Sequence[str] = (),
        filters: list[Any] | None = None,
    ) -> list[dict[str, Any]]:
        wait = self.budget.wait_needed()
        if wait > 0:
            raise SourceRateLimited(
                f"{self.name}: hourly request budget used up; next request in {wait:.0f}s",
                retry_after=wait,
            )
        body: dict[str, Any] = {
            "site_id": self.site_id,
            "metrics": list(METRICS),
            "date_range": [_stamp(start), _stamp(end)],
            "filters": [["is", "event:page", [self.page]]] if filters is None else filters,
        }
        asked = [dimension] if dimension else list(dimensions)
        if asked:
            body["dimensions"] = asked
        self.budget.spend()
        answer = await fetch_json(
            client,
            "POST",
            self.endpoint,
            source=self.name,
            timeout=self.timeout,
            headers={"Authorization": f"Bearer {self._key}"},
            json_body=body,
        )
        results = answer.body.get("results") if isinstance(answer.body, dict) else None
        if not isinstance(results, list):
            raise shape_error(self.name, "no 'results' list in the query answer")
        for row in results:
            metrics = row.get("metrics") if isinstance(row, dict) else None
            if not isinstance(metrics, list) or len(metrics) != len(METRICS):
                raise shape_error(self.name, "a result without two 'metrics' values")
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics):
                raise shape_error(self.name, "a non-numeric metric value")
            dims = row.get("dimensions", [])
            if not isinstance(dims, list) or len(dims) != len(asked):
                raise shape_error(self.name, "unexpected 'dimensions' in a result")
        return results

    def _minute_frame(self, minute: datetime, results: list[dict[str, Any]]) -> pl.DataFrame:
        values = results[0]["metrics"] if results else [0] * len(METRICS)
        frames = [
            series_frame(self.name, metric, [minute], [values[i]], 60, path=self.page)
            for i, metric in enumerate(METRICS.values())
        ]
        return concat_frames(frames)

    def _breakdown_frames(
        self, dimension: str, start: datetime, rows: list[dict[str, Any]]
    ) -> list[pl.DataFrame]:
        entries = [(str(row["dimensions"][0]), row["metrics"]) for row in rows]
        return [
            breakdown_frame(
                self.name,
                metric,
                dimension,
                floor_minute(start),
                [(label, values[i]) for label, values in entries],
                path=self.page,
            )
            for i, metric in enumerate(METRICS.values())
        ]

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """The current minute so far, the minutes over and not yet closed, breakdowns when due."""
        minute = floor_minute(now)
        post = floor_minute(self.post_time) if self.post_time else minute
        open_from = self._open_from
        if open_from is None:  # first poll: the minutes since the post, or the one before
            open_from = min(minute - timedelta(minutes=1), max(post, minute - self.backfill))
        current = await self._query(client, minute, now, dimension=None)
        frames = [self._minute_frame(minute, current)]
        problem: SourceError | None = None
        closed = 0
        try:
            while open_from < minute and closed < MAX_CLOSED_PER_POLL:
                if self.budget.wait_needed() > 0:
                    break  # the budget is for the current minute first; close them later
                whole = await self._query(
                    client, open_from, open_from + timedelta(seconds=59), dimension=None
                )
                frames.append(self._minute_frame(open_from, whole))
                open_from += timedelta(minutes=1)
                closed += 1
        except SourceError as exc:  # keep what this poll got; the rest is asked next poll
            problem = exc
        start = min(post, minute)
        realtime_due = self.realtime_every is not None and time.monotonic() >= self._next_realtime
        if problem is None and realtime_due and self.budget.wait_needed() == 0:
            try:
                frames.append(await self._visitors_now(client, now))
                self._next_realtime = time.monotonic() + (self.realtime_every or 0.0)
            except SourceError as exc:
                problem = exc
        due = self._next_breakdown is None or now >= self._next_breakdown
        if problem is None and not self._breakdowns_owed and due:
            self._breakdowns_owed = [*BREAKDOWNS, "utm", *(["goal"] if self.goal else [])]
            self._next_breakdown = now + timedelta(seconds=self.breakdown_every)
        read: list[str] = []
        for dimension in self._breakdowns_owed if problem is None else []:
            if self.budget.wait_needed() > 0:
                break
            try:
                if dimension == "utm":
                    frames.append(await self._utm(client, start, now))
                elif dimension == "goal":
                    frames.append(await self._conversions(client, start, now))
                else:
                    rows = await self._query(client, start, now, dimension=BREAKDOWNS[dimension])
                    frames += self._breakdown_frames(dimension, start, rows)
            except SourceError as exc:
                problem = exc
                break
            read.append(dimension)
        # progress moves only over the rows returned here
        self._open_from = open_from
        self._breakdowns_owed = [d for d in self._breakdowns_owed if d not in read]
        frame = concat_frames(frames)
        return PollResult(frame=frame, summary=describe_frame(frame), partial_error=problem)

    @property
    def breakdowns_per_cycle(self) -> int:
        """Requests of one breakdown cycle (each dimension, the utm tags, the goal)."""
        return len(BREAKDOWNS) + 1 + (1 if self.goal else 0)

    async def _utm(self, client: httpx.AsyncClient, start: datetime, now: datetime) -> pl.DataFrame:
        """Visitors and pageviews per combination of utm tags since the post."""
        rows = await self._query(client, start, now, None, dimensions=UTM_DIMENSIONS)
        frames = []
        for i, metric in enumerate(METRICS.values()):
            entries = [
                (
                    "&".join(f"{k}={v}" for k, v in zip(UTM_KEYS, row["dimensions"], strict=True)),
                    row["metrics"][i],
                )
                for row in rows
            ]
            frames.append(
                utm_breakdown_frame(self.name, metric, floor_minute(start), entries, path=self.page)
            )
        return concat_frames(frames)

    async def _conversions(
        self, client: httpx.AsyncClient, start: datetime, now: datetime
    ) -> pl.DataFrame:
        """The goal's visitors per hour since the post (`conversions` buckets of an hour)."""
        rows = await self._query(
            client,
            floor_minute(start).replace(minute=0),
            now,
            "time:hour",
            filters=[["is", "event:goal", [self.goal]]],
        )
        times: list[datetime] = []
        values: list[float] = []
        for row in rows:
            try:
                times.append(parse_time(row["dimensions"][0]))
            except (TypeError, ValueError):
                raise shape_error(self.name, "a time:hour dimension that is not a time") from None
            values.append(float(row["metrics"][list(METRICS).index("visitors")]))
        return series_frame(self.name, CONVERSIONS, times, values, 3600)

    async def _visitors_now(self, client: httpx.AsyncClient, now: datetime) -> pl.DataFrame:
        """Plausible's realtime visitors (last 5 minutes) as this minute's `active` gauge."""
        self.budget.spend()
        answer = await fetch_json(
            client,
            "GET",
            self.realtime_endpoint,
            source=self.name,
            timeout=self.timeout,
            params={"site_id": self.site_id},
            headers={"Authorization": f"Bearer {self._key}"},
        )
        count = answer.body
        if not isinstance(count, int | float) or isinstance(count, bool):
            raise shape_error(self.name, "realtime/visitors did not answer a number")
        return series_frame(self.name, ACTIVE, [floor_minute(now)], [float(count)], 60)


@dataclass(frozen=True, kw_only=True)
class PlausibleOptions(CommonOptions):
    """The `[[sources]]` keys of kind `plausible`."""

    interval: float = option(
        DEFAULT_INTERVAL, "seconds between polls", minimum=0.05, maximum=86_400
    )
    url: str = option("https://plausible.io", "Plausible base URL (your own host if self-hosted)")
    site_id: str = option(help="the site's domain as registered in Plausible (e.g. example.com)")
    key_env: str = option(help="environment variable holding a Stats API key (Bearer)")
    page: str | None = option(None, "page path to filter on (default: the path of [campaign] link)")
    breakdown_every: float = option(
        300.0, "seconds between source/country/device breakdowns", minimum=10.0, maximum=86_400
    )
    hourly_limit: int = option(600, "requests per hour allowed for the key", minimum=1)
    goal: str | None = option(
        None, "a goal's name as set up in Plausible: its visitors per hour are conversions"
    )
    realtime_every: float = option(
        60.0,
        "seconds between asks for the realtime visitors (visitors now)",
        minimum=10.0,
        maximum=86_400,
    )
    backfill_minutes: int = option(
        60, "minutes since the post asked at start (one request each)", minimum=0, maximum=1440
    )


def make_plausible(options: PlausibleOptions, campaign: Campaign, where: str) -> PlausibleSource:
    """A PlausibleSource from its checked options."""
    interval, breakdown_every = options.interval, options.breakdown_every
    # current minute every interval, the closed minute once a minute, the breakdowns of a
    # cycle (each dimension, the utm tags, the goal), the realtime visitors
    cycle = len(BREAKDOWNS) + 1 + (1 if options.goal else 0)
    per_hour = 3600 / interval + 60 + cycle * 3600 / breakdown_every + 3600 / options.realtime_every
    if per_hour > options.hourly_limit:
        raise ConfigError(
            f"{where}: key 'interval' = {interval:g}s would need about {per_hour:.0f}"
            f" requests/hour, over Plausible's {options.hourly_limit}; raise interval or"
            " breakdown_every"
        )
    key = secret(where, "key_env", options.key_env)
    assert key is not None
    return PlausibleSource(
        options.label(),
        url=options.url,
        site_id=options.site_id,
        key=key,
        page=link_path(where, "page", options.page, campaign.link),
        post_time=campaign.post_time,
        interval=interval,
        timeout=options.timeout,
        breakdown_every=breakdown_every,
        hourly_limit=options.hourly_limit,
        backfill_minutes=options.backfill_minutes,
        goal=options.goal,
        realtime_every=options.realtime_every,
    )


SOURCE: Final = SourceKind(KIND, SUMMARY, PlausibleOptions, make_plausible)
