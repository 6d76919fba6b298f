"""What a surface hears from a session: a small base with no-op methods.

Apart from `engmon.watch.session` (which needs polars) so the dashboard can be defined, and
draw its first frame, before polars is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engmon.core.alerts import Alert
    from engmon.watch.session import SourcePolled


class Listener:
    """What a surface hears from a session; every method may be left as this no-op."""

    def source_polled(self, event: SourcePolled) -> None:
        """A source was polled (or failed to be): status, merge, progress."""

    def alert_fired(self, alert: Alert) -> None:
        """An alert is due: ring, print or notify (its command already started)."""

    def problem(self, text: str) -> None:
        """Something the user should read once (an alert command that failed)."""
