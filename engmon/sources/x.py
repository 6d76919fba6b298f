"""X (Twitter) posts through API v2: public counters, private impressions and link clicks, reach.

Per poll one `GET /2/tweets?ids=…` (up to 100 ids) with `tweet.fields=public_metrics,created_at,
author_id` and `expansions=author_id&user.fields=public_metrics` (the poster's followers ride
along). With an app-only Bearer token (`token_env`) only public metrics come back; with a
user-context token (`user_token_env`, the author's OAuth 2.0 token) `non_public_metrics` adds
`impression_count` and `url_link_clicks` (posts younger than 30 days). A tweet without
`public_metrics` (the field not granted) yields no counter rows rather than zeros; a deleted or
protected tweet arrives in `errors`. Optional `resharers = true` pages
`GET /2/tweets/:id/retweeted_by` (`next_token`) for retweeters and their followers. Every
endpoint has its own 15-minute window; `x-rate-limit-*` headers pace the next poll.
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
from engmon.errors import ConfigError, SourceAuthError, SourceError, SourceNotFound
from engmon.sources.base import PollResult, Source
from engmon.sources.http import JsonResponse, fetch_json, shape_error
from engmon.sources.options import (
    CommonOptions,
    SourceKind,
    interval_option,
    option,
    secret,
)
from engmon.sources.posturl import XPost
from engmon.sources.social import (
    Every,
    Page,
    PosterFollowers,
    ResharerWalk,
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

KIND: Final = "x"
SUMMARY: Final = "X posts (API v2): replies, reposts, quotes, likes, impressions, link clicks"
DEFAULT_API: Final = "https://api.x.com"
MAX_IDS: Final = 100


@dataclass
class _PostState:
    walk: ResharerWalk = field(default_factory=ResharerWalk)
    resharers: int = 0
    reach: int = 0


class XSource(Source):
    """Polls one or more posts on X."""

    kind = KIND

    def __init__(
        self,
        name: str,
        posts: list[XPost],
        *,
        token: str,
        user_token: str | None = None,
        api_url: str = DEFAULT_API,
        interval: float = 120.0,
        timeout: float = 10.0,
        resharers: bool = False,
        pages_per_poll: int = 1,
        followers_every: float = 900.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, interval=interval, timeout=timeout)
        self.posts = posts
        self._token = user_token or token
        self.private_metrics = user_token is not None
        self.api_url = api_url.rstrip("/")
        self.resharers = resharers
        self.pages_per_poll = pages_per_poll
        self._followers_due = Every(followers_every)
        self._monotonic = monotonic
        self._state = {post: _PostState() for post in posts}
        self._posters = PosterFollowers()
        self._waits: list[float] = []
        self._paging_errors: list[SourceError] = []

    def resume(self, recorded: pl.DataFrame) -> None:
        """Retweeters already recorded are not written again after a restart."""
        known = recorded_accounts(recorded)
        for post, state in self._state.items():
            if post.label in known:
                state.walk.seen |= known[post.label].accounts
                state.resharers, state.reach = (
                    len(known[post.label].accounts),
                    known[post.label].reach,
                )

    def describe(self) -> str:
        """One line for `check` (never the token)."""
        metrics = "public + private metrics" if self.private_metrics else "public metrics"
        return f"x {self.name}: {len(self.posts)} post(s), {metrics}"

    async def _get(self, client: httpx.AsyncClient, path: str, params: Any) -> JsonResponse:
        response = await fetch_json(
            client,
            "GET",
            f"{self.api_url}{path}",
            source=self.name,
            timeout=self.timeout,
            params=params,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        if not isinstance(response.body, dict):
            raise shape_error(self.name, f"{path} did not return an object")
        calls = 1 + (self.pages_per_poll * len(self.posts) if "retweeted_by" in path else 0)
        wait = pacing(response.headers, max(1, calls))
        if wait is not None:
            self._waits.append(wait)
        return response

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """Counters of every post, the poster's followers where due, new retweeters."""
        self._waits = []
        self._paging_errors = []
        fields = "public_metrics,created_at,author_id"
        if self.private_metrics:
            fields += ",non_public_metrics"
        by_id = {post.tweet_id: post for post in self.posts}
        tweets: dict[str, dict[str, Any]] = {}
        problems: dict[str, str] = {}
        users: dict[str, int | None] = {}
        ids = list(by_id)
        for start in range(0, len(ids), MAX_IDS):
            body = (
                await self._get(
                    client,
                    "/2/tweets",
                    {
                        "ids": ",".join(ids[start : start + MAX_IDS]),
                        "tweet.fields": fields,
                        "expansions": "author_id",
                        "user.fields": "public_metrics",
                    },
                )
            ).body
            data = body.get("data") or []
            if not isinstance(data, list):
                raise shape_error(self.name, "/2/tweets data is not a list")
            tweets.update({str(t["id"]): t for t in data if isinstance(t, dict) and "id" in t})
            for error in body.get("errors") or []:
                if isinstance(error, dict):
                    key = str(error.get("resource_id") or error.get("value") or "")
                    problems[key] = str(error.get("title") or error.get("detail") or "error")
            for user in (body.get("includes") or {}).get("users") or []:
                if isinstance(user, dict) and "id" in user:
                    metrics = user.get("public_metrics") or {}
                    users[str(user["id"])] = count(metrics.get("followers_count"))
        if not tweets:
            first = self.posts[0]
            title = problems.get(first.tweet_id, "Not Found Error")
            if "Authorization" in title:
                raise SourceAuthError(f"{self.name}: post protected ({title}): {first.url}")
            raise SourceNotFound(
                f"{self.name}: post not found ({title}: deleted or a wrong id): {first.url}"
            )
        rows: list[dict[str, Any]] = []
        totals: dict[str, float] = {}
        notes: list[str] = []
        followers_due = self._followers_due.due(self._monotonic())
        for tweet_id, tweet in tweets.items():
            post = by_id.get(tweet_id)
            if post is None:
                continue
            public = tweet.get("public_metrics")
            private = tweet.get("non_public_metrics")
            if not isinstance(public, dict):
                notes.append(f"{post.label}: no public_metrics in the response")
                public = {}
            private = private if isinstance(private, dict) else {}
            counts = {
                "replies": count(public.get("reply_count")),
                "reposts": count(public.get("retweet_count")),
                "quotes": count(public.get("quote_count")),
                "likes": count(public.get("like_count")),
                "impressions": _first(
                    count(private.get("impression_count")), count(public.get("impression_count"))
                ),
                "clicks": count(private.get("url_link_clicks")),
            }
            rows += total_rows(now, self.name, post.label, counts)
            add_counts(totals, counts)
            author = str(tweet.get("author_id") or "")
            self._posters.see(author, post.label, users.get(author))
            if self.resharers:
                await self._read_retweeters(client, post, now, rows)
        if followers_due:
            rows += self._posters.rows(now, self.name)
        notes += [f"post {by_id[i].url}: {t}" for i, t in problems.items() if i in by_id]
        states = self._state.values()
        extra = notes
        if self.resharers:
            extra = [
                reach_text(
                    sum(s.resharers for s in states),
                    sum(len(s.walk.pending) for s in states),
                ),
                *notes,
            ]
        return post_result(
            rows,
            totals,
            len(tweets),
            extra,
            reach=float(sum(s.reach for s in states)) if self.resharers else None,
            posters=self._posters,
            waits=self._waits,
            problems=self._paging_errors,
        )

    async def _read_retweeters(
        self, client: httpx.AsyncClient, post: XPost, now: datetime, rows: list[dict[str, Any]]
    ) -> None:
        state = self._state[post]

        async def fetch(cursor: str | None) -> Page:
            params: dict[str, Any] = {"max_results": 100, "user.fields": "public_metrics"}
            if cursor:
                params["pagination_token"] = cursor
            body = (await self._get(client, f"/2/tweets/{post.tweet_id}/retweeted_by", params)).body
            users = [u for u in body.get("data") or [] if isinstance(u, dict) and "id" in u]
            token = (body.get("meta") or {}).get("next_token")
            return users, token if isinstance(token, str) and token else None

        step = await state.walk.step(fetch, _retweeter, self.pages_per_poll)
        if step.error is not None:
            self._paging_errors.append(step.error)
            if step.error.retry_after is not None:
                self._waits.append(step.error.retry_after)
        for user in step.fresh:
            metrics = user.get("public_metrics") or {}
            followers = count(metrics.get("followers_count"))
            name = _retweeter(user)
            rows.append(resharer_row(now, self.name, post.label, name, followers))
            state.resharers += 1
            state.reach += followers or 0


def _retweeter(user: dict[str, Any]) -> str:
    """The account a retweeter row names (the recorded `actor`), also its paging identity."""
    return str(user.get("username") or user["id"])


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


@dataclass(frozen=True, kw_only=True)
class XOptions(CommonOptions):
    """The `[[sources]]` keys of kind `x`."""

    interval: float = interval_option(120.0)
    posts: list[str] = option(
        help="list of post URLs, e.g. https://x.com/user/status/1293593516040269825"
    )
    token_env: str | None = option(
        None, "env var holding an app-only Bearer token (public metrics)"
    )
    user_token_env: str | None = option(
        None,
        "optional: env var holding the author's user-context OAuth 2.0 token"
        " (adds impressions and link clicks)",
    )
    api_url: str = option(DEFAULT_API, "API base URL")
    resharers: bool = option(
        False, "page retweeted_by for retweeters' followers (default false: tight limits)"
    )
    pages_per_poll: int = option(
        1, "retweeted_by pages (100 each) per post per poll", minimum=1, maximum=100
    )
    followers_every: float = option(
        900.0, "seconds between samples of the poster's followers", minimum=1.0, maximum=86_400
    )


def make_x(options: XOptions, campaign: Campaign, where: str) -> XSource:
    """An XSource from its checked options."""
    posts = parse_posts(where, options.posts, KIND, XPost)
    # a named variable must be set (secret() says which); an unnamed one is simply not used
    token = secret(where, "token_env", options.token_env) if options.token_env else None
    user_token = (
        secret(where, "user_token_env", options.user_token_env) if options.user_token_env else None
    )
    if token is None and user_token is None:
        raise ConfigError(
            f"{where}: key 'token_env' is required: name the environment variable"
            ' holding an X API Bearer token (e.g. token_env = "X_BEARER_TOKEN")'
        )
    return XSource(
        options.label(),
        posts,
        token=token or user_token or "",
        user_token=user_token,
        api_url=options.api_url,
        interval=options.interval,
        timeout=options.timeout,
        resharers=options.resharers,
        pages_per_poll=options.pages_per_poll,
        followers_every=options.followers_every,
    )


SOURCE: Final = SourceKind(KIND, SUMMARY, XOptions, make_x)
