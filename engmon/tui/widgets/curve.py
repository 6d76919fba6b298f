"""The engagement curve: per-bucket counts of one metric since the post (textual-plotext)."""

from __future__ import annotations

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from engmon.tui.viewmodel import Curve
from engmon.tui.widgets.statusline import width_text

TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
"""Candidate distances in minutes between x-axis labels."""


def minute_label(minute: int) -> str:
    """`5m`, `1h`, `1h30`, `2d`: an x-axis label for minutes since post."""
    if minute < 60:
        return f"{minute}m"
    if minute % 1440 == 0:
        return f"{minute // 1440}d"
    hours, mins = divmod(minute, 60)
    return f"{hours}h" if mins == 0 else f"{hours}h{mins:02d}"


def axis_ticks(curve: Curve, max_ticks: int = 8) -> tuple[list[float], list[str]]:
    """Round x positions (in the curve's unit) and their labels, at most `max_ticks`."""
    span = curve.end_minute
    step = next((s for s in TICK_STEPS if span / s <= max_ticks), TICK_STEPS[-1])
    minutes = list(range(0, span + 1, step))
    scale = 60.0 if curve.unit == "h" else 1.0
    return [m / scale for m in minutes], [minute_label(m) for m in minutes]


def curve_title(curve: Curve) -> str:
    """`clicks per 1m · since post`."""
    return f"{curve.metric} per {width_text(curve.width)} · since post"


class CurvePlot(PlotextPlot):
    """Bars per bucket, the cumulative line on the right axis when toggled on.

    The plot is rebuilt only in `show`; textual-plotext renders it deterministically, so the
    curve is stable in SVG snapshots.
    """

    curve: Curve | None = None

    def show(self, curve: Curve) -> None:
        """Take a new curve from the view model; it is drawn at the next render."""
        self.curve = curve
        self.border_title = curve_title(curve)
        self.refresh()

    def render(self) -> RenderResult:
        """Build the plot for the current size (axis labels depend on the width)."""
        curve = self.curve
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if curve is not None:
            cumulative = curve.cumulative is not None
            plt.xlabel("time since post" + (" · right axis: cumulative" if cumulative else ""))
            plt.bar(curve.x, curve.values, marker="hd")
            if curve.cumulative is not None:  # right axis: totals dwarf per-bucket counts
                plt.plot(curve.x, curve.cumulative, yside="right", marker="braille")
            positions, labels = axis_ticks(curve, max_ticks=max(2, self.size.width // 12))
            plt.xticks(positions, labels)
            if max(curve.values, default=0.0) <= 0:
                plt.ylim(0, 1)
        return super().render()
