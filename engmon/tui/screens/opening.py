"""The dashboard's frame and its opening: the layout drawn before any data or polars is loaded.

`DashboardFrame` is what the dashboard and its opening share: the terminal's breakpoints (set
before the first frame) and the style rules of `engmon.tcss`. `OpeningScreen` is the first
frame of `engmon demo`: header with the link and the replay's mode, the panels where the
numbers will be, and the Footer; it holds no number, and the app replaces it with the dashboard
as soon as the session is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from engmon.tui.widgets.header import HeaderLine
from engmon.tui.widgets.line import TextLine

if TYPE_CHECKING:
    from engmon.core.campaign import Campaign
    from engmon.tui.state import ClockState

WAITING = "waiting for the first observations…"
"""The verdict until rows arrive (the dashboard's too)."""


class DashboardFrame(Screen[None]):
    """Layout rules of the dashboard: narrow puts the tables under the curve, short gives the
    verdict's box up so the curve keeps a few rows of bars."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012 (Screen declares it)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012

    def fit_breakpoints(self) -> None:
        """Set the breakpoint classes for the app's size now: Textual applies them on the first
        Resize, after the first frame, which would then have another terminal's layout."""
        width, height = self.app.size
        for size, breakpoints in (
            (width, self.HORIZONTAL_BREAKPOINTS),
            (height, self.VERTICAL_BREAKPOINTS),
        ):
            chosen = max((edge, name) for edge, name in breakpoints if size >= edge)[1]
            self.add_class(chosen)


class OpeningScreen(DashboardFrame):
    """The dashboard's layout with its header, before the session exists (no numbers yet)."""

    AUTO_FOCUS = ""

    def __init__(self, campaign: Campaign, clock: ClockState) -> None:
        super().__init__()
        self.campaign = campaign
        self.clock = clock

    def compose(self) -> ComposeResult:
        self.fit_breakpoints()
        yield HeaderLine(id="header")
        yield TextLine(id="sources")
        yield TextLine(WAITING, id="verdict")
        yield TextLine(id="kpis")
        with Horizontal(id="body"):
            yield Static(id="curve")
            yield VerticalScroll(id="breakdowns", can_focus=False)
        yield TextLine(id="breadcrumb")
        yield TextLine(id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#verdict").border_title = "verdict"
        self.query_one(HeaderLine).show(self.campaign, self.campaign.post_time, self.clock)
