"""Referrer -> host -> platform mapping, vectorised (issue #6)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engmon.core.referrers import (
    host_of,
    platform_of,
    referrer_host,
    referrer_platform,
    with_referrer_columns,
)

CASES = [
    ("https://t.co/AbC123", "t.co", "X"),
    ("https://twitter.com/someone/status/1", "twitter.com", "X"),
    ("https://x.com/i/web/status/1", "x.com", "X"),
    ("https://mobile.twitter.com/", "mobile.twitter.com", "X"),
    ("Twitter", "twitter", "X"),
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com", "l.facebook.com", "Facebook"),
    ("https://lm.facebook.com/", "lm.facebook.com", "Facebook"),
    ("http://m.facebook.com/", "m.facebook.com", "Facebook"),
    ("https://www.facebook.com/", "facebook.com", "Facebook"),
    ("facebook", "facebook", "Facebook"),
    ("https://lnkd.in/eXyZ", "lnkd.in", "LinkedIn"),
    ("https://www.linkedin.com/feed/", "linkedin.com", "LinkedIn"),
    ("android-app://com.linkedin.android/", "com.linkedin.android", "LinkedIn"),
    ("https://bsky.app/profile/a.bsky.social/post/3k", "bsky.app", "Bluesky"),
    ("https://mastodon.social/@someone/1", "mastodon.social", "Mastodon"),
    ("https://hachyderm.io/@x", "hachyderm.io", "Mastodon"),
    ("https://fosstodon.org/", "fosstodon.org", "Mastodon"),
    ("https://www.google.com/", "google.com", "Google"),
    ("https://www.google.co.uk/url?q=x", "google.co.uk", "Google"),
    ("http://www.google.com.br/", "google.com.br", "Google"),
    ("https://www.Google.DE/search?q=x", "google.de", "Google"),
    ("https://mail.google.com/mail/u/0/", "mail.google.com", "Gmail"),
    ("https://www.bing.com/search?q=x", "bing.com", "Bing"),
    ("http://r.duckduckgo.com/l/?u=x", "r.duckduckgo.com", "DuckDuckGo"),
    ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com", "Hacker News"),
    ("https://www.reddit.com/r/x/", "reddit.com", "Reddit"),
    ("https://out.reddit.com/t3_x", "out.reddit.com", "Reddit"),
    ("android-app://com.slack/", "com.slack", "Slack"),
    ("https://app.slack.com/client", "app.slack.com", "Slack"),
    ("http://semicomplete.com/presentations/", "semicomplete.com", "semicomplete.com"),
    ("http://user:secret@www2.example.com:8080/x", "example.com", "example.com"),
    ("Direct / None", "direct", "direct"),
    ("direct", "direct", "direct"),
    ("-", "", "direct"),
    ("", "", "direct"),
    ("   ", "", "direct"),
    (None, "", "direct"),
]


@pytest.mark.parametrize(("referrer", "host", "platform"), CASES)
def test_one_referrer(referrer: str | None, host: str, platform: str) -> None:
    assert host_of(referrer) == host
    assert platform_of(referrer) == platform


def test_expressions_over_a_column_match_the_single_value_helpers() -> None:
    frame = pl.DataFrame({"referrer": [c[0] for c in CASES]}, schema={"referrer": pl.String})
    got = frame.select(host=referrer_host(), platform=referrer_platform())
    expected = pl.DataFrame({"host": [c[1] for c in CASES], "platform": [c[2] for c in CASES]})
    assert_frame_equal(got, expected)


def test_with_referrer_columns_keeps_rows_order_and_other_columns() -> None:
    frame = pl.DataFrame(
        {
            "n": [1, 2, 3, 4],
            "referrer": ["https://t.co/a", None, "https://t.co/b", "https://lnkd.in/c"],
        }
    )
    got = with_referrer_columns(frame).with_columns(pl.col("host", "platform").cast(pl.String))
    expected = pl.DataFrame(
        {
            "n": [1, 2, 3, 4],
            "referrer": ["https://t.co/a", None, "https://t.co/b", "https://lnkd.in/c"],
            "host": ["t.co", "", "t.co", "lnkd.in"],
            "platform": ["X", "direct", "X", "LinkedIn"],
        }
    )
    assert_frame_equal(got, expected)


def test_markup_and_escape_sequences_stay_data() -> None:
    # hostile referrers are mapped like any unknown host: their text is kept, never interpreted
    assert platform_of("[bold red]x[/]") == "[bold red]x["
    assert host_of("\x1b]8;;https://evil.example/\x07click") == "\x1b]8;;https"


def test_replies_and_reshares_without_a_referrer_are_not_direct_visits() -> None:
    frame = pl.DataFrame(
        {
            "metric": ["clicks", "visitors", "replies", "reposts", "clicks"],
            "referrer": [None, None, None, None, "https://t.co/x"],
        }
    )
    platforms = with_referrer_columns(frame).get_column("platform").cast(pl.String).to_list()
    assert platforms == ["direct", "direct", None, None, "X"]
