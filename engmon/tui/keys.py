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
    narrow: bool = True  # also in the Footer of a narrow terminal (else `?` and ctrl+p list it)
    replay_only: bool = False  # meaningless on a live watch: hidden and inactive there


DASHBOARD_KEYS: Final = (
    KeyAction("space", "toggle_pause", "pause", "Pause or resume the clock", "space"),
    KeyAction(
        "plus,equals_sign",
        "faster",
        "faster",
        "Replay faster (1x … 3600x)",
        "+",
        group="speed",
        replay_only=True,
    ),
    KeyAction("minus", "slower", "slower", "Replay slower", "-", group="speed", replay_only=True),
    KeyAction(
        "left", "seek(-1)", "back", "Seek back one bucket", "←", group="seek", replay_only=True
    ),
    KeyAction(
        "right",
        "seek(1)",
        "forward",
        "Seek forward one bucket",
        "→",
        group="seek",
        replay_only=True,
    ),
    KeyAction(
        "home", "seek_start", "start", "Jump to the post", "⇤", group="seek", replay_only=True
    ),
    KeyAction(
        "end",
        "seek_end",
        "end",
        "Jump to the end of the replay",
        "⇥",
        group="seek",
        replay_only=True,
    ),
    KeyAction("m", "cycle_metric", "metric", "Cycle the curve's metric"),
    KeyAction(
        "c", "toggle_cumulative", "cumulative", "Show or hide the cumulative line", narrow=False
    ),
    KeyAction(
        "b", "cycle_bucket", "bucket", "Cycle the bucket width (auto, 1m … 1d)", narrow=False
    ),
    # drilldown (engmon.tui.drilldown)
    KeyAction("enter", "cursor_bucket", "drill", "Drill: filter by the row / open the bucket", "⏎"),
    KeyAction("backspace,escape", "pop_filter", "back", "Remove the last filter", "⌫"),
    KeyAction(
        "slash", "find", "find", "Filter a breakdown table's rows by text", "/", narrow=False
    ),
    KeyAction(
        "v",
        "compare",
        "compare",
        "Compare with another post or a recording (again: stop)",
        narrow=False,
    ),
    KeyAction(
        "e", "export", "export", "Export filtered observations (CSV) + SVG screenshot", narrow=False
    ),
    KeyAction("question_mark", "help", "help", "Show this help", "?"),
    KeyAction("q", "quit", "quit", "Quit engmon"),
)
"""Every dashboard key. Later features append their own KeyAction here."""

CONTEXT_KEYS: Final = (
    ("tab", "Focus the curve, then each table (or click them)"),
    ("← →", "Curve: move the time cursor one bucket"),
    ("⏎", "Curve: open the cursor bucket's observations"),
    ("⏎", "Table: filter the dashboard by the row"),
    ("→ ←", "Referrer table: show / hide a platform's hosts"),
    ("s S", "Table: sort by the next column / flip the order"),
)
"""Keys that act on the focused curve or table (help screen only; bindings live there)."""


FULL_FOOTER_WIDTH: Final = 110
"""Below this many columns the Footer shows only the `narrow` keys, so `? help` and `q quit`
stay on screen (every key is still in the help screen and the command palette)."""
FOCUS_KEYS_WIDTH: Final = 25
"""Columns the focused curve's or table's own keys take at the Footer's start."""
REPLAY_ACTIONS: Final = frozenset(k.action.split("(")[0] for k in DASHBOARD_KEYS if k.replay_only)
"""Actions of the replay clock: a live watch hides them from the Footer and ignores them."""


def bindings(
    keys: tuple[KeyAction, ...] = DASHBOARD_KEYS, *, narrow: bool = False
) -> list[Binding]:
    """Textual bindings for a key table (one shared Footer group per group name); `narrow`:
    the Footer of a narrow terminal shows only the keys marked for it."""
    groups = {k.group: Binding.Group(k.group, compact=True) for k in keys if k.group}
    return [
        Binding(
            k.keys,
            k.action,
            k.label,
            show=k.show and (k.narrow or not narrow),
            key_display=k.display,
            tooltip=k.help,
            group=groups.get(k.group) if k.group else None,
        )
        for k in keys
    ]
