"""The time zone times are shown in (`--tz`, `[campaign] tz`); everything stored stays UTC.

A process shows one zone: the CLI sets it once (`set_display_zone`) and screens, plain lines
and reports read it through `local` and `zone_label`. Default: UTC, as before.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engmon.errors import ConfigError

_display: tzinfo = UTC
_name: str = "UTC"


def check_zone(name: str, where: str) -> ZoneInfo:
    """The IANA zone `name` (e.g. Europe/Paris); ConfigError naming `where` when unknown."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"{where}: unknown time zone {name!r} (an IANA name such as Europe/Paris or UTC)"
        ) from None


def set_display_zone(name: str | None, where: str = "--tz") -> None:
    """Show times in zone `name` from now on (None or "UTC": UTC)."""
    global _display, _name
    if name is None or name.strip().upper() == "UTC":
        _display, _name = UTC, "UTC"
        return
    _display, _name = check_zone(name, where), name.strip()


def display_zone_name() -> str:
    """The IANA name of the shown zone ("UTC" by default)."""
    return _name


def local(moment: datetime) -> datetime:
    """`moment` (aware) as a time in the shown zone."""
    return moment.astimezone(_display)


def zone_label(moment: datetime) -> str:
    """The short name of the shown zone at `moment` (UTC, CET, CEST ...), for a label."""
    return local(moment).tzname() or _name


def posted_words(post_time_utc: str | None, post_time_local: str | None, tz: str | None) -> str:
    """A report's post time for people: the UTC text as is, or the local time then the UTC."""
    if post_time_utc is None:
        return "unknown"
    if not tz or tz == "UTC" or not post_time_local:
        return post_time_utc
    shown = datetime.fromisoformat(post_time_local)
    return f"{shown:%Y-%m-%d %H:%M} {tz}, {post_time_utc}"
