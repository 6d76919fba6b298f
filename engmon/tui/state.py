"""What the user chose and what the clock says: the small records the dashboard holds.

Kept apart from the view model (which needs polars) so the dashboard's first frame can be
drawn before polars is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ViewSettings:
    """What the user chose: curve metric (None: the headline), cumulative line, bucket width
    in minutes (None: adapt to the span)."""

    metric: str | None = None
    cumulative: bool = False
    bucket_width: int | None = None


@dataclass(frozen=True)
class ClockState:
    """What the header says about time: the clock's now, live or replay speed, paused."""

    now: datetime
    live: bool
    speed: float
    paused: bool
    at_end: bool = False
