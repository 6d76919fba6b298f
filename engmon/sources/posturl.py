"""Public post URLs -> typed references the social sources can poll.

Accepted shapes (https only, query and fragment ignored):

    https://mastodon.social/@user/113456789012345678       Mastodon (any instance)
    https://mastodon.social/@user@other.example/1134...    Mastodon, remote account seen locally
    https://mastodon.social/users/user/statuses/1134...    Mastodon, canonical form
    https://bsky.app/profile/alice.bsky.social/post/3kaheyt6vpc22   Bluesky (handle or DID)
    https://x.com/user/status/1293593516040269825          X (also twitter.com, mobile., www.)

Anything else is a one-line ConfigError naming the URL and these shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from engmon.errors import ConfigError

SHAPES: Final = (
    "https://<instance>/@user/<id> (mastodon), "
    "https://bsky.app/profile/<handle>/post/<rkey> (bluesky), "
    "https://x.com/<user>/status/<id> (x)"
)

_MASTODON_PATHS: Final = (
    re.compile(r"^/@(?P<user>[A-Za-z0-9_.\-]+(?:@[A-Za-z0-9.\-]+)?)/(?P<id>[0-9]{1,20})/?$"),
    re.compile(r"^/users/(?P<user>[A-Za-z0-9_.\-]+)/statuses/(?P<id>[0-9]{1,20})/?$"),
)
_BLUESKY_PATH: Final = re.compile(
    r"^/profile/(?P<actor>[A-Za-z0-9.\-:]+)/post/(?P<rkey>[A-Za-z0-9._~:\-]{1,512})/?$"
)
_X_PATH: Final = re.compile(
    r"^/(?P<user>[A-Za-z0-9_]{1,15}|i(?:/web)?)/status(?:es)?/(?P<id>[0-9]{1,20})(?:/.*)?$"
)
_X_HOSTS: Final = frozenset(
    {"x.com", "twitter.com", "www.x.com", "www.twitter.com", "mobile.twitter.com", "mobile.x.com"}
)
_BLUESKY_HOSTS: Final = frozenset({"bsky.app", "www.bsky.app"})
_HOST: Final = re.compile(r"^[a-z0-9]([a-z0-9\-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]*[a-z0-9])?)+$")


@dataclass(frozen=True)
class MastodonPost:
    """A status on a Mastodon (or API-compatible) instance."""

    url: str
    instance: str  # scheme://host[:port] of the instance that serves the status
    user: str
    status_id: str

    @property
    def label(self) -> str:
        """The `post` dimension value: short, stable and unique per post."""
        return f"@{self.user}/{self.status_id}"


@dataclass(frozen=True)
class BlueskyPost:
    """A Bluesky post by handle (resolved to a DID before polling) or DID, and record key."""

    url: str
    actor: str  # a handle or a did:plc / did:web
    rkey: str

    @property
    def label(self) -> str:
        """The `post` dimension value."""
        return f"{self.actor}/{self.rkey}"

    def at_uri(self, did: str) -> str:
        """The post's AT-URI once the author's DID is known."""
        return f"at://{did}/app.bsky.feed.post/{self.rkey}"


@dataclass(frozen=True)
class XPost:
    """A post (tweet) on X by numeric id."""

    url: str
    user: str | None
    tweet_id: str

    @property
    def label(self) -> str:
        """The `post` dimension value."""
        return f"@{self.user}/{self.tweet_id}" if self.user else self.tweet_id


PostRef = MastodonPost | BlueskyPost | XPost


def _bad(url: str, where: str, why: str = "") -> ConfigError:
    prefix = f"{where}: " if where else ""
    reason = f" ({why})" if why else ""
    return ConfigError(f"{prefix}cannot read post URL {url!r}{reason}; accepted: {SHAPES}")


def parse_post_url(url: str, where: str = "", *, allow_http: bool = False) -> PostRef:
    """Parse one public post URL into a Mastodon, Bluesky or X reference (ConfigError if not).

    `allow_http` admits plain-http instance URLs (self-hosted instances on a LAN); loopback
    hosts (localhost, 127.0.0.1) may always use http, for local test servers.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _bad(url, where, "not a URL") from exc
    host = (parts.hostname or "").lower()
    loopback = host in ("localhost", "127.0.0.1")
    schemes = ("https", "http") if allow_http or loopback else ("https",)
    if parts.scheme not in schemes:
        raise _bad(url, where, "must start with https://")
    if not host or not (_HOST.match(host) or loopback):
        raise _bad(url, where, "no valid host")
    path = parts.path
    if host in _X_HOSTS:
        match = _X_PATH.match(path)
        if match is None:
            raise _bad(url, where, "expected x.com/<user>/status/<id>")
        user = match["user"]
        return XPost(text, None if user in ("i", "i/web") else user, match["id"])
    if host in _BLUESKY_HOSTS:
        match = _BLUESKY_PATH.match(path)
        if match is None:
            raise _bad(url, where, "expected bsky.app/profile/<handle>/post/<rkey>")
        return BlueskyPost(text, match["actor"], match["rkey"])
    for pattern in _MASTODON_PATHS:
        match = pattern.match(path)
        if match is not None:
            netloc = host if port is None else f"{host}:{port}"
            return MastodonPost(text, f"{parts.scheme}://{netloc}", match["user"], match["id"])
    raise _bad(url, where, "not a known post URL shape")
