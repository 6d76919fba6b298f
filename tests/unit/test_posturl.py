"""Public post URLs -> typed references; anything else is one clear ConfigError line."""

from __future__ import annotations

import pytest

from engmon.errors import ConfigError
from engmon.sources.posturl import BlueskyPost, MastodonPost, XPost, parse_post_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://mastodon.social/@Gargron/113456789012345678",
            MastodonPost(
                "https://mastodon.social/@Gargron/113456789012345678",
                "https://mastodon.social",
                "Gargron",
                "113456789012345678",
            ),
        ),
        (
            "https://fosstodon.org/@alice@mastodon.social/113456789012345678?x=1#top",
            MastodonPost(
                "https://fosstodon.org/@alice@mastodon.social/113456789012345678?x=1#top",
                "https://fosstodon.org",
                "alice@mastodon.social",
                "113456789012345678",
            ),
        ),
        (
            "https://hachyderm.io/users/bob/statuses/42",
            MastodonPost(
                "https://hachyderm.io/users/bob/statuses/42", "https://hachyderm.io", "bob", "42"
            ),
        ),
        (
            "https://bsky.app/profile/alice.bsky.social/post/3kaheyt6vpc22",
            BlueskyPost(
                "https://bsky.app/profile/alice.bsky.social/post/3kaheyt6vpc22",
                "alice.bsky.social",
                "3kaheyt6vpc22",
            ),
        ),
        (
            "https://bsky.app/profile/did:plc:kvwvcn5iqfooopmyzvb4qzba/post/3kah",
            BlueskyPost(
                "https://bsky.app/profile/did:plc:kvwvcn5iqfooopmyzvb4qzba/post/3kah",
                "did:plc:kvwvcn5iqfooopmyzvb4qzba",
                "3kah",
            ),
        ),
        (
            "https://x.com/TwitterDev/status/1293593516040269825",
            XPost(
                "https://x.com/TwitterDev/status/1293593516040269825",
                "TwitterDev",
                "1293593516040269825",
            ),
        ),
        (
            "https://twitter.com/TwitterDev/status/1293593516040269825/photo/1",
            XPost(
                "https://twitter.com/TwitterDev/status/1293593516040269825/photo/1",
                "TwitterDev",
                "1293593516040269825",
            ),
        ),
        (
            "https://mobile.twitter.com/i/web/status/1293593516040269825",
            XPost(
                "https://mobile.twitter.com/i/web/status/1293593516040269825",
                None,
                "1293593516040269825",
            ),
        ),
        (
            "http://127.0.0.1:8123/@tester/7",
            MastodonPost("http://127.0.0.1:8123/@tester/7", "http://127.0.0.1:8123", "tester", "7"),
        ),
    ],
)
def test_accepted_shapes(url: str, expected: object) -> None:
    assert parse_post_url(url) == expected


def test_labels_name_the_post() -> None:
    assert parse_post_url("https://x.com/a/status/9").label == "@a/9"
    assert parse_post_url("https://mastodon.social/@a/9").label == "@a/9"
    assert parse_post_url("https://bsky.app/profile/a.b/post/3k").label == "a.b/3k"


@pytest.mark.parametrize(
    "url",
    [
        "mastodon.social/@Gargron/1",  # no scheme
        "http://mastodon.social/@Gargron/1",  # plain http off loopback
        "https://mastodon.social/@Gargron",  # a profile, not a post
        "https://x.com/TwitterDev",
        "https://x.com/TwitterDev/status/abc",
        "https://bsky.app/profile/alice.bsky.social",
        "https://example.com/blog/post/1",
        "https://",
        "not a url at all",
        "https://host:99999/@a/1",
    ],
)
def test_unparsable_urls_are_one_line_naming_url_and_shapes(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_post_url(url, "campaign.toml: sources[0] (mastodon): posts[0]")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "campaign.toml: sources[0] (mastodon): posts[0]: cannot read post URL"
    )
    assert repr(url) in message
    assert "https://x.com/<user>/status/<id>" in message and "bsky.app/profile" in message
