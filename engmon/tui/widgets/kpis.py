"""The KPI row: honest counts first, likes shown but not the headline, then the rates."""

from __future__ import annotations

from rich.text import Text

from engmon.core.outlook import forecast_kpi, forecast_noun
from engmon.core.printable import printable
from engmon.core.verdict import peak_text, rate_text
from engmon.core.words import compact_count, offset_text
from engmon.tui.viewmodel import DashboardView
from engmon.tui.widgets.line import TextLine


def kpi_items(view: DashboardView) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(label, value) pairs of the two rows: counts, then rates of the headline metric."""
    k = view.kpis

    def count(value: float, *metrics: str) -> str:
        has = any(m in k.present for m in metrics) or not k.present
        return compact_count(value) if has else "—"  # "—": not in this data, unlike 0

    counts = [
        ("clicks", count(k.clicks, "clicks")),
        ("replies", count(k.replies, "replies")),
        ("reposts+quotes", count(k.reshares, "reposts", "quotes")),
        ("likes", count(k.likes, "likes")),
        ("per 1k followers", "n/a" if k.per_1k is None else rate_text(k.per_1k)),
        ("reach", count(k.reach, "reposts", "quotes", "resharers")),
    ]
    if "conversions" in k.present:  # only when a goal is watched
        rate = "" if k.conversion_rate is None else f" ({k.conversion_rate * 100:.1f}%/click)"
        counts.append(("conversions", compact_count(k.conversions) + rate))
        if k.conversions_per_1k is not None:
            counts.append(("conv. per 1k", rate_text(k.conversions_per_1k)))
    if k.visitors_now is not None:  # a source measures who is here (Umami, Plausible, logs)
        counts.append(("visitors now", compact_count(k.visitors_now)))
    unit = view.headline
    peak = peak_text(k.peak, k.peak_minute)
    rates = [
        (f"{unit} now", f"{rate_text(k.velocity)}/min"),
        ("peak", peak),
        (f"first {unit.removesuffix('s')}", "—" if k.first_s is None else offset_text(k.first_s)),
    ]
    if view.outlook is not None:  # the forecast of the final total and its 95% interval
        made = view.outlook.forecast
        rates.append((f"forecast {forecast_noun(made, unit)}", forecast_kpi(made)))
        if view.outlook.clicks is not None:
            rates.append((f"forecast {unit}", forecast_kpi(view.outlook.clicks)))
    return counts, rates


def _item(label: str, value: str, headline: str) -> Text:
    dim = "dim" if label == "likes" else ""  # shown, never the headline
    text = Text(printable(label, 60) + " ", style=f"{dim} italic".strip())  # metric names
    text.append(printable(value), style="bold" if label == headline else dim)
    return text


def pack(items: list[Text], width: int, gap: int = 3) -> list[Text]:
    """Lay items out left to right, starting a new line when the next would not fit whole."""
    lines: list[Text] = []
    line = Text()
    for item in items:
        if line.cell_len and line.cell_len + gap + item.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(" " * gap)
        line.append_text(item)
    if line.cell_len:
        lines.append(line)
    return lines


class KpiRow(TextLine):
    """Two groups of numbers; at narrow widths they wrap between numbers, never inside one."""

    view: DashboardView | None = None

    def show(self, view: DashboardView) -> None:
        """Redraw from the view model."""
        self.view = view
        counts, rates = kpi_items(view)
        width = max(20, self.content_region.width or 118)
        lines = [
            *pack([_item(label, value, view.headline) for label, value in counts], width),
            *pack([_item(label, value, view.headline) for label, value in rates], width),
        ]
        text = Text("\n").join(lines)
        self.show_text(text, (text.markup, self.size.width))

    def on_resize(self) -> None:
        if self.view is not None:
            self.show(self.view)
