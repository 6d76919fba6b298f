"""Referrer spam: hosts that send fake visits to get their name into analytics reports.

No maintained list ships offline in a Python or Debian package, so engmon keeps a short list
of well-known spam hosts (those seen in real logs, the classic "SEO" ones) and reads a longer
list from a file when given one: Matomo's community list (`spammers.txt` of
matomo-org/referrer-spam-list, public domain; also in Composer's
`matomo/referrer-spam-blacklist`) has one host per line, which is the format read here.
A referrer is spam when its host is a listed host or a subdomain of one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import polars as pl

from engmon.core.referrers import referrer_host
from engmon.errors import InputError

KNOWN_SPAM_HOSTS: Final = (
    # seen in the real Apache log of tests/data (May 2015)
    "avtoads.net",
    "blackwitchcraft.ru",
    "danceuniverse.ru",
    "drugspowerstore.com",
    "kherson-apartments.ru",
    "mishura-optom.ru",
    "sofit-dmd.ru",
    "xn--90adhhccf5aeewt7j.xn--p1ai",
    "zolotoy-lis.ru",
    "znakomstvaonlain.ru",
    # the classic referrer spammers of analytics reports
    "100dollars-seo.com",
    "best-seo-offer.com",
    "best-seo-solution.com",
    "blackhatworth.com",
    "buttons-for-website.com",
    "buttons-for-your-website.com",
    "darodar.com",
    "econom.co",
    "event-tracking.com",
    "free-share-buttons.com",
    "free-social-buttons.com",
    "get-free-traffic-now.com",
    "hulfingtonpost.com",
    "ilovevitaly.co",
    "ilovevitaly.com",
    "ilovevitaly.ru",
    "o-o-6-o-o.com",
    "o-o-8-o-o.com",
    "priceg.com",
    "semalt.com",
    "semaltmedia.com",
    "simple-share-buttons.com",
    "social-buttons.com",
    "trafficmonetize.org",
    "webmonetizer.net",
)
"""Hosts whose referrals are dropped by default (see the module docstring)."""

MAX_LABELS_DROPPED: Final = 4
"""Subdomain depth matched under a listed host (`a.b.c.d.spam.ru` still matches)."""


def read_spam_list(path: Path) -> tuple[str, ...]:
    """Hosts of a spam list file: one per line, blank lines and `#` comments skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the spam list ({exc.strerror})") from None
    hosts = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return tuple(host.removeprefix("www.") for host in hosts if host)


def spam_hosts(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The built-in hosts plus `extra`, lowercased, without duplicates, sorted."""
    return tuple(sorted({*KNOWN_SPAM_HOSTS, *(host.strip().lower() for host in extra)} - {""}))


def is_spam(hosts: Iterable[str], column: str = "referrer") -> pl.Expr:
    """True for rows whose referrer's host is one of `hosts` or a subdomain of one.

    The host and each of its parent domains (`a.b.spam.ru`, `b.spam.ru`, `spam.ru`) are looked
    up in the set, so a list of thousands costs a hash lookup, not a regex alternation. Meant
    for distinct referrers (join the answer back), like `with_referrer_columns`.
    """
    listed = pl.Series(sorted(set(hosts)), dtype=pl.String).implode()
    labels = referrer_host(column).str.split(".")
    # the host and its parent domains: drop 0, 1, ... leading labels (hosts rarely nest deeper)
    found = [
        labels.list.slice(i).list.join(".").is_in(listed) for i in range(MAX_LABELS_DROPPED + 1)
    ]
    return pl.any_horizontal(found).fill_null(False)
