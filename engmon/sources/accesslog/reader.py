"""Reading whole access-log files (plain or .gz) in chunks, for replay and `report`."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, cast

import polars as pl

from engmon.core.schema import empty_observations
from engmon.errors import EmptyInputError, FileFormatError, InputError
from engmon.sources.accesslog.formats import (
    FORMAT_NAMES,
)
from engmon.sources.accesslog.link import LinkMatch
from engmon.sources.accesslog.observations import first_line_tag, to_observations
from engmon.sources.accesslog.parse import (
    CHUNK_BYTES,
    HITS_SCHEMA,
    KIND,
    AccessLogParser,
    LineStats,
)
from engmon.sources.accesslog.sniff import AUTO, sniff_format, undetected
from engmon.sources.accesslog.tabular import TABULAR

if TYPE_CHECKING:
    pass


# --- reading files ---------------------------------------------------------------------------


def _open_log(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(decompressed stream, raw file) for a plain or gzip log; errors name the file."""
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an access log") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    raw.seek(0)
    return raw, raw


OVERLONG_LINE: Final = b"(engmon: a line longer than a whole chunk, skipped)\n"
"""Stands in for a line longer than a chunk: no log format reads it, so it is counted as one
malformed line and nothing of the real line is kept in memory."""


def iter_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[bytes, bool, float]]:
    """(bytes, ends in a partial line, fraction of the file read) per chunk of `path`.

    A plain file is read at line boundaries by seeking back over a chunk's partial last line
    (no copying); the parser drops that last row and the next chunk starts with it. Binary
    data is refused on the first block; a line longer than a chunk (a gzip bomb of one endless
    line) is skipped as it streams by and stands as one `OVERLONG_LINE`.
    """
    stream, raw = _open_log(path)
    total = max(1, os.fstat(raw.fileno()).st_size)
    seekable = stream is raw
    carry = b""
    position = 0
    first = True
    skipping = False
    try:
        while True:
            try:
                block = stream.read(chunk_bytes)
            except (OSError, EOFError, zlib.error) as exc:
                raise FileFormatError(f"{path}: damaged gzip data ({exc})") from None
            if first:
                _refuse_binary(path, block)
                first = False
            if not block:
                if skipping:
                    yield OVERLONG_LINE, False, 1.0
                elif carry:
                    yield carry, False, 1.0
                return
            data = carry + block if carry else block
            carry = b""
            fraction = min(1.0, raw.tell() / total)
            if skipping:
                end = data.find(b"\n")
                if end < 0:
                    position += len(data)
                    continue
                skipping = False
                if seekable:
                    position += end + 1
                    stream.seek(position)
                    yield OVERLONG_LINE, False, fraction
                    continue
                data = OVERLONG_LINE + data[end + 1 :]
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) >= chunk_bytes:  # one line longer than a chunk: malformed
                    skipping = True
                    position += len(data)
                else:
                    carry = data
                continue
            if seekable and cut < len(data):
                position += cut
                stream.seek(position)
                yield data, True, fraction
                continue
            position += len(data)
            carry = data[cut:]
            yield (data[:cut] if carry else data), False, fraction
    finally:
        stream.close()
        raw.close()


@dataclass
class AccessLogResult:
    """A loaded log: observation rows and what happened to its lines."""

    frame: pl.DataFrame
    stats: LineStats
    notes: list[str] = field(default_factory=list)


def read_access_log(
    path: Path,
    *,
    link: str | None = None,
    log_format: str = AUTO,
    utm: Mapping[str, str] | None = None,
    goal: str | None = None,
    spam: tuple[str, ...] | None = None,
    include_bots: bool = False,
    geoip_db: Path | None = None,
    json_fields: Mapping[str, str] | None = None,
    source: str = KIND,
    progress: Callable[[float], None] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> AccessLogResult:
    """Read a whole log (plain or .gz) into observations, with line statistics and notes.

    `log_format` "auto" looks at the first lines (combined, common, vhost_combined, Caddy,
    Traefik) and says so in the notes. `goal`: path of the page that counts as a conversion;
    `spam`: referrer hosts to leave out (None: `engmon.core.spam`'s list; empty: keep all).
    """
    head = _head(path)
    notes: list[str] = []
    if log_format == AUTO:
        text = _head(path, decompressed=True)
        _refuse_binary(path, text)
        found = sniff_format(text)
        if found is None:
            if not text.strip():
                raise EmptyInputError(f"{path}: the file is empty; there are no requests to count")
            raise FileFormatError(undetected(str(path), text))
        log_format = found
        if found == TABULAR:
            notes.append(f"{path}: read as a table of requests (an access-log export)")
        elif found != "combined":
            notes.append(f"{path}: read as a {found!r} access log")
    parser = AccessLogParser(
        log_format,
        link=LinkMatch.build(link, utm, goal),
        json_fields=json_fields,
        include_bots=include_bots,
        geoip_db=geoip_db,
        where=f"{path}: log format",
        spam=spam,
    )
    counted: list[pl.DataFrame] = []
    tag = ""
    line = 1
    if log_format == TABULAR:
        stream, raw = _open_log(path)
        try:
            data = stream.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise FileFormatError(f"{path}: damaged gzip data ({exc})") from None
        finally:
            stream.close()
            raw.close()
        hits = parser.parse_table(path, data)
        if parser.stats.parsed == 0 and parser.stats.malformed:
            raise FileFormatError(f"{path}: no row of the table holds a readable request")
        counted.append(parser.count(hits))
        tag = first_line_tag(data)
    elif (
        head
        and parser.split_plan is not None
        and not head.startswith(b"\x1f\x8b")
        and (b"\r" not in head and chunk_bytes >= CHUNK_BYTES)
    ):
        _refuse_binary(path, head)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(parser.warm_up)  # load the agents and the GeoIP table meanwhile
            hits = parser.parse_file(path)
        if parser.stats.parsed == 0 and parser.stats.malformed:
            raise FileFormatError(_wrong_format(path, head, parser))
        counted.append(parser.count(hits))
        tag = first_line_tag(head)
        if progress is not None:
            progress(1.0)
    chunks = iter_chunks(path, chunk_bytes) if not tag else iter(())
    for data, partial, fraction in chunks:
        if not tag:
            _refuse_binary(path, data)
            tag = first_line_tag(data)
        hits = parser.parse_lines(data, line, partial_tail=partial)
        line += parser.rows_last
        if parser.stats.parsed == 0 and parser.stats.malformed:
            raise FileFormatError(_wrong_format(path, data, parser))
        counted.append(parser.count(hits))
        if progress is not None:
            progress(fraction)
    parser.save_agents()
    stats = parser.stats
    if stats.lines - stats.blank == 0:
        raise EmptyInputError(f"{path}: the file is empty; there are no requests to count")
    frame = empty_observations()
    if counted:
        hits = pl.concat(counted)
        counted.clear()  # the chunks' frames: freed before the observation rows are built
        # the IPs are placed on the other core while the visitors are worked out (and their
        # text is freed once placed: no observation holds an IP)
        with ThreadPoolExecutor(max_workers=1) as pool:
            countries = pool.submit(parser.countries_of, hits.select("ip"))
            handed = [hits.drop("ip")]
            del hits  # to_observations holds the only reference: it frees the hits early
            frame, _ = to_observations(
                handed.pop(), tag=tag, source=source, country=countries.result
            )
    if note := stats.note(str(path)):
        notes.append(note)
    if stats.spam:
        notes.append(f"{path}: {stats.spam} hits from referrer-spam hosts left out")
    return AccessLogResult(frame, stats, notes)


def read_requests(
    path: Path, *, log_format: str = "combined", json_fields: Mapping[str, str] | None = None
) -> tuple[pl.DataFrame, LineStats]:
    """Every well-formed request line of a log (HITS_SCHEMA), uncounted, with line stats.

    For checks and drill-downs over the whole log: nothing is filtered or looked up.
    """
    parser = AccessLogParser(log_format, json_fields=json_fields, where=f"{path}: log format")
    frames: list[pl.DataFrame] = []
    line = 1
    for data, partial, _ in iter_chunks(path):
        if line == 1:
            _refuse_binary(path, data)
        frames.append(parser.parse_lines(data, line, prefilter=False, partial_tail=partial))
        line += parser.rows_last
    return (pl.concat(frames) if frames else HITS_SCHEMA.to_frame()), parser.stats


def _head(path: Path, size: int = 65536, *, decompressed: bool = False) -> bytes:
    """The first bytes of `path`, as stored or decompressed (errors name the file)."""
    stream, raw = _open_log(path)
    try:
        if decompressed:
            try:
                return stream.read(size)
            except (OSError, EOFError, zlib.error):
                raise FileFormatError(
                    f"{path}: damaged gzip data (cannot read its start)"
                ) from None
        return raw.read(size)
    finally:
        stream.close()
        raw.close()


def _refuse_binary(path: Path, data: bytes) -> None:
    head = data[:8192]
    if b"\x00" in head:
        raise FileFormatError(f"{path}: binary data, not a text access log")


def _wrong_format(path: Path, data: bytes, parser: AccessLogParser) -> str:
    first = data.split(b"\n", 1)[0][:80].decode("utf-8", "replace")
    return (
        f"{path}: no line reads as a {parser.log_format!r} access log"
        f" (line 1: {first!r}); set the server's log format"
        f" ({', '.join(FORMAT_NAMES)} or an nginx log_format string)"
    )
