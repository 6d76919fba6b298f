"""Messages the dashboard's workers and widgets post upward, named as things that happened.

Poll workers never touch widgets: the session they run merges into the store and reports
through its listener, which posts these; the app notifies and re-renders. High-rate messages
set `can_replace` so a burst collapses into the latest one (as Toolong does for its scan
progress).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from engmon.core.alerts import Alert
    from engmon.watch.poller import SourceStatus


@dataclass
class SourceStatusChanged(Message):
    """A source's status changed (ok, retrying, failed, done); the newest one wins."""

    status: SourceStatus

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SourceStatusChanged) and message.status.name == self.status.name


@dataclass
class AlertFired(Message):
    """An alert became due (its command, if any, already started)."""

    alert: Alert


@dataclass
class ProblemReported(Message):
    """Something to tell the user once: a recording or an alert command that failed."""

    text: str
    title: str = ""


@dataclass
class ViewSettingsChanged(Message):
    """The user changed what the dashboard shows (metric, cumulative, bucket width)."""

    reason: str
