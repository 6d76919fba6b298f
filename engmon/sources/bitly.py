"""Bitly v4: clicks on one bitlink per minute, referrer and country breakdowns.

- `GET {api}/bitlinks/{bitlink}/clicks?unit=minute&units=N&unit_reference=NOW` answers
  `{"link_clicks": [{"date", "clicks"}], "unit", "units", "unit_reference"}`: the last N
  minutes, re-polled each time (the store replaces the overlapping buckets).
- `GET {api}/bitlinks/{bitlink}/referrers` and `/countries` with `unit=minute&units=<minutes
  since post>` answer `{"metrics": [{"value", "clicks"}], "facet", ...}`, on the
  `breakdown_every` cadence.

`Authorization: Bearer <token>`. Bitly documents no rate-limit headers, so pacing is by
configuration (`interval`, default 60 s, and `breakdown_every`); a 429 still backs off.

After an outage the clicks request widens `units` to reach back to the last minute recorded
(at most a week, and only as far back as the account's plan keeps minute data), so a
recovered source fills its gap; breakdowns still owed stay owed until each one answered, and a
failed breakdown keeps the poll's clicks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.errors import ConfigError, SourceError
from engmon.sources.base import PollResult, Source
from engmon.sources.http import fetch_json, shape_error
from engmon.sources.options import (
    CommonOptions,
    SourceKind,
    option,
    secret,
)
from engmon.sources.series import (
    breakdown_frame,
    concat_frames,
    describe_frame,
    floor_minute,
    minutes_between,
    parse_time,
    series_frame,
)

KIND: Final = "bitly"
SUMMARY: Final = "Bitly v4: clicks on one bitlink per minute, referrer and country breakdowns"
DEFAULT_INTERVAL: Final = 60.0
BREAKDOWNS: Final = {"referrer": "referrers", "country": "countries"}
MAX_BREAKDOWN_MINUTES: Final = 10_080  # a week of minutes


class BitlySource(Source):
    """Polls the click counts of one bitlink."""

    kind = KIND

    def __init__(
        self,
        name: str,
        *,
        bitlink: str,
        token: str,
        post_time: datetime | None,
        api: str = "https://api-ssl.bitly.com/v4",
        units: int = 60,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = 10.0,
        breakdown_every: float = 300.0,
    ) -> None:
        super().__init__(name, interval=interval, timeout=timeout)
        self.bitlink = bitlink
        self._token = token
        self.post_time = post_time
        self.api = api.rstrip("/")
        self.units = units
        self.breakdown_every = breakdown_every
        self._recorded_to: datetime | None = None  # minute of the last clicks answer
        self._next_breakdown: datetime | None = None  # when the next breakdown round is due
        self._breakdowns_owed: list[str] = []  # dimensions of the round not yet answered

    def describe(self) -> str:
        return f"bitly {self.name}: {self.bitlink} at {self.api}"

    async def _get(self, client: httpx.AsyncClient, what: str, params: dict[str, Any]) -> Any:
        answer = await fetch_json(
            client,
            "GET",
            f"{self.api}/bitlinks/{self.bitlink}/{what}",
            source=self.name,
            timeout=self.timeout,
            params=params,
            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
        )
        if not isinstance(answer.body, dict):
            raise shape_error(self.name, f"{what} answer is not an object")
        return answer.body

    async def _breakdown(
        self, client: httpx.AsyncClient, dimension: str, window: int, start: datetime, now: datetime
    ) -> pl.DataFrame:
        what = BREAKDOWNS[dimension]
        facet = await self._get(
            client, what, {"unit": "minute", "units": window, "unit_reference": bitly_time(now)}
        )
        metrics = facet.get("metrics")
        if not isinstance(metrics, list) or not all(
            isinstance(m, dict) and isinstance(m.get("clicks"), int | float) for m in metrics
        ):
            raise shape_error(self.name, f"{what}: no 'metrics' list of value/clicks")
        entries = [(str(m.get("value") or "(none)"), float(m["clicks"])) for m in metrics]
        return breakdown_frame(self.name, "clicks", dimension, start, entries)

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """The last `units` minutes of clicks (back to the last answer after an outage);
        breakdowns since the post now and then."""
        minute = floor_minute(now)
        since_post = minutes_between(floor_minute(self.post_time or now), minute)
        wanted = self.units
        if self._recorded_to is not None:  # reach back over a gap left by an outage
            wanted = max(wanted, minutes_between(self._recorded_to, minute))
        units = min(wanted, since_post, MAX_BREAKDOWN_MINUTES)
        body = await self._get(
            client, "clicks", {"unit": "minute", "units": units, "unit_reference": bitly_time(now)}
        )
        points = body.get("link_clicks")
        if not isinstance(points, list):
            raise shape_error(self.name, "no 'link_clicks' list in the clicks answer")
        times: list[datetime] = []
        values: list[float] = []
        for point in points:
            if not isinstance(point, dict) or not isinstance(point.get("clicks"), int | float):
                raise shape_error(self.name, "a 'link_clicks' entry without numeric 'clicks'")
            try:
                times.append(floor_minute(parse_time(point.get("date"))))
            except (TypeError, ValueError):
                raise shape_error(
                    self.name, "a 'link_clicks' entry whose 'date' is not a time"
                ) from None
            values.append(float(point["clicks"]))
        frames = [series_frame(self.name, "clicks", times, values, 60)]
        due = self._next_breakdown is None or now >= self._next_breakdown
        if not self._breakdowns_owed and due:
            self._breakdowns_owed = list(BREAKDOWNS)
            self._next_breakdown = now + timedelta(seconds=self.breakdown_every)
        window = min(since_post, MAX_BREAKDOWN_MINUTES)
        start = min(floor_minute(self.post_time or now), minute)
        read: list[str] = []
        problem: SourceError | None = None
        try:
            for dimension in self._breakdowns_owed:
                frames.append(await self._breakdown(client, dimension, window, start, now))
                read.append(dimension)
        except SourceError as exc:  # the clicks stand; this breakdown is asked next poll
            problem = exc
        # progress moves only over the rows returned here
        self._recorded_to = minute
        self._breakdowns_owed = [d for d in self._breakdowns_owed if d not in read]
        frame = concat_frames(frames)
        return PollResult(frame=frame, summary=describe_frame(frame), partial_error=problem)


def bitly_time(moment: datetime) -> str:
    """`2026-11-25T14:05:30+0000`, the timestamp form of Bitly's docs (`unit_reference`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def bitlink_of(link: str | None) -> str | None:
    """`bit.ly/3xYz12` from `https://bit.ly/3xYz12` (Bitly ids are domain/hash)."""
    if not link:
        return None
    parts = urlsplit(link if "//" in link else f"//{link}")
    if not parts.netloc or not parts.path.strip("/"):
        return None
    return f"{parts.netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True, kw_only=True)
class BitlyOptions(CommonOptions):
    """The `[[sources]]` keys of kind `bitly`."""

    interval: float = option(
        DEFAULT_INTERVAL, "seconds between polls", minimum=0.05, maximum=86_400
    )
    bitlink: str | None = option(
        None, "the bitlink without scheme, e.g. bit.ly/3xYz12 (default: [campaign] link)"
    )
    token_env: str = option(help="environment variable holding a Bitly access token (Bearer)")
    api: str = option("https://api-ssl.bitly.com/v4", "API base")
    units: int = option(60, "minutes re-polled each time", minimum=1, maximum=10_080)
    breakdown_every: float = option(
        300.0, "seconds between referrer/country breakdowns", minimum=10.0, maximum=86_400
    )


def make_bitly(options: BitlyOptions, campaign: Campaign, where: str) -> BitlySource:
    """A BitlySource from its checked options."""
    bitlink = bitlink_of(options.bitlink or campaign.link)
    if bitlink is None:
        raise ConfigError(f"{where}: key 'bitlink' is required (e.g. bit.ly/3xYz12)")
    token = secret(where, "token_env", options.token_env)
    assert token is not None
    return BitlySource(
        options.label(),
        bitlink=bitlink,
        token=token,
        post_time=campaign.post_time,
        api=options.api,
        units=options.units,
        interval=options.interval,
        timeout=options.timeout,
        breakdown_every=options.breakdown_every,
    )


SOURCE: Final = SourceKind(KIND, SUMMARY, BitlyOptions, make_bitly)
