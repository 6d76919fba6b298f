"""Mastodon posts: counters of each status, who boosted it and how many followers they have.

Per poll and post: `GET /api/v1/statuses/:id` on the post's own instance (public statuses need
no token; one may be named with `token_env`). A status that is itself a boost (a wrapper) has
counts of 0 and the original inside `reblog`: the original is what is measured.
`replies_count`, `reblogs_count`, `favourites_count` and `quotes_count` (Mastodon 4.4+, skipped
when absent) become total rows; the poster's `followers_count` a `followers` row every
`followers_every` seconds. `GET …/reblogged_by` (Link-header paging, a few pages per poll) gives
the boosters with their `followers_count`: one `resharers` event each, reach = followers.
The instance's `X-RateLimit-*` headers (300 requests per 5 minutes) pace the next poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.errors import (
    SourceAuthError,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceUnreachable,
)
from engmon.sources.base import PollResult, Source
from engmon.sources.http import JsonResponse, fetch_json, shape_error
from engmon.sources.options import (
    CommonOptions,
    SourceKind,
    interval_option,
    option,
    secret,
)
from engmon.sources.posturl import MastodonPost
from engmon.sources.social import (
    LIKERS,
    Every,
    Page,
    PosterFollowers,
    ResharerWalk,
    add_counts,
    count,
    next_link,
    pacing,
    parse_posts,
    post_result,
    reach_text,
    recorded_accounts,
    resharer_row,
    total_rows,
)

KIND: Final = "mastodon"
SUMMARY: Final = "Mastodon statuses: replies, boosts, quotes, favourites, boosters' followers"
PAGE_SIZE: Final = 80  # Mastodon's maximum for account lists


@dataclass
class _PostState:
    walk: ResharerWalk = field(default_factory=ResharerWalk)
    likers: ResharerWalk = field(default_factory=ResharerWalk)
    original_id: str | None = None
    reach: int = 0
    resharers: int = 0


class MastodonSource(Source):
    """Polls one or more statuses (possibly on different instances)."""

    kind = KIND

    def __init__(
        self,
        name: str,
        posts: list[MastodonPost],
        *,
        token: str | None = None,
        interval: float = 60.0,
        timeout: float = 10.0,
        resharers: bool = True,
        likers: bool = False,
        pages_per_poll: int = 3,
        followers_every: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, interval=interval, timeout=timeout)
        self.posts = posts
        self._token = token
        self.resharers = resharers
        self.likers = likers
        self.pages_per_poll = pages_per_poll
        self._followers_due = Every(followers_every)
        self._monotonic = monotonic
        self._state = {post: _PostState() for post in posts}
        self._posters = PosterFollowers()
        self._paging_errors: list[SourceError] = []

    @property
    def _calls_per_post(self) -> int:
        """Requests one post may cost in a poll: its status and each listing's page budget."""
        return 1 + self.pages_per_poll * (int(self.resharers) + int(self.likers))

    @property
    def paging(self) -> bool:
        """Whether boosters are still being paged through (a backlog is left to read)."""
        return any(
            (self.resharers and not s.walk.complete) or (self.likers and not s.likers.complete)
            for s in self._state.values()
        )

    def resume(self, recorded: pl.DataFrame) -> None:
        """Boosters and favouriters already recorded are not written again after a restart."""
        boosters = recorded_accounts(recorded)
        likers = recorded_accounts(recorded, LIKERS)
        for post, state in self._state.items():
            if post.label in boosters:
                known = boosters[post.label]
                state.walk.seen |= known.accounts
                state.resharers, state.reach = len(known.accounts), known.reach
            if post.label in likers:
                state.likers.seen |= likers[post.label].accounts

    def describe(self) -> str:
        """One line for `check`."""
        auth = "with token" if self._token else "public"
        return f"mastodon {self.name}: {len(self.posts)} post(s), {auth}"

    async def _get(self, client: httpx.AsyncClient, url: str) -> JsonResponse:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            return await fetch_json(
                client, "GET", url, source=self.name, timeout=self.timeout, headers=headers
            )
        except SourceUnreachable as exc:  # name the instance: a typo in the URL is likely
            detail = str(exc).removeprefix(f"{self.name}: ")
            host = urlsplit(url).netloc
            raise SourceUnreachable(
                f"{self.name}: instance {host}: {detail}; check the post URL",
                retry_after=exc.retry_after,
            ) from exc

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """Fetch every post's status (and boosters), return counters and resharer events."""
        rows: list[dict[str, Any]] = []
        totals: dict[str, float] = {}
        self._paging_errors = []
        calls = 0
        waits: list[float] = []
        failures: list[SourceError] = []
        followers_due = self._followers_due.due(self._monotonic())
        for post in self.posts:
            state = self._state[post]
            try:
                response = await self._get(
                    client, f"{post.instance}/api/v1/statuses/{post.status_id}"
                )
            except SourceError as exc:
                exc = _about_post(exc, self.name, post)
                if len(self.posts) == 1 or isinstance(exc, SourceRateLimited):
                    raise exc from None
                failures.append(exc)
                continue
            calls += 1
            status = response.body
            if not isinstance(status, dict) or "id" not in status:
                raise shape_error(self.name, f"status {post.status_id} is not a status object")
            # a boost is a wrapper whose own counts are 0: measure the boosted original
            original = status["reblog"] if isinstance(status.get("reblog"), dict) else status
            state.original_id = str(original.get("id") or post.status_id)
            counts = {
                "replies": count(original.get("replies_count")),
                "reposts": count(original.get("reblogs_count")),
                "quotes": count(original.get("quotes_count")),
                "likes": count(original.get("favourites_count")),
            }
            rows += total_rows(now, self.name, post.label, counts)
            add_counts(totals, counts)
            account = original.get("account")
            if isinstance(account, dict):
                followers = count(account.get("followers_count"))
                poster = str(account.get("url") or account.get("acct") or post.user)
                self._posters.see(poster, post.label, followers)
            wait = pacing(response.headers, self._calls_per_post)
            if wait is not None:
                waits.append(wait)
            for listing, wanted in (
                ("reblogged_by", self.resharers),
                ("favourited_by", self.likers),
            ):
                if wanted:
                    used, wait = await self._read_accounts(client, post, state, now, rows, listing)
                    calls += used
                    if wait is not None:
                        waits.append(wait)
        if failures and not calls:
            raise failures[0]
        if followers_due:
            rows += self._posters.rows(now, self.name)
        extra = [
            reach_text(
                sum(s.resharers for s in self._state.values()),
                sum(len(s.walk.pending) for s in self._state.values()),
            )
        ]
        extra += [str(exc) for exc in failures]
        return post_result(
            rows,
            totals,
            len(self.posts) - len(failures),
            extra,
            reach=float(sum(s.reach for s in self._state.values())),
            posters=self._posters,
            waits=waits,
            problems=[*failures, *self._paging_errors],
        )

    async def _read_accounts(
        self,
        client: httpx.AsyncClient,
        post: MastodonPost,
        state: _PostState,
        now: datetime,
        rows: list[dict[str, Any]],
        listing: str,
    ) -> tuple[int, float | None]:
        """Page through `reblogged_by` or `favourited_by` (bounded): one event per new account."""
        head = f"{post.instance}/api/v1/statuses/{state.original_id}/{listing}?limit={PAGE_SIZE}"
        boosts = listing == "reblogged_by"
        walk = state.walk if boosts else state.likers
        last_wait: list[float] = []

        async def fetch(cursor: str | None) -> Page:
            url = cursor if cursor and _same_host(cursor, post.instance) else head
            response = await self._get(client, url)
            if not isinstance(response.body, list):
                raise shape_error(self.name, f"{listing} is not a list of accounts")
            wait = pacing(response.headers, self._calls_per_post)
            if wait is not None:
                last_wait.append(wait)
            accounts = [a for a in response.body if isinstance(a, dict) and "id" in a]
            return accounts, next_link(response.headers)

        host = urlsplit(post.instance).hostname or ""
        step = await walk.step(fetch, lambda a: _account_name(a, host), self.pages_per_poll)
        if step.error is not None:
            self._paging_errors.append(step.error)
            if step.error.retry_after is not None:
                last_wait.append(step.error.retry_after)
        metric = "resharers" if boosts else LIKERS
        for account in step.fresh:
            followers = count(account.get("followers_count"))
            name = _account_name(account, host)
            rows.append(resharer_row(now, self.name, post.label, name, followers, metric))
            if boosts:
                state.resharers += 1
                state.reach += followers or 0
        return step.pages, max(last_wait) if last_wait else None


def _about_post(exc: SourceError, name: str, post: MastodonPost) -> SourceError:
    """A 404/403 on the status itself, said first (the dashboard shows only a line's start)."""
    if isinstance(exc, SourceNotFound):
        return SourceNotFound(
            f"{name}: post not found (HTTP 404: deleted, private or a wrong id): {post.url}"
        )
    if isinstance(exc, SourceAuthError):
        return SourceAuthError(
            f"{name}: post not visible (HTTP 401/403: private, or the token lacks read"
            f" scope): {post.url}"
        )
    return exc


def _account_name(account: dict[str, Any], host: str) -> str:
    """`user@instance` for any account (local accounts' `acct` lacks the domain)."""
    acct = str(account.get("acct") or account.get("username") or account.get("id"))
    return acct if "@" in acct else f"{acct}@{host}"


def _same_host(url: str, instance: str) -> bool:
    """Only follow Link URLs on the post's own instance (never send the token elsewhere)."""
    return urlsplit(url).netloc == urlsplit(instance).netloc


@dataclass(frozen=True, kw_only=True)
class MastodonOptions(CommonOptions):
    """The `[[sources]]` keys of kind `mastodon`."""

    interval: float = interval_option(60.0)
    posts: list[str] = option(
        help="list of status URLs, e.g. https://mastodon.social/@user/113456789012345678"
    )
    token_env: str | None = option(
        None, "optional: env var holding an access token (raises the instance's limits)"
    )
    resharers: bool = option(True, "read who boosted each post and their followers (default true)")
    likers: bool = option(False, "also read favourited_by: one `likers` event per account")
    pages_per_poll: int = option(
        3, "reblogged_by pages (80 accounts each) read per post per poll", minimum=1, maximum=100
    )
    followers_every: float = option(
        600.0, "seconds between samples of the poster's followers", minimum=1.0, maximum=86_400
    )


def make_mastodon(options: MastodonOptions, campaign: Campaign, where: str) -> MastodonSource:
    """A MastodonSource from its checked options."""
    return MastodonSource(
        options.label(),
        parse_posts(where, options.posts, KIND, MastodonPost),
        token=secret(where, "token_env", options.token_env) if options.token_env else None,
        interval=options.interval,
        timeout=options.timeout,
        resharers=options.resharers,
        likers=options.likers,
        pages_per_poll=options.pages_per_poll,
        followers_every=options.followers_every,
    )


SOURCE: Final = SourceKind(KIND, SUMMARY, MastodonOptions, make_mastodon)
