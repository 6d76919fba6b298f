"""Clocks: wall time for live watches, a seekable, pausable, speedable clock for replays.

The dashboard and every source ask the clock for `now()`; a replayed post and a live one look
the same to them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

SPEEDS: Final = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
"""Replay speeds offered by `+`/`-`."""


class WallClock:
    """Real time, UTC. `live` is True so the header says LIVE."""

    live: Final = True
    paused: bool = False
    speed: float = 1.0

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now = now or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        """Current time."""
        return self._now()


class ReplayClock:
    """Replay time: starts at `start`, runs at `speed` x wall time, can pause and seek.

    `monotonic` is injectable so tests (and snapshots) run on a frozen clock.
    """

    live: Final = False

    def __init__(
        self,
        start: datetime,
        *,
        speed: float = 60.0,
        end: datetime | None = None,
        paused: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._mono = monotonic
        self._anchor = start
        self._anchor_mono = monotonic()
        self.speed = speed
        self.paused = paused
        self.end = end

    def now(self) -> datetime:
        """Replay time now (never past `end` when an end is known)."""
        if self.paused:
            current = self._anchor
        else:
            elapsed = (self._mono() - self._anchor_mono) * self.speed
            current = self._anchor + timedelta(seconds=elapsed)
        if self.end is not None and current > self.end:
            return self.end
        return current

    def _rebase(self) -> None:
        self._anchor = self.now()
        self._anchor_mono = self._mono()

    def set_speed(self, speed: float) -> None:
        """Change speed without jumping in replay time."""
        self._rebase()
        self.speed = speed

    def faster(self) -> float:
        """Next offered speed up; returns the new speed."""
        bigger = [s for s in SPEEDS if s > self.speed]
        self.set_speed(bigger[0] if bigger else SPEEDS[-1])
        return self.speed

    def slower(self) -> float:
        """Next offered speed down; returns the new speed."""
        smaller = [s for s in SPEEDS if s < self.speed]
        self.set_speed(smaller[-1] if smaller else SPEEDS[0])
        return self.speed

    def toggle_pause(self) -> bool:
        """Pause or resume; returns whether paused now."""
        self._rebase()
        self.paused = not self.paused
        return self.paused

    def seek(self, when: datetime) -> None:
        """Jump to `when` (clamped to `end`)."""
        if self.end is not None and when > self.end:
            when = self.end
        self._anchor = when
        self._anchor_mono = self._mono()

    @property
    def at_end(self) -> bool:
        """Whether the clock has reached the end of the replayed data."""
        return self.end is not None and self.now() >= self.end


Clock = WallClock | ReplayClock
