"""The header line: campaign and link on the left, post time, time since post and mode right."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text

from engmon.core.campaign import RELATIVE_ANCHOR, Campaign
from engmon.core.printable import printable
from engmon.core.words import offset_text
from engmon.core.zone import local, zone_label
from engmon.tui.state import ClockState
from engmon.tui.widgets.line import TextLine


def mode_text(clock: ClockState) -> str:
    """`LIVE`, `REPLAY 60x`, with ` · PAUSED` / ` · END` when so."""
    mode = "LIVE" if clock.live else f"REPLAY {clock.speed:g}x"
    if clock.paused:
        mode += " · PAUSED"
    elif clock.at_end and not clock.live:
        mode += " · END"
    return mode


def short_link(link: str) -> str:
    """The link as people say it: no scheme, no `www.` (`example.com/blog/launch`)."""
    bare = link.split("://", 1)[-1]
    return bare.removeprefix("www.")


def header_parts(
    campaign: Campaign, post_time: datetime | None, clock: ClockState, *, narrow: bool = False
) -> tuple[str, str]:
    """Left and right halves of the header line, as plain text. Narrow: no `engmon ·`, and the
    post's date only when it is not the clock's day, so the link keeps its host and path."""
    # name and link come from a file name, a recording header or the TOML: untrusted text
    names = (printable(campaign.name, 80), printable(short_link(campaign.link or ""), 120))
    left = " · ".join(part for part in (*(() if narrow else ("engmon",)), *names) if part)
    right: list[str] = []
    if post_time is not None:
        shown = local(post_time)  # the zone of --tz / [campaign] tz (UTC by default)
        zone = zone_label(post_time)
        if not narrow:
            when = f"{shown:%Y-%m-%d %H:%M} {zone}"
        elif shown.date() == local(clock.now).date():
            when = f"{shown:%H:%M} {zone}"
        else:
            when = f"{shown:%d %b %H:%M}"
        right.append("post time unknown" if post_time == RELATIVE_ANCHOR else f"posted {when}")
        right.append(offset_text((clock.now - post_time).total_seconds()))
    right.append(mode_text(clock))
    return left, " · ".join(right)


class HeaderLine(TextLine):
    """One line: `engmon · name · link ... posted 14:00 UTC · +14m · LIVE`."""

    fixed_height = True

    def show(self, campaign: Campaign, post_time: datetime | None, clock: ClockState) -> None:
        """Redraw from the campaign and the clock."""
        # before the first layout the line has no width yet: it spans the terminal's
        width = self.size.width or self.app.size.width
        narrow = 0 < width < 100
        left, right = header_parts(campaign, post_time, clock, narrow=narrow)

        def grid() -> Table:  # built only when the text changed (once a second, not per tick)
            # a space between the halves even when the left one is cut to fit
            table = Table.grid(expand=True, padding=(0, 0, 0, 1))
            table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
            table.add_column(justify="right", no_wrap=True)
            right_text = Text(right)
            if clock.paused:
                right_text.highlight_words(["PAUSED"], "bold reverse")
            table.add_row(Text(left, style="bold"), right_text)
            return table

        self.show_text(grid, (left, right, clock.paused, width))
