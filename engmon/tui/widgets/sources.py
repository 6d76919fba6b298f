"""The sources line: one `● name 3s ago` / `◐ name retry in 20s (429)` per source."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.text import Text

from engmon.core.printable import printable
from engmon.tui.widgets.line import TextLine
from engmon.watch.poller import SourceStatus

MAX_ERROR_CHARS = 40


def age_text(seconds: float) -> str:
    """`3s`, `4m`, `2h`: how long ago, compact."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    return f"{whole // 3600}h"


def short_reason(error: str | None) -> str:
    """`429`, `timeout`…: the HTTP status in an error line when there is one, else its start."""
    if not error:
        return "error"
    code = re.search(r"\b([45]\d\d)\b", error)
    if code:
        return code.group(1)
    text = error.replace("\n", " ")
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def status_text(status: SourceStatus, now_mono: float) -> Text:
    """One source's marker, name and state (name and error escaped: they are feed text)."""
    name = printable(status.name, 40)
    if status.state in ("retrying", "failed"):
        error = printable(short_reason(status.last_error))
        wait = age_text((status.retry_at or now_mono) - now_mono)
        word = "retry in" if status.state == "retrying" else "failed, retry in"
        return Text.assemble(("◐ ", "bold red"), f"{name} {word} {wait} ({error})")
    if status.state == "waiting":
        return Text.assemble(("○ ", "dim"), f"{name} waiting")
    marker = ("● ", "bold green")
    if status.state == "done":
        return Text.assemble(marker, f"{name} done")
    ago = age_text(now_mono - (status.last_ok or now_mono))
    return Text.assemble(marker, f"{name} {ago} ago")


class SourcesLine(TextLine):
    """Every source's health at a glance; errors stay visible, never crash the app."""

    def show(self, statuses: Iterable[SourceStatus], now_mono: float) -> None:
        """Redraw from the pollers' statuses at monotonic time `now_mono`."""
        line = Text("sources: ", style="dim")
        parts = [status_text(status, now_mono) for status in statuses]
        line.append_text(Text("  ").join(parts) if parts else Text("none", style="dim"))
        self.show_text(line, (line.markup, self.size.width))
