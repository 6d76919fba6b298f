"""The help screen: every key of the dashboard with what it does."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engmon.tui.keys import DASHBOARD_KEYS, KeyAction


def keys_table(keys: tuple[KeyAction, ...] = DASHBOARD_KEYS) -> Table:
    """Two columns: key, what it does."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key in keys:
        name = key.keys.split(",")[0]
        table.add_row(name if name in ("home", "end") else key.display or name, key.help)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and what the panel means; escape, q or ? closes it."""

    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("escape,q,question_mark", "close", "close help", key_display="esc"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("engmon keys", id="help-title")
            yield Static(keys_table(), id="help-keys")
            yield Static(
                "The verdict and the curve carry the story: clicks, replies, reposts and quotes"
                " per 1k followers of the poster. Likes are shown, never the headline."
                " Command palette: ctrl+p.",
                id="help-about",
            )

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
