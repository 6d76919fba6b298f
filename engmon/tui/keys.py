"""The dashboard's keys, in one table: bindings, Footer, command palette and help screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from textual.binding import Binding


@dataclass(frozen=True)
class KeyAction:
    """One key: Textual key name(s), the app action it runs, Footer label and help line."""

    keys: str
    action: str
    label: str
    help: str
    display: str | None = None
    show: bool = True


DASHBOARD_KEYS: Final = (
    KeyAction("space", "toggle_pause", "pause", "Pause or resume the clock", "space"),
    KeyAction("plus,equals_sign", "faster", "faster", "Replay faster (1x … 3600x)", "+"),
    KeyAction("minus", "slower", "slower", "Replay slower", "-"),
    KeyAction("left", "seek(-1)", "back", "Seek back one bucket", "←"),
    KeyAction("right", "seek(1)", "fwd", "Seek forward one bucket", "→"),
    KeyAction("home", "seek_start", "start", "Jump to the post", "home"),
    KeyAction("end", "seek_end", "end", "Jump to the end of the replay", "end"),
    KeyAction("m", "cycle_metric", "metric", "Cycle the curve's metric"),
    KeyAction("c", "toggle_cumulative", "cumulative", "Show or hide the cumulative line"),
    KeyAction("b", "cycle_bucket", "bucket", "Cycle the bucket width (auto, 1m … 1d)"),
    KeyAction("question_mark", "help", "help", "Show this help", "?"),
    KeyAction("q", "quit", "quit", "Quit engmon"),
)
"""Every dashboard key. Later features append their own KeyAction here."""


def bindings(keys: tuple[KeyAction, ...] = DASHBOARD_KEYS) -> list[Binding]:
    """Textual bindings for a key table."""
    return [
        Binding(k.keys, k.action, k.label, show=k.show, key_display=k.display, tooltip=k.help)
        for k in keys
    ]
