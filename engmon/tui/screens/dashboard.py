"""The dashboard screen: header, sources, verdict, KPIs, curve, status line and Footer.

It only lays out widgets and passes them view-model pieces; the app decides when to redraw.
`#body` is a horizontal row holding the curve: later panels (breakdown tables) mount beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer

from engmon.core.breakdown import BREAKDOWNS
from engmon.core.campaign import Campaign
from engmon.tui.screens.opening import WAITING, DashboardFrame
from engmon.tui.state import ClockState
from engmon.tui.viewmodel import DashboardView
from engmon.tui.widgets.breadcrumb import FilterBreadcrumb
from engmon.tui.widgets.breakdown import BreakdownPanel, BreakdownTable
from engmon.tui.widgets.curve import CurvePlot
from engmon.tui.widgets.drillcurve import DrillCurve
from engmon.tui.widgets.header import HeaderLine
from engmon.tui.widgets.kpis import KpiRow
from engmon.tui.widgets.sources import SourcesLine
from engmon.tui.widgets.statusline import StatusLine
from engmon.tui.widgets.verdict import VerdictPanel
from engmon.watch.poller import SourceStatus


class DashboardScreen(DashboardFrame):
    """The one panel: is the link working?"""

    AUTO_FOCUS = ""  # global keys first (←/→ seek); tab focuses the curve, then the tables

    ready = False
    """True once the widgets are mounted (the app redraws only then)."""

    def compose(self) -> ComposeResult:
        self.fit_breakpoints()
        yield HeaderLine(id="header")
        yield SourcesLine(id="sources")
        yield VerdictPanel(WAITING, id="verdict")
        yield KpiRow(id="kpis")
        with Horizontal(id="body"):
            yield DrillCurve(id="curve")
            with VerticalScroll(id="breakdowns", can_focus=False):
                for dimension in BREAKDOWNS:
                    yield BreakdownPanel(dimension)
        yield FilterBreadcrumb(id="breadcrumb")
        yield StatusLine(id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # narrow and short: a focused table takes the KPI rows' place, not the curve's
        self.set_class(isinstance(event.widget, BreakdownTable), "-table-focus")
        self._fit_footer()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.remove_class("-table-focus")
        self._fit_footer()

    def _fit_footer(self) -> None:
        # the focused area's keys come first in the Footer and need room of their own; asked
        # of the app's focus (a blur may arrive after the next widget's focus)
        fit = getattr(self.app, "fit_footer", None)
        if fit is not None:
            focused = isinstance(self.app.focused, DrillCurve | BreakdownTable)
            fit(self.app.size.width, focused=focused)

    def on_mount(self) -> None:
        self.ready = True
        refresh = getattr(self.app, "refresh_dashboard", None)
        if refresh is not None:
            refresh()

    def show_clock(self, campaign: Campaign, post_time: datetime | None, clock: ClockState) -> None:
        """Redraw the header (cheap; every tick)."""
        self.query_one(HeaderLine).show(campaign, post_time, clock)

    def show_sources(self, statuses: Iterable[SourceStatus], now_mono: float) -> None:
        """Redraw the sources line (cheap; every tick)."""
        self.query_one(SourcesLine).show(statuses, now_mono)

    def show_view(self, view: DashboardView, progress: str = "") -> None:
        """Redraw everything computed from the store."""
        self.query_one(VerdictPanel).show(view.verdict)
        self.query_one(KpiRow).show(view)
        self.query_one(CurvePlot).show(view.curve)
        self.query_one(StatusLine).show(view, progress)
