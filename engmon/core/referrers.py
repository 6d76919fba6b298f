"""Referrers grouped into platforms: `https://t.co/abc` -> X, `lm.facebook.com` -> Facebook.

Feeds name where a visit came from in several shapes: a full URL (access logs, Umami), a bare
host (Bitly referring domains), an Android app URL (`android-app://com.linkedin.android/`), a
platform name (Plausible's `Twitter`, Bitly's `facebook`) or nothing (`-`, empty, null: a direct
visit). `referrer_host` extracts one comparable host from any of them and `referrer_platform`
maps that host to a platform name with anchored regexes, so the platform table stays short
while the raw host remains available on expand. Both are plain polars expressions (no
`map_elements`); `with_referrer_columns` evaluates them on the distinct referrers only.
"""

from __future__ import annotations

from typing import Final

import polars as pl

DIRECT: Final = "direct"
"""Platform of a visit without a referrer (typed URL, bookmark, most mail and chat apps)."""

_HOST_PATTERN: Final = (
    r"^(?:[a-z][a-z0-9+.\-]*://)?"  # scheme: https://, android-app://
    r"(?:[^@/?#]*@)?"  # user info
    r"(?:www\d*\.)?"  # www., www2.
    r"([^/?#:]*)"  # the host itself, up to path, query, fragment or port
)

PLATFORM_RULES: Final[tuple[tuple[str, str], ...]] = (
    (DIRECT, r"^(?:|-|direct|none|\(direct\)|\(none\)|\(not set\)|null)$"),
    ("X", r"^(?:t\.co|twitter|x|com\.twitter\.android)$|(?:^|\.)(?:twitter\.com|x\.com)$"),
    (
        "Facebook",
        r"^(?:facebook|fb|fb\.me|fb\.com|com\.facebook\.(?:katana|orca|lite))$"
        r"|(?:^|\.)facebook\.com$",
    ),
    ("Instagram", r"^(?:instagram|com\.instagram\.android)$|(?:^|\.)instagram\.com$"),
    ("LinkedIn", r"^(?:linkedin|lnkd\.in|com\.linkedin\.android)$|(?:^|\.)linkedin\.com$"),
    ("Bluesky", r"^(?:bluesky|bsky|bsky\.social|xyz\.blueskyweb\.app)$|(?:^|\.)bsky\.app$"),
    ("Threads", r"^(?:threads|com\.instagram\.barcelona)$|(?:^|\.)threads\.(?:net|com)$"),
    (
        "Mastodon",
        r"^(?:mastodon|org\.joinmastodon\.android|mas\.to|masto\.ai|fosstodon\.org"
        r"|hachyderm\.io|infosec\.exchange|chaos\.social|mastodon\.[a-z0-9.\-]+"
        r"|mstdn\.[a-z0-9.\-]+|[a-z0-9\-]+\.social|toot\.[a-z0-9.\-]+)$",
    ),
    (
        "Hacker News",
        r"^(?:hacker ?news|hn|news\.ycombinator\.com|hn\.algolia\.com|hckrnws\.com)$",
    ),
    ("Reddit", r"^(?:reddit|redd\.it|com\.reddit\.frontpage)$|(?:^|\.)reddit\.com$"),
    ("Slack", r"^(?:slack|com\.slack)$|(?:^|\.)slack\.com$|(?:^|\.)slack-redir\.net$"),
    ("Discord", r"^(?:discord|com\.discord)$|(?:^|\.)discord(?:app)?\.com$"),
    ("Telegram", r"^(?:telegram|t\.me|org\.telegram\.messenger)$|(?:^|\.)telegram\.org$"),
    ("WhatsApp", r"^(?:whatsapp|wa\.me|com\.whatsapp)$|(?:^|\.)whatsapp\.com$"),
    ("Gmail", r"^(?:gmail|mail\.google\.com|com\.google\.android\.gm)$"),
    ("Outlook", r"^(?:outlook|outlook\.live\.com|outlook\.office(?:365)?\.com)$"),
    (
        "Google",
        r"^(?:google|com\.google\.android\.googlequicksearchbox)$"
        r"|(?:^|\.)google\.(?:com?\.)?[a-z]{2,3}$",
    ),
    ("Bing", r"^(?:bing)$|(?:^|\.)bing\.com$"),
    ("DuckDuckGo", r"^(?:duckduckgo|com\.duckduckgo\.mobile\.android)$|(?:^|\.)duckduckgo\.com$"),
    ("Yahoo", r"^(?:yahoo)$|(?:^|\.)yahoo\.(?:com?\.)?[a-z]{2,3}$"),
    ("Yandex", r"^(?:yandex)$|(?:^|\.)yandex\.[a-z]{2,3}$"),
    ("Ecosia", r"^(?:ecosia)$|(?:^|\.)ecosia\.org$"),
    ("YouTube", r"^(?:youtube|youtu\.be|com\.google\.android\.youtube)$|(?:^|\.)youtube\.com$"),
    ("TikTok", r"^(?:tiktok)$|(?:^|\.)tiktok\.com$"),
    ("Pinterest", r"^(?:pinterest)$|(?:^|\.)pinterest\.(?:com?\.)?[a-z]{2,3}$"),
)
"""(platform, regex over the extracted host), first match wins; unknown hosts are their own."""


VISITS: Final = ("clicks", "visitors")
"""Metrics that are visits to the link: only they can come with no referrer and be direct."""


def referrer_host(column: str = "referrer") -> pl.Expr:
    """The lowercased host a referrer points at: no scheme, user, `www.`, port, path or query.

    `https://www.Google.de/search?q=x` -> `google.de`; `android-app://com.slack/` ->
    `com.slack`; a bare name such as `Twitter` -> `twitter`; null, `-` and `` -> ``.
    """
    text = pl.col(column).cast(pl.String).fill_null("").str.strip_chars().str.to_lowercase()
    host = text.str.extract(_HOST_PATTERN, 1).fill_null("").str.strip_chars()
    return host.str.strip_chars_end(".").str.replace(r"^-$", "")


def platform_from_host(host: pl.Expr) -> pl.Expr:
    """Platform name for an extracted host (see `PLATFORM_RULES`); other hosts name themselves."""
    platform: pl.Expr = host
    for name, pattern in reversed(PLATFORM_RULES):  # built inside out: the first rule wins
        platform = pl.when(host.str.contains(pattern)).then(pl.lit(name)).otherwise(platform)
    return platform


def referrer_platform(column: str = "referrer") -> pl.Expr:
    """Platform a referrer belongs to (`X`, `Facebook`, `direct`, or the host when unknown)."""
    return platform_from_host(referrer_host(column))


def with_referrer_columns(frame: pl.DataFrame, column: str = "referrer") -> pl.DataFrame:
    """Add `platform` and `host` (Categorical) to a frame with a referrer column.

    The regexes run once per distinct referrer and are joined back, so a million hits from
    a few thousand referrers cost a hash join, not a million regex chains.
    """
    distinct = (
        frame.select(pl.col(column).cast(pl.String))
        .unique()
        .with_columns(host=referrer_host(column))
        .with_columns(platform=platform_from_host(pl.col("host")))
        .with_columns(pl.col("host", "platform").cast(pl.Categorical))
    )
    keyed = frame.with_columns(pl.col(column).cast(pl.String).alias("_referrer_key"))
    joined = keyed.join(
        distinct.rename({column: "_referrer_key"}),
        on="_referrer_key",
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )
    joined = joined.drop("_referrer_key")
    if "metric" in joined.columns:
        # a reply or a reshare has no referrer at all: "direct" means a visit typed or
        # bookmarked, so only visits (clicks, visitors) without one are direct
        unreferred = pl.col(column).is_null() & ~pl.col("metric").cast(pl.String).is_in(VISITS)
        joined = joined.with_columns(
            pl.when(unreferred).then(None).otherwise(pl.col(name)).alias(name)
            for name in ("host", "platform")
        )
    return joined


def platform_of(referrer: str | None) -> str:
    """The platform of one referrer (the same rules, for a single value)."""
    frame = pl.DataFrame({"referrer": [referrer]}, schema={"referrer": pl.String})
    return str(frame.select(referrer_platform()).item())


def host_of(referrer: str | None) -> str:
    """The extracted host of one referrer."""
    frame = pl.DataFrame({"referrer": [referrer]}, schema={"referrer": pl.String})
    return str(frame.select(referrer_host()).item())
