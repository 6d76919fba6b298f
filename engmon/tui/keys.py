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
    group: str | None = None  # keys of one group share a Footer label ("+- speed")


DASHBOARD_KEYS: Final = (
    KeyAction("space", "toggle_pause", "pause", "Pause or resume the clock", "space"),
    KeyAction(
        "plus,equals_sign", "faster", "faster", "Replay faster (1x … 3600x)", "+", group="speed"
    ),
    KeyAction("minus", "slower", "slower", "Replay slower", "-", group="speed"),
    KeyAction("left", "seek(-1)", "back", "Seek back one bucket", "←", group="seek"),
    KeyAction("right", "seek(1)", "forward", "Seek forward one bucket", "→", group="seek"),
    KeyAction("home", "seek_start", "start", "Jump to the post", "⇤", group="seek"),
    KeyAction("end", "seek_end", "end", "Jump to the end of the replay", "⇥", group="seek"),
    KeyAction("m", "cycle_metric", "metric", "Cycle the curve's metric"),
    KeyAction("c", "toggle_cumulative", "cumulative", "Show or hide the cumulative line"),
    KeyAction("b", "cycle_bucket", "bucket", "Cycle the bucket width (auto, 1m … 1d)"),
    KeyAction("question_mark", "help", "help", "Show this help", "?"),
    KeyAction("q", "quit", "quit", "Quit engmon"),
)
"""Every dashboard key. Later features append their own KeyAction here."""


def bindings(keys: tuple[KeyAction, ...] = DASHBOARD_KEYS) -> list[Binding]:
    """Textual bindings for a key table (one shared Footer group per group name)."""
    groups = {k.group: Binding.Group(k.group, compact=True) for k in keys if k.group}
    return [
        Binding(
            k.keys,
            k.action,
            k.label,
            show=k.show,
            key_display=k.display,
            tooltip=k.help,
            group=groups.get(k.group) if k.group else None,
        )
        for k in keys
    ]
