"""Replay: a loaded observation frame revealed on the clock, as if it were polled live.

The dashboard cannot tell a replay from a live watch: it polls this source like any other and
gets, each time, the rows whose `ts` fell between the previous poll's clock and this one's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from engmon.sources.base import LocalSource, PollResult, Progress


class ReplaySource(LocalSource):
    """Reveals rows of `frame` (any order) up to the clock's `now`, each row exactly once.

    `max_rows` caps one poll so a jump to the end of a huge file arrives in chunks the
    dashboard can draw between (progress instead of a frozen screen).
    """

    kind = "replay"

    def __init__(
        self,
        frame: pl.DataFrame,
        name: str = "replay",
        *,
        interval: float = 0.1,
        max_rows: int = 200_000,
    ) -> None:
        super().__init__(name, interval=interval, timeout=interval)
        self.frame = frame.sort("ts", maintain_order=True)
        self._ts = self.frame.get_column("ts")
        self._next = 0
        self._until: datetime | None = None
        self.max_rows = max_rows

    @property
    def total(self) -> int:
        """Rows in the replayed file."""
        return self.frame.height

    @property
    def emitted(self) -> int:
        """Rows handed out so far."""
        return self._next

    @property
    def first_ts(self) -> datetime | None:
        """Time of the earliest row."""
        value = self._ts.min() if self.total else None
        return value if isinstance(value, datetime) else None

    @property
    def last_ts(self) -> datetime | None:
        """Time of the latest row."""
        value = self._ts.max() if self.total else None
        return value if isinstance(value, datetime) else None

    @property
    def reached(self) -> datetime | None:
        """Time of the last row handed out (None before the first)."""
        if self._next == 0:
            return None
        value = self._ts[self._next - 1]
        return value if isinstance(value, datetime) else None

    @property
    def revealed(self) -> datetime | None:
        """The instant up to which every row has been handed out; None before the first poll
        and once every row is out (nothing left to hold a view back)."""
        return None if self._next >= self.total else self._until

    def rewind(self) -> None:
        """Start handing rows out from the first again (a seek back rebuilds the store)."""
        self._next = 0
        self._until = None

    def take_until(self, now: datetime) -> pl.DataFrame:
        """Rows with ts <= now not handed out yet (at most `max_rows`)."""
        due = int(self._ts.search_sorted(now, side="right"))
        end = min(due, self._next + self.max_rows)
        # a capped poll has handed out every row before the first one it left
        left = self._ts[end] if end < due else None
        self._until = now if not isinstance(left, datetime) else left - timedelta(microseconds=1)
        if end <= self._next:
            return self.frame.clear()
        rows = self.frame.slice(self._next, end - self._next)
        self._next = end
        return rows

    async def read(self, now: datetime) -> PollResult:
        """The rows the clock has passed since the last poll."""
        rows = self.take_until(now)
        return PollResult(
            frame=rows,
            summary=f"{self._next}/{self.total} rows",
            done=self._next >= self.total,
            retry_in=0.0 if rows.height == self.max_rows else None,
            progress=Progress(self._next, self.total),
        )

    def describe(self) -> str:
        return f"replay of {self.total} rows ({self.name})"
