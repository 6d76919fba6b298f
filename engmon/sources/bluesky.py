"""Bluesky posts through the public AppView (no login): counters, reposters, quoters, reach.

Per poll: handles in post URLs are resolved once to DIDs (`com.atproto.identity.resolveHandle`);
`app.bsky.feed.getPosts` (25 AT-URIs per call) gives replyCount/repostCount/quoteCount/likeCount
-- each optional in the lexicon, so an absent count is skipped, never read as 0 -- as total
rows. `getRepostedBy` (cursor paging, a few pages per poll) lists reposters without timestamps:
a repost's time is the poll that first saw it. `getQuotes` lists quote posts (their own
`indexedAt` is the time). Reposters and quoters are `resharers` events once their followers
are known from `app.bsky.actor.getProfiles` (25 actors per call, cached for hours); the
poster's followers come from the same call every `followers_every` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.errors import SourceError, SourceNotFound, SourceResponseError
from engmon.sources.base import PollResult, Source
from engmon.sources.http import JsonResponse, fetch_json, shape_error
from engmon.sources.options import (
    CommonOptions,
    SourceKind,
    interval_option,
    option,
)
from engmon.sources.posturl import BlueskyPost
from engmon.sources.series import parse_time
from engmon.sources.social import (
    LIKERS,
    Every,
    FollowerCache,
    Page,
    PosterFollowers,
    ResharerWalk,
    WalkStep,
    add_counts,
    count,
    pacing,
    parse_posts,
    post_result,
    reach_text,
    recorded_accounts,
    resharer_row,
    total_rows,
)

KIND: Final = "bluesky"
SUMMARY: Final = "Bluesky posts (public AppView): replies, reposts, quotes, likes, reach"
DEFAULT_API: Final = "https://public.api.bsky.app"
BATCH: Final = 25  # getPosts uris / getProfiles actors per call (lexicon maxLength)
PAGE_SIZE: Final = 100


@dataclass
class _PostState:
    reposts: ResharerWalk = field(default_factory=ResharerWalk)
    quotes: ResharerWalk = field(default_factory=ResharerWalk)
    waiting: dict[str, datetime] = field(default_factory=dict)  # did -> when it reshared
    emitted: set[str] = field(default_factory=set)  # reposted and quoted: one resharer
    likes: ResharerWalk = field(default_factory=ResharerWalk)
    liker_waiting: dict[str, datetime] = field(default_factory=dict)  # did -> createdAt
    resharers: int = 0
    reach: int = 0


class BlueskySource(Source):
    """Polls one or more Bluesky posts through an AppView."""

    kind = KIND

    def __init__(
        self,
        name: str,
        posts: list[BlueskyPost],
        *,
        api_url: str = DEFAULT_API,
        interval: float = 60.0,
        timeout: float = 10.0,
        resharers: bool = True,
        likers: bool = False,
        pages_per_poll: int = 2,
        profiles_per_poll: int = 4,
        followers_every: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, interval=interval, timeout=timeout)
        self.posts = posts
        self.api_url = api_url.rstrip("/")
        self.resharers = resharers
        self.likers = likers
        self.pages_per_poll = pages_per_poll
        self.profiles_per_poll = profiles_per_poll
        self._followers_due = Every(followers_every)
        self._monotonic = monotonic
        self._dids: dict[str, str] = {}
        self._state = {post: _PostState() for post in posts}
        self.profiles = FollowerCache(clock=monotonic)
        self._posters = PosterFollowers()
        self._waits: list[float] = []
        self._paging_errors: list[SourceError] = []

    def resume(self, recorded: pl.DataFrame) -> None:
        """Reposters, quoters and likers already recorded are not written again after a
        restart (their DIDs are the recorded actors)."""
        resharers = recorded_accounts(recorded)
        likers = recorded_accounts(recorded, LIKERS)
        for post, state in self._state.items():
            if post.label in resharers:
                known = resharers[post.label]
                state.emitted |= known.accounts
                state.reposts.seen |= known.accounts
                state.quotes.seen |= known.accounts
                state.resharers, state.reach = len(known.accounts), known.reach
            if post.label in likers:
                state.likes.seen |= likers[post.label].accounts

    def describe(self) -> str:
        """One line for `check`."""
        return f"bluesky {self.name}: {len(self.posts)} post(s) via {self.api_url}"

    async def _xrpc(self, client: httpx.AsyncClient, method: str, params: Any) -> JsonResponse:
        response = await fetch_json(
            client,
            "GET",
            f"{self.api_url}/xrpc/{method}",
            source=self.name,
            timeout=self.timeout,
            params=params,
            headers={"Accept": "application/json"},
        )
        if not isinstance(response.body, dict):
            raise shape_error(self.name, f"{method} did not return an object")
        wait = pacing(response.headers, 2 + 2 * self.pages_per_poll)
        if wait is not None:
            self._waits.append(wait)
        return response

    async def _did(self, client: httpx.AsyncClient, post: BlueskyPost) -> str:
        if post.actor.startswith("did:"):
            return post.actor
        if post.actor not in self._dids:
            try:
                response = await self._xrpc(
                    client, "com.atproto.identity.resolveHandle", {"handle": post.actor}
                )
            except SourceResponseError as exc:
                if "HTTP 400" in str(exc):  # the AppView's "Unable to resolve handle"
                    raise SourceNotFound(
                        f"{self.name}: handle not found: {post.actor!r} does not resolve;"
                        f" check {post.url}"
                    ) from exc
                raise
            did = response.body.get("did")
            if not isinstance(did, str) or not did.startswith("did:"):
                raise shape_error(self.name, f"resolveHandle gave no DID for {post.actor}")
            self._dids[post.actor] = did
        return self._dids[post.actor]

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """Counters of every post, new reposters/quoters, followers where due."""
        self._waits = []
        self._paging_errors = []
        by_uri = {post.at_uri(await self._did(client, post)): post for post in self.posts}
        views: dict[str, dict[str, Any]] = {}
        uri_list = list(by_uri)
        for start in range(0, len(uri_list), BATCH):
            body = (
                await self._xrpc(
                    client, "app.bsky.feed.getPosts", {"uris": uri_list[start : start + BATCH]}
                )
            ).body
            found = body.get("posts")
            if not isinstance(found, list):
                raise shape_error(self.name, "getPosts without a posts list")
            views.update({v["uri"]: v for v in found if isinstance(v, dict) and "uri" in v})
        missing = [by_uri[uri] for uri in by_uri if uri not in views]
        if len(missing) == len(by_uri):
            raise SourceNotFound(
                f"{self.name}: post not found (deleted, or hidden from logged-out viewers):"
                f" {missing[0].url}"
            )
        rows: list[dict[str, Any]] = []
        totals: dict[str, float] = {}
        posters: dict[BlueskyPost, str] = {}
        for uri, view in views.items():
            post = by_uri[uri]
            counts = {
                "replies": count(view.get("replyCount")),
                "reposts": count(view.get("repostCount")),
                "quotes": count(view.get("quoteCount")),
                "likes": count(view.get("likeCount")),
            }
            rows += total_rows(now, self.name, post.label, counts)
            add_counts(totals, counts)
            author = view.get("author")
            if isinstance(author, dict) and isinstance(author.get("did"), str):
                posters[post] = author["did"]
            if self.resharers or self.likers:
                await self._read_resharers(client, uri, self._state[post], now)
        followers_due = self._followers_due.due(self._monotonic())
        try:
            await self._read_profiles(client, list(posters.values()) if followers_due else [])
        except SourceError as exc:  # counters still count; profiles come next poll
            self._note_paging(exc)
        for post, did in posters.items():
            self._posters.see(did, post.label, self.profiles.get(did))
        if followers_due:
            rows += self._posters.rows(now, self.name)
        for uri in views:
            self._emit_ready(by_uri[uri], rows)
        states = self._state.values()
        extra = [
            reach_text(
                sum(s.resharers for s in states),
                sum(
                    len(s.reposts.pending) + len(s.quotes.pending) + len(s.waiting) for s in states
                ),
            )
        ]
        extra += [f"post {post.url} not found" for post in missing]
        return post_result(
            rows,
            totals,
            len(views),
            extra,
            reach=float(sum(s.reach for s in states)),
            posters=self._posters,
            waits=self._waits,
            problems=self._paging_errors,
        )

    async def _read_resharers(
        self, client: httpx.AsyncClient, uri: str, state: _PostState, now: datetime
    ) -> None:
        """Queue reposters (seen now) and quoters (at their post's time) for a profile lookup."""

        async def reposted_by(cursor: str | None) -> Page:
            params = {"uri": uri, "limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
            body = (await self._xrpc(client, "app.bsky.feed.getRepostedBy", params)).body
            actors = body.get("repostedBy")
            if not isinstance(actors, list):
                raise shape_error(self.name, "getRepostedBy without repostedBy")
            items = [a for a in actors if isinstance(a, dict) and isinstance(a.get("did"), str)]
            return items, _cursor(body)

        async def quotes(cursor: str | None) -> Page:
            params = {"uri": uri, "limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
            body = (await self._xrpc(client, "app.bsky.feed.getQuotes", params)).body
            found = body.get("posts")
            if not isinstance(found, list):
                raise shape_error(self.name, "getQuotes without posts")
            items = [
                p
                for p in found
                if isinstance(p, dict) and isinstance((p.get("author") or {}).get("did"), str)
            ]
            return items, _cursor(body)

        async def likes(cursor: str | None) -> Page:
            params = {"uri": uri, "limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
            body = (await self._xrpc(client, "app.bsky.feed.getLikes", params)).body
            found = body.get("likes")
            if not isinstance(found, list):
                raise shape_error(self.name, "getLikes without likes")
            items = [
                like
                for like in found
                if isinstance(like, dict) and isinstance((like.get("actor") or {}).get("did"), str)
            ]
            return items, _cursor(body)

        budget = self.pages_per_poll
        reposters = quoters = likers = WalkStep([], 0, None)
        if self.resharers:
            reposters = await state.reposts.step(reposted_by, lambda a: a["did"], budget)
            quoters = await state.quotes.step(quotes, lambda p: p["author"]["did"], budget)
        if self.likers:
            likers = await state.likes.step(likes, lambda like: like["actor"]["did"], budget)
        for step in (reposters, quoters, likers):
            if step.error is not None:
                self._note_paging(step.error)
        for like in likers.fresh:
            when = _at_most(like.get("createdAt"), now)
            state.liker_waiting.setdefault(like["actor"]["did"], when)
        for actor in reposters.fresh:
            if actor["did"] not in state.emitted:
                state.waiting.setdefault(actor["did"], now)
        for quote in quoters.fresh:
            when = _at_most(quote.get("indexedAt"), now)
            if quote["author"]["did"] not in state.emitted:
                state.waiting.setdefault(quote["author"]["did"], when)

    def _note_paging(self, exc: SourceError) -> None:
        self._paging_errors.append(exc)
        if exc.retry_after is not None:
            self._waits.append(exc.retry_after)

    async def _read_profiles(self, client: httpx.AsyncClient, posters: list[str]) -> None:
        """getProfiles for posters (when due) and waiting resharers, in batches of 25."""
        waiting = [
            did for state in self._state.values() for did in (*state.waiting, *state.liker_waiting)
        ]
        wanted = list(dict.fromkeys(posters)) + self.profiles.missing(waiting)
        wanted = list(dict.fromkeys(wanted))[: BATCH * self.profiles_per_poll]
        for start in range(0, len(wanted), BATCH):
            batch = wanted[start : start + BATCH]
            body = (await self._xrpc(client, "app.bsky.actor.getProfiles", {"actors": batch})).body
            profiles = body.get("profiles")
            if not isinstance(profiles, list):
                raise shape_error(self.name, "getProfiles without profiles")
            for profile in profiles:
                if isinstance(profile, dict) and isinstance(profile.get("did"), str):
                    self.profiles.put(profile["did"], count(profile.get("followersCount")))
            for did in batch:  # deleted or suspended accounts: known to have no reach
                if not self.profiles.has(did):
                    self.profiles.put(did, None)

    def _emit_ready(self, post: BlueskyPost, rows: list[dict[str, Any]]) -> None:
        state = self._state[post]
        for did, when in list(state.waiting.items()):
            if not self.profiles.has(did):
                continue
            followers = self.profiles.get(did)
            rows.append(resharer_row(when, self.name, post.label, did, followers))
            state.resharers += 1
            state.reach += followers or 0
            state.emitted.add(did)
            del state.waiting[did]
        for did, when in list(state.liker_waiting.items()):
            if self.profiles.has(did):
                followers = self.profiles.get(did)
                rows.append(resharer_row(when, self.name, post.label, did, followers, LIKERS))
                del state.liker_waiting[did]


def _cursor(body: dict[str, Any]) -> str | None:
    cursor = body.get("cursor")
    return cursor if isinstance(cursor, str) and cursor else None


def _at_most(text: object, now: datetime) -> datetime:
    """A record's own time (naive = UTC, as `parse_time` reads it), never after `now`;
    `now` when it has none or it does not parse."""
    try:
        return min(parse_time(text), now)
    except (ValueError, TypeError):
        return now


@dataclass(frozen=True, kw_only=True)
class BlueskyOptions(CommonOptions):
    """The `[[sources]]` keys of kind `bluesky`."""

    interval: float = interval_option(60.0)
    posts: list[str] = option(
        help="list of post URLs, e.g. https://bsky.app/profile/alice.bsky.social/post/3kah…"
    )
    api_url: str = option(DEFAULT_API, "AppView base URL")
    resharers: bool = option(True, "read reposters and quoters and their followers (default true)")
    likers: bool = option(
        False, "also read getLikes: one `likers` event per account, at its like's time"
    )
    pages_per_poll: int = option(
        2, "getRepostedBy/getQuotes pages (100 each) per post per poll", minimum=1, maximum=100
    )
    profiles_per_poll: int = option(
        4, "getProfiles calls (25 actors each) per poll", minimum=1, maximum=100
    )
    followers_every: float = option(
        600.0, "seconds between samples of the poster's followers", minimum=1.0, maximum=86_400
    )


def make_bluesky(options: BlueskyOptions, campaign: Campaign, where: str) -> BlueskySource:
    """A BlueskySource from its checked options."""
    return BlueskySource(
        options.label(),
        parse_posts(where, options.posts, KIND, BlueskyPost),
        api_url=options.api_url,
        interval=options.interval,
        timeout=options.timeout,
        resharers=options.resharers,
        likers=options.likers,
        pages_per_poll=options.pages_per_poll,
        profiles_per_poll=options.profiles_per_poll,
        followers_every=options.followers_every,
    )


SOURCE: Final = SourceKind(KIND, SUMMARY, BlueskyOptions, make_bluesky)
