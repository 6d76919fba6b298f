"""The status line above the Footer: bucket width, cumulative, metric, replay catch-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engmon.tui.widgets.line import TextLine

if TYPE_CHECKING:
    from engmon.tui.viewmodel import DashboardView


def width_text(minutes: int) -> str:
    """`1m`, `15m`, `1h`, `6h`, `1d`."""
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def status_words(view: DashboardView, progress: str = "") -> str:
    """`metric clicks · bucket 5m (auto) · cumulative off`, then any progress text."""
    curve = view.curve
    bucket = width_text(curve.width) + (" (auto)" if curve.auto_width else "")
    cumulative = "on" if curve.cumulative is not None else "off"
    words = f"metric {curve.metric} · bucket {bucket} · cumulative {cumulative}"
    return f"{progress}   {words}" if progress else words


class StatusLine(TextLine):
    """One right-aligned line of the curve's settings and loading progress."""

    fixed_height = True

    def show(self, view: DashboardView, progress: str = "") -> None:
        """Redraw from the view model and a progress text."""
        words = status_words(view, progress)
        self.show_text(words, (words, self.size.width))
