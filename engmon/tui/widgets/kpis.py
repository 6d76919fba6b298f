"""The KPI row: honest counts first, likes shown but not the headline, then the rates."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engmon.core.metrics import offset_text
from engmon.core.verdict import compact_count, rate_text
from engmon.tui.viewmodel import DashboardView

NBSP = "\u00a0"  # keeps a label and its number together when the row wraps


def kpi_items(view: DashboardView) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(label, value) pairs of the two rows: counts, then rates of the headline metric."""
    k = view.kpis
    counts = [
        ("clicks", compact_count(k.clicks)),
        ("replies", compact_count(k.replies)),
        ("reposts+quotes", compact_count(k.reshares)),
        ("likes", compact_count(k.likes)),
        ("per 1k followers", "n/a" if k.per_1k is None else rate_text(k.per_1k)),
        ("reach", compact_count(k.reach)),
    ]
    unit = view.headline
    peak = f"{rate_text(k.peak)}/min"
    if k.peak > 0 and k.peak_minute is not None:
        peak += f" at {offset_text(k.peak_minute * 60)}"
    rates = [
        (f"{unit} now", f"{rate_text(k.velocity)}/min"),
        ("peak", peak),
        (f"first {unit.removesuffix('s')}", "—" if k.first_s is None else offset_text(k.first_s)),
    ]
    return counts, rates


def _row(items: list[tuple[str, str]], headline: str) -> Text:
    text = Text()
    for index, (label, value) in enumerate(items):
        if index:
            text.append("   ")
        style = "dim" if label == "likes" else ""
        text.append(label.replace(" ", NBSP) + NBSP, style=f"{style} italic".strip())
        bold = "bold" if label == headline else ""
        text.append(value.replace(" ", NBSP), style=f"{bold} {style}".strip())
    return text


class KpiRow(Static):
    """Two lines of numbers; wraps at narrow widths without splitting a number from its label."""

    def show(self, view: DashboardView) -> None:
        """Redraw from the view model."""
        counts, rates = kpi_items(view)
        self.update(Text("\n").join([_row(counts, view.headline), _row(rates, view.headline)]))
