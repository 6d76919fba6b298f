"""The engagement curve: per-bucket counts of one metric since the post (textual-plotext)."""

from __future__ import annotations

import time
from typing import Any, Final

from rich.text import Text
from textual.app import RenderResult
from textual.timer import Timer
from textual_plotext import PlotextPlot

from engmon.core.printable import printable
from engmon.tui.viewmodel import Curve
from engmon.tui.widgets.statusline import width_text

MIN_AXIS_MINUTES = 10
"""The x axis spans at least this many minutes, so a young post's first bars stay narrow."""
SHORT_ROWS: Final = 12
"""Below this height the curve drops its x axis label."""
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
"""Candidate distances in minutes between x-axis labels."""


def minute_label(minute: int) -> str:
    """`5m`, `1h`, `1h30`, `2d`: an x-axis label for minutes since post."""
    if minute < 60:
        return f"{minute}m"
    if minute >= 1440:
        days, rest = divmod(minute, 1440)
        return f"{days}d" if rest == 0 else f"{days}d{rest // 60:02d}h"
    hours, mins = divmod(minute, 60)
    return f"{hours}h" if mins == 0 else f"{hours}h{mins:02d}"


def axis_ticks(
    curve: Curve, max_ticks: int = 8, span: int | None = None
) -> tuple[list[float], list[str]]:
    """Round x positions (in the curve's unit) and their labels, at most `max_ticks`, over
    `span` minutes (default: to the clock)."""
    span = max(span or curve.end_minute, MIN_AXIS_MINUTES)
    step = next((s for s in TICK_STEPS if span / s <= max_ticks), TICK_STEPS[-1])
    minutes = list(range(0, span + 1, step))
    scale = 60.0 if curve.unit == "h" else 1.0
    return [m / scale for m in minutes], [minute_label(m) for m in minutes]


def count_step(top: float, max_ticks: int = 5) -> int:
    """A whole-number y-axis step (1, 2, 5, 10, 20, 50, …) giving at most `max_ticks` steps."""
    step = 1
    while top / step > max_ticks:
        for factor in (2, 5, 10):
            if top / (step * factor) <= max_ticks or factor == 10:
                step *= factor
                break
    return step


FULL_BLOCK: Final = "█"
BASELINE_BAR: Final = "▁"
"""A bucket shorter than one row is drawn as a low bar on the bottom row: still visible, and
the row reads as the axis it is instead of a solid line of one-row bars."""


THIN_FROM_ROWS: Final = 8
"""Plots shorter than this keep full one-row bars: there a row is more than an eighth of
the scale, and a low bar would understate a bucket half as high as the peak."""


def thin_baseline(text: Text, min_rows: int = THIN_FROM_ROWS) -> Text:
    """`text` (a rendered plot) with every bar cell of the bottom plot row that has no bar
    cell above it drawn as `BASELINE_BAR`; bars of two rows or more stay whole. Plots of
    fewer than `min_rows` rows are returned as they are.

    The plot rows lie between the frame's `┌` and `└` lines. Characters are swapped one
    for one, so the colours (spans) stay where they were.
    """
    plain = text.plain
    lines = plain.split("\n")
    top = next((i for i, line in enumerate(lines) if "┌" in line), None)
    frame = next((i for i, line in enumerate(lines) if "└" in line), None)
    if top is None or frame is None or frame - top - 1 < max(2, min_rows):
        return text
    base, above = lines[frame - 1], lines[frame - 2]
    start = sum(len(line) + 1 for line in lines[: frame - 1])
    swaps = [
        col
        for col, char in enumerate(base)
        if char == FULL_BLOCK and (col >= len(above) or above[col] != FULL_BLOCK)
    ]
    if not swaps:
        return text
    chars = list(plain)
    for col in swaps:
        chars[start + col] = BASELINE_BAR
    return Text(
        "".join(chars),
        style=text.style,
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        spans=list(text.spans),
    )


def curve_title(curve: Curve) -> Text:
    """`clicks per 1m · since post` (a Text: the metric name is never read as markup)."""
    return Text(f"{printable(curve.metric, 60)} per {width_text(curve.width)} · since post")


class CurvePlot(PlotextPlot):
    """Bars per bucket, the cumulative line on the right axis when toggled on.

    The plot is rebuilt only in `show`; textual-plotext renders it deterministically, so the
    curve is stable in SVG snapshots.
    """

    curve: Curve | None = None
    min_interval: float = 0.25
    """Seconds between two plot builds: plotext needs 10-40 ms per build, the rest of the
    dashboard keeps its 10/s update and the curve catches up at most this late."""

    _built_at: float = -1e9
    _pending: Timer | None = None

    def show(self, curve: Curve) -> None:
        """Take a new curve from the view model; it is drawn at the next (throttled) render."""
        if curve == self.curve:
            return
        self.curve = curve
        self.border_title = curve_title(curve)
        wait = self._built_at + self.min_interval - time.monotonic()
        if wait <= 0:
            self.refresh()
        elif self._pending is None:
            self._pending = self.set_timer(wait, self._flush, name="curve-throttle")

    def _flush(self) -> None:
        self._pending = None
        self.refresh()

    def flush(self) -> None:
        """Draw a throttled curve now (tests, screenshots)."""
        if self._pending is not None:
            self._pending.stop()
            self._flush()

    def render(self) -> RenderResult:
        """Build the plot for the current size (axis labels depend on the width)."""
        curve = self.curve
        self._built_at = time.monotonic()
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if curve is not None:
            cumulative = curve.cumulative is not None
            # a short panel keeps its rows for bars (the title already says "since post")
            labelled = self.size.height >= SHORT_ROWS  # the status line says "cumulative on"
            if labelled:
                plt.xlabel("time since post" + (" · right axis: cumulative" if cumulative else ""))
            scale = 60.0 if curve.unit == "h" else 1.0
            half = curve.width / scale / 2
            # lines first, bars last: a bar is drawn whole over the band and the cumulative
            # line instead of being punched through by their dots
            if curve.band_low is not None and curve.band_high is not None:
                # the expected band of your past posts (p10–p90), as far as they reached
                band_x = curve.x[: len(curve.band_high)]
                plt.plot(band_x, curve.band_high, marker="braille", color="gray", label="p90 past")
                plt.plot(band_x, curve.band_low, marker="braille", color="gray", label="p10 past")
            if curve.cumulative is not None:  # right axis: totals dwarf per-bucket counts
                ends = [0.0, *(x + half for x in curve.x)]  # running total at each bucket's end
                plt.plot(
                    ends, [0.0, *curve.cumulative], yside="right", marker="braille", color="cyan"
                )
            xs, values = list(curve.x), list(curve.values)
            if len(xs) == 1:
                # plotext sizes bars by the distance between them: a lone bucket (6h or 1d
                # early on) gets an empty neighbour so it is drawn as wide as its bucket
                xs, values = [*xs, xs[0] + 2 * half], [*values, 0.0]
            plt.bar(xs, values)
            self.decorate(plt)
            # a fixed minimum span keeps the first bars narrow instead of half the screen wide
            span = max(curve.end_minute, MIN_AXIS_MINUTES) / scale
            right_edge = max(span, curve.x[-1] + half if curve.x else span)
            plt.xlim(0, right_edge)
            # the labels run as far as the bars do (a 6h bucket reaches past the clock)
            positions, labels = axis_ticks(
                curve, max_ticks=max(2, self.size.width // 12), span=round(right_edge * scale)
            )
            plt.xticks(positions, labels)
            top = max([*curve.values, *(curve.band_high or []), self.extra_top()], default=0.0)
            step = count_step(top)
            plt.ylim(0, max(top, 1.0))
            ticks: list[float] = [step * i for i in range(int(max(top, 1.0) // step) + 1)]
            # plot rows: the content height less the frame, the tick labels and the x label
            rows = self.size.height - (4 if labelled else 3)
            if rows < 1:  # no room for a bar: a label would sit on the frame
                ticks = []
            elif len(ticks) > rows:  # plotext picks among colliding labels by hash order
                # thinned from the top: a plot one row high is labelled with its scale, not 0
                ticks = ticks[::-1][:: -(-len(ticks) // rows)][::-1]
            plt.yticks(ticks)
            if curve.cumulative is not None:
                total = max(curve.cumulative[-1] if curve.cumulative else 0.0, 1.0)
                right = count_step(total)
                loose: Any = plt  # plotext annotates `yside` as a number; it takes "right"
                loose.ylim(0, total, yside="right")
                loose.yticks([right * i for i in range(int(total // right) + 1)], yside="right")
        rendered = super().render()
        return thin_baseline(rendered) if isinstance(rendered, Text) else rendered

    def extra_top(self) -> float:
        """The highest value subclasses draw over the bars (the y axis must reach it)."""
        return 0.0

    def decorate(self, plt: Any) -> None:
        """Hook for subclasses to draw over the bars (the drilldown's cursor and overlay)."""
