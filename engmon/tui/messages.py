"""Messages the dashboard's workers and widgets post upward, named as things that happened.

Poll workers never touch widgets: they post `ObservationsPolled` / `SourceStatusChanged` and
the app merges and re-renders. High-rate messages set `can_replace` so a burst collapses into
the latest one (as Toolong does for its scan progress).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from textual.message import Message

from engmon.watch.poller import SourceStatus


@dataclass
class ObservationsPolled(Message):
    """A source returned observation rows (already written to the recording, not yet merged).

    Never replaceable: every frame must be merged.
    """

    source: str
    frame: pl.DataFrame
    done: bool = False


@dataclass
class SourceStatusChanged(Message):
    """A source's status changed (ok, retrying, failed, done); the newest one wins."""

    status: SourceStatus

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SourceStatusChanged) and message.status.name == self.status.name


@dataclass
class ReplayProgressed(Message):
    """A replay handed out more rows: `emitted` of `total`; `catching_up` when the poll was a
    full chunk and more rows are already due (drives the loading indication)."""

    source: str
    emitted: int
    total: int
    catching_up: bool = False

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ReplayProgressed) and message.source == self.source


@dataclass
class ViewSettingsChanged(Message):
    """The user changed what the dashboard shows (metric, cumulative, bucket width)."""

    reason: str
