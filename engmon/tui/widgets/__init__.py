"""Dashboard widgets. Each shows one part of the view model and never computes metrics."""

from engmon.tui.widgets.curve import CurvePlot
from engmon.tui.widgets.header import HeaderLine
from engmon.tui.widgets.kpis import KpiRow
from engmon.tui.widgets.sources import SourcesLine
from engmon.tui.widgets.statusline import StatusLine
from engmon.tui.widgets.verdict import VerdictPanel

__all__ = ["CurvePlot", "HeaderLine", "KpiRow", "SourcesLine", "StatusLine", "VerdictPanel"]
