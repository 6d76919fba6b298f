"""What is being watched: one link, one post time, the poster's audience."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

RELATIVE_ANCHOR: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""Post time given to a file of times relative to the post when nobody says the real one:
screens say "post time unknown" rather than show a 1970 date."""


@dataclass(frozen=True)
class Campaign:
    """A shared link and the post that shared it.

    `post_time` is None until known (a replay infers it from the data); `followers` is the
    poster's audience, the denominator of "engagement per 1k followers" (None when unknown);
    `tz` is the IANA zone its times are shown in (None: UTC; stored times stay UTC).
    """

    name: str
    link: str | None = None
    post_time: datetime | None = None
    followers: int | None = None
    tz: str | None = None
