"""The live `access-log` source: follow a growing log like `tail -F`.

Kept apart from the parser so replaying a log (`engmon report`) never imports the async/HTTP
machinery of live sources.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

import httpx
import polars as pl

from engmon.core.campaign import Campaign
from engmon.core.readable import check_regular_file
from engmon.core.schema import UTC_US
from engmon.core.spam import read_spam_list, spam_hosts
from engmon.core.words import plural
from engmon.errors import ConfigError, SourceError
from engmon.sources.accesslog.formats import FORMAT_NAMES
from engmon.sources.accesslog.link import LinkMatch
from engmon.sources.accesslog.observations import VisitorState, first_line_tag, to_observations
from engmon.sources.accesslog.parse import CHUNK_BYTES, KIND, AccessLogParser
from engmon.sources.accesslog.sniff import AUTO, sniff_format, undetected
from engmon.sources.accesslog.tabular import TABULAR
from engmon.sources.base import PollResult, Source
from engmon.sources.options import (
    CommonOptions,
    SourceKind,
    interval_option,
    option,
    string_table,
)

SUMMARY: Final = (
    "follows a web server access log (nginx/Apache/Caddy/Traefik): clicks, visitors,"
    " conversions (goal path), visitors now, utm tags, browsers and OSes"
)


READ_TIMEOUT_S: Final = 60.0
"""How long one poll may read and parse before the watch calls it stuck."""


class AccessLogSource(Source):
    """Follows one access log: reads only new bytes per poll, survives rotation and truncation.

    State is (inode, offset, partial last line, line number, generation tag): a rename
    rotation drains the old file then opens the new one; a file shorter than the offset was
    truncated (copytruncate) and is read again from its start as a new generation.
    """

    kind = KIND

    def __init__(
        self,
        name: str,
        path: Path,
        parser: AccessLogParser,
        *,
        interval: float = 2.0,
        from_start: bool = True,
        max_bytes: int = CHUNK_BYTES,
        not_before: datetime | None = None,
    ) -> None:
        # reading and parsing a large log is not a network request: give it time
        super().__init__(name, interval=interval, timeout=max(READ_TIMEOUT_S, interval))
        self.path = path
        self.not_before = not_before
        """The post time: hits logged before it are not the campaign's (`posted_at = "now"`
        on a log that already holds the morning's traffic)."""
        self.parser = parser
        self.from_start = from_start
        self.max_bytes = max_bytes
        self._file: IO[bytes] | None = None
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._line = 1
        self._tag = ""
        self._state = VisitorState()
        self._reported_malformed = 0
        self._skipping = False
        self._pending: asyncio.Future[PollResult] | None = None

    def _open(self, at_end: bool) -> bool:
        try:
            # a FIFO or a device would block the poll (and `check`) forever
            check_regular_file(self.path, "an access log", SourceError)
        except SourceError:
            if not self.path.exists():
                return False
            raise
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read {self.path} ({exc.strerror})") from None
        self._close()
        self._file = handle
        self._inode = os.fstat(handle.fileno()).st_ino
        self._offset = os.fstat(handle.fileno()).st_size if at_end else 0
        self._partial = b""
        self._line = 1
        self._tag = ""
        return True

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read_new(self) -> bytes:
        """New bytes of the current generation, following rotation and truncation."""
        if self._file is None and not self._open(at_end=not self.from_start):
            return b""
        assert self._file is not None
        size = os.fstat(self._file.fileno()).st_size
        if size < self._offset or self._rewritten():  # copytruncate: a new generation
            self._offset, self._partial, self._line, self._tag = 0, b"", 1, ""
        self._file.seek(self._offset)
        try:
            data = self._file.read(self.max_bytes)
        except OSError as exc:  # /proc files look regular but cannot be read as a log
            raise SourceError(f"{self.name}: cannot read {self.path} ({exc.strerror})") from None
        self._offset += len(data)
        if data:
            return data
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            return b""  # rotated away, new file not created yet: keep the old one open
        if inode != self._inode and self._open(at_end=False):  # renamed: the old one is drained
            return self._read_new()
        return b""

    def _rewritten(self) -> bool:
        """The file's first line changed: truncated and refilled past our offset between polls."""
        if not self._tag or self._file is None:
            return False
        self._file.seek(0)
        head = self._file.read(65536)
        return b"\n" in head and first_line_tag(head) != self._tag

    def poll_sync(self, now: datetime | None = None) -> PollResult:
        """One poll without the event loop (the async `poll` runs this in a thread); `now`
        bounds the `active` gauge (default: the newest hit)."""
        new = self._read_new()  # may switch files, which drops a stale partial line
        data = self._partial + new
        if self._skipping:  # inside a line longer than max_bytes: drop it up to its end
            end = data.find(b"\n")
            data = b"" if end < 0 else data[end + 1 :]
            self._skipping = end < 0
        cut = data.rfind(b"\n") + 1
        complete, self._partial = data[:cut], data[cut:]
        if len(self._partial) >= self.max_bytes:  # never keep growing one endless line
            self._partial, self._skipping = b"", True
            self.parser.stats.lines += 1
            self.parser.stats.add_malformed(pl.Series([self._line], dtype=pl.Int64))
            self._line += 1
        if not complete:
            if self._file is None:  # not created yet: a watch waits, `check` says so
                return PollResult(
                    summary=f"{self.path.name}: no such file yet",
                    missing=f"no such file {self.path}",
                )
            return PollResult(summary=f"{self.path.name}: no new lines")
        if not self._tag:
            self._tag = first_line_tag(complete)
        hits = self.parser.parse_lines(complete, self._line)
        self._line += self.parser.rows_last
        counted = self.parser.add_countries(self.parser.count(hits))
        early = 0
        if self.not_before is not None and not counted.is_empty():
            # hits before the post are left out before anything is built from them: no click,
            # first visit or conversion, and no visitor in the `active` gauge (whose minute
            # starts before a post made mid-minute, and is kept: it ends after the post)
            after = counted.filter(pl.col("ts") >= pl.lit(self.not_before, dtype=UTC_US))
            early, counted = counted.height - after.height, after
        frame, self._state = to_observations(
            counted, tag=self._tag, source=self.name, state=self._state, until=now
        )
        stats = self.parser.stats
        new_lines = self.parser.rows_last
        summary = f"{plural(new_lines, 'new line')}, {plural(counted.height, 'hit')}"
        if early:
            summary += f" ({plural(early, 'hit')} before the post left out)"
        if stats.malformed > self._reported_malformed:
            summary += f", {stats.malformed - self._reported_malformed} malformed"
            self._reported_malformed = stats.malformed
        more = len(data) - len(self._partial) >= self.max_bytes
        return PollResult(
            frame=frame,
            summary=summary,
            facts={"malformed lines": float(stats.malformed)},
            retry_in=0.0 if more else None,
        )

    async def poll(self, client: httpx.AsyncClient, now: datetime) -> PollResult:
        """Read what was appended since the last poll (in a thread: file I/O and parsing).

        The thread cannot be stopped once it runs, and it moves the read position: a poll
        given up by its caller (a deadline) leaves its result pending, and the next poll
        hands those rows over instead of losing them.
        """
        if self._pending is None:
            self._pending = asyncio.ensure_future(asyncio.to_thread(self.poll_sync, now))
        pending = self._pending
        result = await asyncio.shield(pending)
        self._pending = None
        return result

    def describe(self) -> str:
        """The followed file and its format (for `engmon check`)."""
        return f"access-log {self.path} ({self.parser.log_format})"

    async def aclose(self) -> None:
        """Close the followed file."""
        self._close()


@dataclass(frozen=True, kw_only=True)
class AccessLogOptions(CommonOptions):
    """The `[[sources]]` keys of kind `access-log`."""

    interval: float = interval_option(2.0)
    path: str = option(
        help="the access log to follow (relative: to the campaign file; survives rotation)"
    )
    format: str = option(
        AUTO, "the server's log format (auto: from the first lines)", choices=(AUTO, *FORMAT_NAMES)
    )
    log_format: str | None = option(None, "a custom nginx log_format string (overrides format)")
    link: str | None = option(
        None, 'path or URL of the link to count (default: the campaign link; "" = whole site)'
    )
    utm: dict[str, Any] = option(
        {}, 'table of utm_* parameters a hit must carry, e.g. { utm_source = "mastodon" }'
    )
    goal: str | None = option(
        None,
        'path of the page that means "converted" (e.g. "/thanks"): counted once per visitor'
        " who clicked the link before",
    )
    include_bots: bool = option(False, "count crawlers and link-preview bots too")
    spam_referrers: bool = option(True, "leave out known referrer-spam hosts")
    spam_list: str | None = option(
        None, "a file of more spam hosts, one per line (e.g. Matomo's spammers.txt)"
    )
    geoip_db: str | None = option(
        None, "a MaxMind .mmdb file for countries (default: geoip2fast's bundled database)"
    )
    json_fields: dict[str, Any] = option(
        {}, 'for JSON logs: engmon field -> JSON path, e.g. { target = "request.uri" }'
    )
    from_start: bool = option(
        True, "read the log from its beginning on the first poll (default true)"
    )


def spam_setting(options: AccessLogOptions, where: str) -> tuple[str, ...]:
    """The referrer-spam hosts a log source leaves out (`spam_referrers`, `spam_list`)."""
    if not options.spam_referrers:
        return ()
    if not options.spam_list:
        return spam_hosts()
    path = Path(options.spam_list).expanduser()
    if not path.is_file():
        raise ConfigError(f"{where}: key 'spam_list': no such file {path}")
    return spam_hosts(read_spam_list(path))


def make_access_log(options: AccessLogOptions, campaign: Campaign, where: str) -> AccessLogSource:
    """An access-log source from its checked options."""
    path = Path(options.path).expanduser()
    if str(path).endswith(".gz"):
        raise ConfigError(f"{where}: key 'path' names a .gz file; follow the live log")
    utm = string_table(where, "utm", options.utm)
    json_fields = string_table(where, "json_fields", options.json_fields)
    geoip_db = Path(options.geoip_db).expanduser() if options.geoip_db else None
    if geoip_db is not None and not geoip_db.is_file():
        raise ConfigError(f"{where}: key 'geoip_db': no such file {geoip_db}")
    link = options.link if options.link is not None else campaign.link
    log_format = options.log_format or options.format
    if log_format == AUTO:
        log_format = _sniff_live(path, where)
    if log_format == TABULAR:
        raise ConfigError(
            f"{where}: {path} is a table of requests (CSV/TSV/W3C export): read it with"
            " `engmon report` or `replay`, and follow the server's own log live"
        )
    parser = AccessLogParser(
        log_format,
        link=LinkMatch.build(link, utm, options.goal),
        json_fields=json_fields,
        include_bots=options.include_bots,
        geoip_db=geoip_db,
        where=f"{where}: key 'log_format'",
        spam=spam_setting(options, where),
    )
    return AccessLogSource(
        options.label(),
        path,
        parser,
        interval=options.interval,
        from_start=options.from_start,
        not_before=campaign.post_time,
    )


def _sniff_live(path: Path, where: str) -> str:
    """The format of a log being followed: from its first lines, or combined while it has none."""
    if path.exists() and not path.is_file():  # a FIFO would block here forever
        raise ConfigError(f"{where}: key 'path': {path} is not a regular file")
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return "combined"  # not there yet: the default nginx/Apache format
    if not head.strip():
        return "combined"
    found = sniff_format(head)
    if found is None:
        raise ConfigError(undetected(f"{where}: key 'format': {path}", head))
    return found


SOURCE: Final = SourceKind(
    KIND, SUMMARY, AccessLogOptions, make_access_log, paths=("path", "geoip_db")
)
