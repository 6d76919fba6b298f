"""CSV, NDJSON and Parquet read in chunks with progress; a bad line is named, never fatal
to the process."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final, cast

import polars as pl

from engmon.errors import EmptyInputError, FileFormatError
from engmon.sources.files.spec import (
    _LINE,
    GZIP_MAGIC,
    Progress,
    _inner_suffix,
)

# --- chunked text reading --------------------------------------------------------------------

CHUNK_BYTES: Final = 32 * 1024 * 1024


MAX_LINE_BYTES: Final = 64 * 1024 * 1024
"""No line of a table is this long: more without a line end is junk (or a gzip bomb)."""


def _text_chunks(
    path: Path, progress: Progress | None, *, quoted: bool = False
) -> Iterator[tuple[int, bytes, bool]]:
    """(first line number, whole lines, is last chunk) of a text file (plain or gzip),
    `CHUNK_BYTES` at a time.

    The last chunk keeps a final line without a newline (maybe cut off: the caller decides).
    `quoted` (CSV): a chunk never ends inside a double-quoted field, whose newlines belong to
    the field (a newline is outside quotes when an even number of `"` precede it).
    """
    size = max(1, path.stat().st_size)
    line = 1
    carry = b""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        handle = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw)
        while True:
            try:
                block = handle.read(CHUNK_BYTES)
                if gzipped and len(block) < CHUNK_BYTES:
                    handle.read(1)  # a stream cut short says so only when read past its end
            except (OSError, EOFError, zlib.error) as exc:
                raise FileFormatError(f"{path}: damaged gzip data ({exc})") from None
            last = len(block) < CHUNK_BYTES
            data = carry + block
            if last:
                carry = b""
            else:
                cut = data.rfind(b"\n") + 1
                if quoted:
                    cut = _outside_quotes(data, cut)
                data, carry = data[:cut], data[cut:]
                if len(carry) > MAX_LINE_BYTES:
                    long_line = line + data.count(b"\n")
                    raise FileFormatError(
                        f"{path}: line {long_line}: longer than"
                        f" {MAX_LINE_BYTES >> 20} MiB; not a table of observations"
                    )
            if data:
                yield line, data, last
                line += data.count(b"\n")
            if progress is not None:
                progress(min(0.99, raw.tell() / size))
            if last:
                return


def _outside_quotes(data: bytes, cut: int) -> int:
    """The last line end at or before `cut` with an even number of `"` before it; `cut` itself
    when there is none (an unbalanced quote: the CSV reader then reports the line)."""
    quotes = data.count(b'"', 0, cut)
    end = cut
    while end and quotes % 2:
        start = data.rfind(b"\n", 0, end - 1) + 1
        quotes -= data.count(b'"', start, end)
        end = start
    return end or cut


def _cut_off(data: bytes) -> bool:
    return bool(data) and not data.endswith(b"\n")


def _read_csv(path: Path, progress: Progress | None) -> pl.DataFrame:
    """Every column as text (parsed once per distinct value later), plus the line number."""
    separator = "\t" if _inner_suffix(path) == ".tsv" else ","
    header: list[str] | None = None
    frames: list[pl.DataFrame] = []
    for first_line, data, last in _text_chunks(path, progress, quoted=True):
        body = data
        line = first_line
        if header is None:
            head, _, body = data.partition(b"\n")
            if not head.strip():
                raise EmptyInputError(f"{path}: empty file, no observations")
            header = _header(path, head, separator)
            line += 1
        if last and _cut_off(body):
            final = body[body.rfind(b"\n") + 1 :]
            fields = final.decode("utf-8", "replace").count(separator) + 1
            if fields < len(header) or final.count(b'"') % 2:
                final_line = line + body.count(b"\n")
                raise FileFormatError(
                    f"{path}: line {final_line}: cut off ({fields} of {len(header)} fields); "
                    "complete or remove the last line"
                )
        if not body.strip():
            continue
        try:
            frame = pl.read_csv(
                body,
                has_header=False,
                new_columns=header,
                separator=separator,
                infer_schema=False,
                row_index_name=_LINE,
                row_index_offset=line,
            )
        except pl.exceptions.PolarsError as exc:
            raise FileFormatError(_bad_csv(path, body, line, exc)) from None
        frames.append(frame)
    if header is None:
        raise EmptyInputError(f"{path}: empty file, no observations")
    if not frames:
        raise EmptyInputError(f"{path}: only a header line, no observations")
    return pl.concat(frames)


def _header(path: Path, head: bytes, separator: str) -> list[str]:
    """The column names of line 1; a name given twice is an error (which one would count?)."""
    import csv

    text = head.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r")
    try:
        names = [name.strip() for name in next(csv.reader([text], delimiter=separator), [])]
    except csv.Error as exc:
        raise FileFormatError(f"{path}: line 1: not a CSV header ({exc})") from None
    if not any(names):
        raise EmptyInputError(f"{path}: empty file, no observations")
    seen: set[str] = set()
    for name in names:
        if name in seen and name:
            raise FileFormatError(f"{path}: line 1: column {name!r} appears twice")
        seen.add(name)
    return pl.read_csv(head + b"\n", separator=separator, infer_schema=False).columns


def _bad_csv(path: Path, body: bytes, first_line: int, exc: Exception) -> str:
    """Why a chunk is not CSV: its first line that is not UTF-8, or polars' reason."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        line = first_line + body.count(b"\n", 0, bad.start)
        return (
            f"{path}: line {line}: not UTF-8 text (byte 0x{body[bad.start]:02X});"
            " save the file as UTF-8"
        )
    return f"{path}: not readable as CSV ({_first_line(exc)})"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _read_ndjson(path: Path, progress: Progress | None) -> pl.DataFrame:
    frames: list[pl.DataFrame] = []
    for first_line, data, last in _text_chunks(path, progress):
        if last and _cut_off(data):
            final = data[data.rfind(b"\n") + 1 :]
            try:
                json.loads(final)
            except (ValueError, RecursionError):
                final_line = first_line + data.count(b"\n")
                raise FileFormatError(
                    f"{path}: line {final_line}: cut off (not a whole JSON object); "
                    "complete or remove the last line"
                ) from None
        try:
            frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
        except pl.exceptions.PolarsError as exc:
            raise FileFormatError(_bad_json_line(path, data, first_line, exc)) from None
        # blank lines are skipped by the reader: number the rows by the lines that hold JSON
        lines = (
            [first_line + index for index, text in enumerate(data.split(b"\n")) if text.strip()]
            if b"\n\n" in data or data.startswith(b"\n")
            else None
        )
        if lines is not None and len(lines) == frame.height:
            frame = frame.with_columns(pl.Series(_LINE, lines, dtype=pl.Int64))
        else:
            frame = frame.with_row_index(_LINE, offset=first_line).cast({_LINE: pl.Int64})
        frames.append(frame)
    if not frames:
        raise EmptyInputError(f"{path}: empty file, no observations")
    return pl.concat(frames, how="diagonal_relaxed")


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _bad_json_line(path: Path, data: bytes, first_line: int, exc: Exception) -> str:
    """Find the first line that is not a JSON object (only on the error path)."""
    for index, text in enumerate(data.split(b"\n")):
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except ValueError as bad:
            return f"{path}: line {first_line + index}: not a JSON object ({bad})"
        except RecursionError:
            return f"{path}: line {first_line + index}: nested too deeply"
        if not isinstance(value, dict):
            return f"{path}: line {first_line + index}: not a JSON object"
    return f"{path}: not readable as NDJSON ({_first_line(exc)})"
