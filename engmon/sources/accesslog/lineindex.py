"""Where each line of a chunk ends (numpy), and the repair of escaped quotes inside fields."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

from engmon.sources.accesslog.formats import (
    SplitPlan,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


_ESCAPED_QUOTE: Final = "\x02"
"""Stands in for an escaped quote inside a field while the line is split on quotes."""


@dataclass
class LineIndex:
    """Where each line of a chunk or file ends, found with numpy (no per-line Python).

    `ends[i]` is the offset of line i's newline (or of the data's end), `length(rows)` their
    length without the newline; `blank` the rows of empty lines; `suspects` the rows of
    non-blank lines not ending in `"` when the format needs one (cut off inside the last
    quoted field, which splitting on `"` alone cannot see).
    """

    data: bytes | _FileBytes
    ends: npt.NDArray[np.int64]
    blank: npt.NDArray[np.int64]
    suspects: npt.NDArray[np.int64]
    lines: int | None = None
    """The line count when `ends` was not needed yet (found on first use of `ends`)."""

    @property
    def count(self) -> int:
        """Lines indexed (a partial last line excluded)."""
        return int(self.ends.size) if self.lines is None else self.lines

    @classmethod
    def of(cls, data: bytes, partial_tail: bool, *, needs_closing_quote: bool) -> LineIndex:
        """Index the lines of `data`; a partial last line is left out when `partial_tail`."""
        import numpy as np

        raw = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(raw == 10).astype(np.int64)
        if not partial_tail and raw.size and raw[-1] != 10:
            ends = np.append(ends, raw.size)
        last = raw[np.maximum(ends - 1, 0)] if ends.size else np.empty(0, dtype=np.uint8)
        return cls._finish(data, ends, last, needs_closing_quote)

    @classmethod
    def _finish(
        cls,
        data: bytes | _FileBytes,
        ends: npt.NDArray[np.int64],
        last: npt.NDArray[np.uint8],
        needs_closing_quote: bool,
    ) -> LineIndex:
        """`last` holds the byte before each line end (what a closed quote would be)."""
        import numpy as np

        starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else ends
        lengths = ends - starts
        suspects = np.empty(0, dtype=np.int64)
        if needs_closing_quote and ends.size:
            suspects = np.flatnonzero((last != 34) & (lengths > 0))
        return cls(data, ends, np.flatnonzero(lengths == 0), suspects)

    @classmethod
    def of_file(cls, path: Path, *, needs_closing_quote: bool) -> LineIndex:
        """Index a whole file: a quick count first; line ends only when some line is blank or
        suspect (or later, when a malformed line's text is asked for)."""
        import numpy as np

        lines, odd = _count_lines(path, needs_closing_quote=needs_closing_quote)
        if odd:
            return cls.of_file_ends(path, needs_closing_quote=needs_closing_quote)
        empty = np.empty(0, dtype=np.int64)
        return cls(_FileBytes(path), empty, empty, empty, lines)

    @classmethod
    def of_file_ends(
        cls, path: Path, *, needs_closing_quote: bool, window: int = 4 * 1024 * 1024
    ) -> LineIndex:
        """Index a whole file, reading it window by window into one reused buffer.

        Blank and suspect lines are found per window, so only the line ends of the whole file
        are kept (8 bytes a line), not their starts and lengths too.
        """
        import numpy as np

        with path.open("rb", buffering=0) as handle:
            buffer = bytearray(window)
            ends_parts: list[npt.NDArray[np.int64]] = []
            blank_parts: list[npt.NDArray[np.int64]] = []
            suspect_parts: list[npt.NDArray[np.int64]] = []
            previous = 10  # the byte before the window (none before the file: a newline)
            previous_end = -1  # the offset of the newline before this window's first line
            start = 0
            rows = 0
            while count := handle.readinto(buffer):
                view = np.frombuffer(buffer, dtype=np.uint8, count=count)
                local = np.flatnonzero(view == 10)
                ends = local.astype(np.int64) + start
                if ends.size:
                    lengths = np.diff(ends, prepend=previous_end) - 1
                    before = view[np.maximum(local - 1, 0)]
                    before[local == 0] = previous
                    blank_parts.append(np.flatnonzero(lengths == 0) + rows)
                    if needs_closing_quote:
                        odd = (before != 34) & (lengths > 0)
                        suspect_parts.append(np.flatnonzero(odd) + rows)
                    previous_end = int(ends[-1])
                    rows += int(ends.size)
                ends_parts.append(ends)
                previous = int(view[count - 1])
                start += count
                del view
        if start and previous != 10:  # a last line without its newline
            ends_parts.append(np.array([start], dtype=np.int64))
            if start - previous_end - 1 > 0 and needs_closing_quote and previous != 34:
                suspect_parts.append(np.array([rows], dtype=np.int64))
        empty = np.empty(0, dtype=np.int64)
        return cls(
            _FileBytes(path),
            np.concatenate(ends_parts) if ends_parts else empty,
            np.concatenate(blank_parts) if blank_parts else empty,
            np.concatenate(suspect_parts) if suspect_parts else empty,
        )

    def _find_ends(self) -> None:
        """Index the line ends now if the quick count left them out."""
        if self.lines is not None and isinstance(self.data, _FileBytes):
            self.ends = LineIndex.of_file_ends(self.data.path, needs_closing_quote=False).ends
            self.lines = None

    def length(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Lengths (without the newline) of the lines at `rows`."""
        import numpy as np

        self._find_ends()

        starts = np.where(rows > 0, self.ends[np.maximum(rows - 1, 0)] + 1, 0)
        return self.ends[rows] - starts

    def text(self, rows: npt.NDArray[np.int64]) -> list[str]:
        """The text of a few lines (for repairs and messages)."""
        self._find_ends()
        spans = zip(self.ends[rows], self.length(rows), strict=True)
        if isinstance(self.data, bytes):
            raw = [self.data[int(end - length) : int(end)] for end, length in spans]
        else:
            with self.data.path.open("rb") as handle:
                raw = [os.pread(handle.fileno(), int(n), int(end - n)) for end, n in spans]
        return [line.decode("utf-8", "replace") for line in raw]


def _count_lines(
    path: Path, *, needs_closing_quote: bool, window: int = 256 * 1024
) -> tuple[int, bool]:
    """(lines, whether any is blank or, with `needs_closing_quote`, does not end in `"`).

    Counts only (no positions), window by window in cache-sized buffers: a fraction of what
    indexing every line end costs, and a clean log needs nothing more. One count of newlines
    and one of the byte pairs a good line ends with (`"` + newline, or two newlines for a
    blank line) answer it: the pairs are compared two bytes at a time, at even and at odd
    offsets, so no per-byte flags are combined.
    """
    import numpy as np

    mark = 34 if needs_closing_quote else 10  # the byte before a newline that is looked for
    pair = mark | 10 << 8  # that byte then a newline, read as a little-endian 16-bit number
    buffer = bytearray(window)
    lines = paired = 0
    previous = 10  # the byte before the file: a newline
    with path.open("rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            view = np.frombuffer(buffer, dtype=np.uint8, count=count)
            even = np.frombuffer(buffer, dtype="<u2", count=count // 2)
            odd = np.frombuffer(buffer, dtype="<u2", count=(count - 1) // 2, offset=1)
            lines += int(np.count_nonzero(view == 10))
            paired += int(np.count_nonzero(even == pair)) + int(np.count_nonzero(odd == pair))
            paired += bool(view[0] == 10 and previous == mark)
            previous = int(view[count - 1])
            del view, even, odd
    # every line but a closed one has no `"` before its newline, a blank one included
    odd_line = paired < lines if needs_closing_quote else paired > 0
    if previous != 10:  # a last line without its newline (never blank)
        lines += 1
        odd_line = odd_line or (needs_closing_quote and previous != 34)
    return lines, odd_line


class _FileBytes:
    """Where a file's lines are read back from (repairs, messages), by `LineIndex.text`."""

    def __init__(self, path: Path) -> None:
        self.path = path


def _repair_escaped_quotes(
    lines: LineIndex, bad_rows: npt.NDArray[np.int64], plan: SplitPlan
) -> tuple[pl.DataFrame, npt.NDArray[np.int64]]:
    """Re-split lines whose extra `"` were escaped (Apache writes `\\"` inside a field).

    Returns the repaired rows (row + segment columns) and the rows still malformed. Skipped
    when most lines are bad (a wrong format, not escapes).
    """
    names = [f"s{i}" for i in range(plan.columns)]
    if bad_rows.size > max(100, lines.count // 10):
        return pl.DataFrame(
            schema={"row": pl.UInt32(), **dict.fromkeys(names, pl.String())}
        ), bad_rows
    texts = lines.text(bad_rows)
    split = pl.DataFrame(
        {"row": bad_rows, "text": texts}, schema={"row": pl.UInt32(), "text": pl.String()}
    ).select(
        "row",
        parts=pl.col("text").str.replace_all('\\"', _ESCAPED_QUOTE, literal=True).str.split('"'),
    )
    ok = pl.col("parts").list.len() == plan.columns
    for segment in plan.segments:
        if segment.literal is not None and segment.literal.strip() == "":
            ok = ok & (pl.col("parts").list.get(segment.index, null_on_oob=True) == segment.literal)
    split = split.with_columns(_ok=ok)
    repaired = split.filter("_ok").select(
        "row",
        *[
            pl.col("parts")
            .list.get(i)
            .str.replace_all(_ESCAPED_QUOTE, '"', literal=True)
            .alias(f"s{i}")
            for i in range(plan.columns)
        ],
    )
    still_bad = split.filter(~pl.col("_ok")).get_column("row").to_numpy().astype("int64")
    return repaired, still_bad
