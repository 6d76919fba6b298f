"""Pieces the post sources (mastodon, bluesky, x) share: rows, paging, caches, rate pacing.

Counters (replies, reposts, quotes, likes, impressions, clicks, the poster's followers) are
emitted as `kind="total"` rows with the post in the `post` dimension: the store turns them into
increments (first sample = level, drops ignored until the counter passes its old high).
Accounts that reshared become `resharers` events, one per (post, account), with the account's
followers in `reach`; the store counts each once however often it is seen again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

import polars as pl

from engmon.core.schema import OBSERVATION_SCHEMA, empty_observations
from engmon.core.words import plural, singular
from engmon.errors import ConfigError, SourceError
from engmon.sources.base import PollResult
from engmon.sources.http import rate_limit_reset, remaining_quota
from engmon.sources.posturl import BlueskyPost, MastodonPost, XPost, parse_post_url

PostT = TypeVar("PostT", MastodonPost, BlueskyPost, XPost)

Page = tuple[list[Any], str | None]
"""One page of a paged listing: its items and the cursor (or URL) of the next older page."""

_LINK: Final = re.compile(r"<([^>]*)>\s*;[^,]*?rel=\"?([a-z ]+)\"?", re.IGNORECASE)


def next_link(headers: Mapping[str, str]) -> str | None:
    """The `rel="next"` URL of an RFC 8288 `Link` header (Mastodon paging), if any."""
    value = {k.lower(): v for k, v in headers.items()}.get("link")
    if not value:
        return None
    for url, rels in _LINK.findall(value):
        if "next" in rels.lower().split():
            return str(url)
    return None


def count(value: object) -> int | None:
    """A non-negative integer count from a JSON value; None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0, int(value))


def total_rows(
    ts: datetime, source: str, post: str, counts: Mapping[str, int | None]
) -> list[dict[str, Any]]:
    """One `total` row per known counter of `post` (absent counters are skipped, not zero)."""
    base = {"ts": ts, "source": source, "kind": "total", "post": post}
    return [
        base | {"metric": metric, "value": float(value)}
        for metric, value in counts.items()
        if value is not None
    ]


LIKERS: Final = "likers"
"""Opt-in events, one per account that liked a post (with its followers): shown, never reach."""


def resharer_row(
    ts: datetime,
    source: str,
    post: str,
    account: str,
    followers: int | None,
    metric: str = "resharers",
) -> dict[str, Any]:
    """One `resharers` event: `account` reshared `post`; its followers are the reach.

    With `metric="likers"` the same shape records a like by `account` (its own id space).
    """
    ident = f"{post}|{account}" if metric == "resharers" else f"{post}|{metric}|{account}"
    return {
        "ts": ts,
        "source": source,
        "kind": "event",
        "metric": metric,
        "value": 1.0,
        "id": ident,
        "post": post,
        "actor": account,
        "reach": followers,
    }


@dataclass(frozen=True)
class Recorded:
    """The accounts one post's `resharers` or `likers` rows already name, and their reach."""

    accounts: frozenset[str]
    reach: int


def recorded_accounts(frame: pl.DataFrame, metric: str = "resharers") -> dict[str, Recorded]:
    """Per post label, the accounts a recording already holds as `metric` events."""
    if frame.is_empty():
        return {}
    per_post = (
        frame.filter((pl.col("kind") == "event") & (pl.col("metric") == metric))
        .filter(pl.col("post").is_not_null() & pl.col("actor").is_not_null())
        .unique(["post", "actor"], keep="first")
        .group_by("post")
        .agg(pl.col("actor"), pl.col("reach").fill_null(0).sum())
    )
    return {
        str(post): Recorded(frozenset(str(a) for a in actors), int(reach))
        for post, actors, reach in per_post.iter_rows()
    }


def rows_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Observation frame of `rows` (dicts with any subset of the schema's columns)."""
    if not rows:
        return empty_observations()
    columns = {name: [row.get(name) for row in rows] for name in OBSERVATION_SCHEMA.names()}
    return pl.DataFrame(columns, schema=OBSERVATION_SCHEMA, strict=False)


def pacing(headers: Mapping[str, str], calls_per_poll: int) -> float | None:
    """Seconds to wait before the next poll so a rate-limit window is never exhausted.

    With R requests left and the window resetting in T seconds, polls needing C calls may come
    every T * C / R seconds; with fewer than C left, wait for the reset. None: no headers.
    """
    left = remaining_quota(headers)
    if left is None:
        return None
    reset = rate_limit_reset(headers)
    if reset is None:
        return None
    if left < calls_per_poll:
        return reset + 1.0
    return reset * calls_per_poll / left


@dataclass(frozen=True)
class WalkStep:
    """What one poll's paging brought: new accounts, pages read, the error that stopped it."""

    fresh: list[Any]
    pages: int
    error: SourceError | None


@dataclass
class ResharerWalk:
    """Who reshared one post, paged newest-first across polls with a bounded page budget.

    The first poll reads the newest page and remembers the cursor of the older pages; each
    later poll re-reads the head (new reshares), follows it down only while every account is
    new, then spends what is left of the budget on the backlog. A post with thousands of
    resharers is thus read a few pages per poll, never in one long stall.
    """

    seen: set[str] = field(default_factory=set)
    pending: list[str] = field(default_factory=list)
    started: bool = False

    @property
    def complete(self) -> bool:
        """Whether the whole listing has been read at least once."""
        return self.started and not self.pending

    async def step(
        self,
        fetch: Callable[[str | None], Awaitable[Page]],
        key: Callable[[Any], str],
        budget: int,
    ) -> WalkStep:
        """Read up to `budget` pages (at least one backlog page after the head re-read, so a
        budget of 1 still makes progress). A failing page (429, 5xx) ends the step without
        losing its cursor or the accounts already read; the error comes back in the result.
        """
        fresh: list[Any] = []
        used = 0
        cursor: str | None = None
        rereading = self.started  # the head is re-read for news; the backlog still moves on
        try:
            while budget - used > 0:
                items, following = await fetch(cursor)
                used += 1
                new = [item for item in items if key(item) not in self.seen]
                self._take(new, key, fresh)
                if not self.started:
                    self.started = True
                    if following and items:
                        self.pending.append(following)
                    break
                if not items or len(new) < len(items) or not following:
                    break  # reached accounts already known: the rest is older
                if budget - used == 0:
                    self.pending.insert(0, following)  # a burst larger than the budget
                    break
                cursor = following
            cursor = None
            backlog = 0
            while self.pending and (budget - used > 0 or (rereading and backlog == 0)):
                items, following = await fetch(self.pending[0])
                self.pending.pop(0)
                used += 1
                backlog += 1
                self._take([i for i in items if key(i) not in self.seen], key, fresh)
                if following and items:
                    self.pending.insert(0, following)
        except SourceError as exc:
            if cursor is not None:
                self.pending.insert(0, cursor)  # resume the interrupted burst next poll
            return WalkStep(fresh, used, exc)
        return WalkStep(fresh, used, None)

    def _take(self, new: Iterable[Any], key: Callable[[Any], str], into: list[Any]) -> None:
        for item in new:
            name = key(item)
            if name not in self.seen:
                self.seen.add(name)
                into.append(item)


@dataclass
class FollowerCache:
    """Followers per account, fetched in batches and refreshed only after `max_age` seconds."""

    max_age: float = 6 * 3600.0
    clock: Callable[[], float] = time.monotonic
    _known: dict[str, tuple[int | None, float]] = field(default_factory=dict)

    def get(self, account: str) -> int | None:
        """Cached followers of `account` (None when unknown or stale)."""
        entry = self._known.get(account)
        if entry is None or self.clock() - entry[1] > self.max_age:
            return None
        return entry[0]

    def has(self, account: str) -> bool:
        """Whether a fresh entry (possibly "unknown followers") exists."""
        entry = self._known.get(account)
        return entry is not None and self.clock() - entry[1] <= self.max_age

    def put(self, account: str, followers: int | None) -> None:
        """Remember `account`'s followers as of now."""
        self._known[account] = (followers, self.clock())

    def missing(self, accounts: Iterable[str]) -> list[str]:
        """Accounts without a fresh entry, in order, without duplicates."""
        out: list[str] = []
        for account in accounts:
            if not self.has(account) and account not in out:
                out.append(account)
        return out


@dataclass
class Every:
    """A cadence: `due(now)` is true at the first call and then every `seconds`."""

    seconds: float
    last: float | None = None

    def due(self, now: float) -> bool:
        """Whether the cadence is due at monotonic `now` (and mark it done if so)."""
        if self.last is None or now - self.last >= self.seconds:
            self.last = now
            return True
        return False


def parse_posts(where: str, urls: list[str], kind: str, expected: type[PostT]) -> list[PostT]:
    """The `posts = [...]` URLs of a source table, parsed and checked to be `kind` posts."""
    if not urls:
        raise ConfigError(f"{where}: key 'posts' is required (a list of {kind} post URLs)")
    posts: list[PostT] = []
    for index, url in enumerate(urls):
        ref = parse_post_url(url, f"{where}: posts[{index}]")
        if not isinstance(ref, expected):
            other = {MastodonPost: "mastodon", BlueskyPost: "bluesky", XPost: "x"}[type(ref)]
            raise ConfigError(
                f"{where}: posts[{index}] {url!r} is a {other} post; list it under a"
                f' [[sources]] table with kind = "{other}"'
            )
        if ref in posts:
            raise ConfigError(f"{where}: posts[{index}] {url!r} is listed twice")
        posts.append(ref)
    return posts


def summary_line(totals: Mapping[str, float], posts: int, extra: Iterable[str] = ()) -> str:
    """`2 posts: 5 replies, 12 reposts, 3 quotes, 40 likes; ...` for check and the watch log."""
    order = ("replies", "reposts", "quotes", "likes", "impressions", "clicks")
    counted = ", ".join(plural(int(totals[m]), singular(m), m) for m in order if m in totals)
    head = f"{posts} post{'s' if posts != 1 else ''}: {counted or 'no counts'}"
    return "; ".join([head, *extra])


def add_counts(into: dict[str, float], counts: Mapping[str, int | None]) -> None:
    """Sum the known counters of one post into a campaign-wide total."""
    for metric, value in counts.items():
        if value is not None:
            into[metric] = into.get(metric, 0.0) + value


def post_result(
    rows: list[dict[str, Any]],
    totals: Mapping[str, float],
    posts: int,
    extra: Iterable[str],
    *,
    reach: float | None,
    posters: PosterFollowers,
    waits: Iterable[float],
    problems: Iterable[SourceError] = (),
) -> PollResult:
    """A social poll's result: its rows, the summary line, the soonest allowed retry and the
    facts `check` and the plain watch print (reach of the resharers, posters' followers).

    `problems`: requests of the poll that failed after others answered (a post, a page of
    resharers, profiles); the first becomes the partial error, the rows are kept."""
    facts = {} if reach is None else {"reach": reach}
    followers = posters.total()
    if followers is not None:
        facts["followers"] = followers
    return PollResult(
        frame=rows_frame(rows),
        summary=summary_line(totals, posts, extra),
        retry_in=max(waits, default=None),
        facts=facts,
        partial_error=next(iter(problems), None),
    )


def reach_text(resharers: int, pending: int) -> str:
    """`12 resharers` (+ how many pages/profiles are still to read).

    The reach itself travels in PollResult.facts["reach"], which `check` and the plain watch
    log print after the summary.
    """
    text = f"{resharers} resharers"
    return f"{text} ({pending} still paging)" if pending else text


@dataclass
class PosterFollowers:
    """Followers of each poster, sampled as one `followers` counter per poster.

    The counter carries the `post` label of the poster's first post seen, so two posts by the
    same account do not count its audience twice, while posters on other platforms add up.
    """

    followers: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def see(self, poster: str, post_label: str, followers: int | None) -> None:
        """Note `poster`'s follower count as seen with one of its posts."""
        if followers is None:
            return
        self.labels.setdefault(poster, post_label)
        self.followers[poster] = followers

    def rows(self, ts: datetime, source: str) -> list[dict[str, Any]]:
        """One `followers` total row per poster."""
        return [
            row
            for poster, value in self.followers.items()
            for row in total_rows(ts, source, self.labels[poster], {"followers": value})
        ]

    def total(self) -> float | None:
        """The audience of all posters, for PollResult.facts (None when unknown)."""
        return float(sum(self.followers.values())) if self.followers else None
