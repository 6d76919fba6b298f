"""The curve with a time cursor and a comparison overlay (drilldown, issue #6).

`←`/`→` move the cursor one bucket while the curve has focus (the app's seek keys act
elsewhere), `enter` opens the observations of the bucket under it, `escape` hides it. The
selected bucket is drawn as a highlighted bar; a compared post is a line over the bars,
aligned at its own post time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual.app import RenderResult
from textual.binding import Binding, BindingType
from textual.message import Message

from engmon.tui.widgets.curve import CurvePlot


@dataclass
class CursorMoved(Message):
    """The time cursor now sits on bucket `start` (minutes since post), or was hidden (None)."""

    start: int | None


@dataclass
class BucketOpened(Message):
    """`enter` on the curve: show the observations of bucket [start, start + width)."""

    start: int
    width: int


@dataclass(frozen=True)
class Overlay:
    """A comparison curve: its label and one value per bucket of the current curve."""

    label: str
    values: list[float]


_CURSOR = Binding.Group("cursor", compact=True)


class DrillCurve(CurvePlot):
    """CurvePlot plus a bucket cursor and an optional overlay; focusable."""

    can_focus = True

    BINDINGS: ClassVar[list[BindingType]] = [
        # shown first in the Footer while the curve has focus
        Binding("left", "cursor(-1)", "cursor ←", key_display="←", group=_CURSOR),
        Binding("right", "cursor(1)", "cursor →", key_display="→", group=_CURSOR),
        Binding("enter", "open_bucket", "open", key_display="⏎", tooltip="The bucket's rows"),
        Binding("escape", "hide_cursor", "hide cursor", show=False),
    ]

    cursor: int | None = None
    """Index of the selected bucket in the curve's x, or None."""
    overlay: Overlay | None = None
    _drawn: tuple[object, RenderResult] | None = None

    def render(self) -> RenderResult:
        """The plot, rebuilt only when what it shows changed (a relayout re-renders every
        widget; plotext needs tens of ms per build)."""
        key = (self.curve, self.size, self.cursor, self.overlay, self.app.theme, self.theme)
        if self._drawn is not None and self._drawn[0] == key:
            return self._drawn[1]
        drawn = super().render()
        self._drawn = (key, drawn)
        return drawn

    def set_overlay(self, overlay: Overlay | None) -> None:
        """Draw (or remove) a comparison line at the next render."""
        if overlay != self.overlay:
            self.overlay = overlay
            self.refresh()

    def cursor_start(self) -> int | None:
        """Minutes since post where the selected bucket starts."""
        if self.cursor is None or self.curve is None:
            return None
        return self.cursor * self.curve.width

    def action_cursor(self, step: int) -> None:
        """Move the cursor one bucket (it appears on the latest bucket first)."""
        curve = self.curve
        if curve is None or not curve.values:
            return
        last = len(curve.values) - 1
        if self.cursor is None:
            self.cursor = last
        else:
            self.cursor = max(0, min(last, self.cursor + step))
        self.refresh()
        self.post_message(CursorMoved(self.cursor_start()))

    def action_hide_cursor(self) -> None:
        """Hide the cursor; with no cursor, `escape` goes on to the app (pops a filter)."""
        if self.cursor is None:
            self.app.call_later(self.app.run_action, "pop_filter")
            return
        self.cursor = None
        self.refresh()
        self.post_message(CursorMoved(None))

    def action_open_bucket(self) -> None:
        """Ask the app to open the observations of the selected bucket."""
        start = self.cursor_start()
        if start is None:
            self.action_cursor(0)
            start = self.cursor_start()
        if start is not None and self.curve is not None:
            self.post_message(BucketOpened(start, self.curve.width))

    def extra_top(self) -> float:
        """The comparison line's highest point within the curve's buckets: the y axis reaches
        it, so the line stays inside the frame."""
        if self.overlay is None or self.curve is None:
            return 0.0
        return max(self.overlay.values[: len(self.curve.x)], default=0.0)

    def decorate(self, plt: Any) -> None:
        """Cursor bar and overlay line, drawn over the bars (called from `render`)."""
        curve = self.curve
        if curve is None:
            return
        if self.cursor is not None and self.cursor >= len(curve.values):
            self.cursor = len(curve.values) - 1 if curve.values else None
        if self.overlay is not None and self.overlay.values:
            count = min(len(curve.x), len(self.overlay.values))
            plt.plot(
                curve.x[:count],
                self.overlay.values[:count],
                marker="braille",
                color="magenta",
                label=self.overlay.label,
            )
        if self.cursor is not None:
            x = curve.x[self.cursor]
            plt.vline(x, "orange")  # first: the bar drawn after it stays visible
            plt.bar([x], [curve.values[self.cursor]], color="orange")
