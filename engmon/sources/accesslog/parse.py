"""Web server access logs: replay a whole log or follow a growing one (`tail -F`), vectorised.

A plain log is scanned by polars' CSV reader splitting on `"` (each quoted field becomes a
column; a `.gz` log, or the bytes a live tail just read, go through the same plan in chunks).
The campaign link is filtered on the raw request column inside the streaming scan, before
anything costly; timestamps are parsed once per distinct value, user agents and client IPs are
looked up once per distinct value (ua-parser, geoip2fast or a MaxMind .mmdb). A numpy line
index, built beside the scan, catches what splitting cannot see (a line cut off inside its last
quoted field) and blank lines. Nothing loops per line in Python and nothing is downloaded.

Each counted hit becomes a `clicks` event; the first hit of each visitor (IP + user agent) per
UTC day also becomes a `visitors` event. Event ids are `<crc32 of the file's first line>:<line
number>`, so a line keeps its id between a replay and a live tail of the same file, and two
generations of a rotated or truncated log never collide. `actor` is a hash of IP + user agent:
no observation ever holds the raw IP.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import polars as pl

from engmon.core.schema import CLICKS, UTC_US, VISITORS, conform, empty_observations
from engmon.errors import ConfigError
from engmon.sources.accesslog.agents import STATIC_ASSET, device_of
from engmon.sources.accesslog.formats import (
    JsonPlan,
    SplitPlan,
    compile_format,
    compile_json,
    is_json_format,
)
from engmon.sources.accesslog.geo import CountryLookup, _network_table
from engmon.sources.accesslog.lineindex import LineIndex, _repair_escaped_quotes
from engmon.sources.accesslog.tabular import TABULAR, read_table
from engmon.sources.accesslog.tabular import time_expr as tabular_times

if TYPE_CHECKING:
    pass


KIND: Final = "access-log"

CHUNK_BYTES: Final = 64 * 1024 * 1024
"""Bytes parsed at once: big enough for polars' parallel reader, small enough for any log."""

MALFORMED_SHOWN: Final = 5
"""How many malformed line numbers a report names."""

_ACTOR_SEED: Final = 0x656E676D
_TIME_LOCAL: Final = "%d/%b/%Y:%H:%M:%S %z"
_ISO: Final = "%Y-%m-%dT%H:%M:%S%.f%z"

# --- link matching ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkMatch:
    """Which requests count: the link's path (with or without a query), required utm_* values.

    `path` None means every page of the site (static assets aside).
    """

    path: str | None = None
    utm: tuple[tuple[str, str], ...] = ()

    @classmethod
    def build(cls, link: str | None, utm: Mapping[str, str] | None = None) -> LinkMatch:
        """From a campaign link (URL or path; empty = whole site) and utm_* requirements."""
        wanted: dict[str, str] = {}
        path: str | None = None
        if link and link.strip():
            text = link.strip()
            if "://" not in text and not text.startswith("/"):
                text = "//" + text  # "example.com/blog/post": a host, not a relative path
            parts = urlsplit(text)
            path = (parts.path or "/").rstrip("/") or "/"
        for key, value in (utm or {}).items():
            if not key.startswith("utm_"):
                raise ConfigError(f"utm: key {key!r} is not a utm_* parameter (utm_source, ...)")
            wanted[key] = str(value)
        return cls(path, tuple(sorted(wanted.items())))

    @property
    def needle(self) -> str | None:
        """A literal every matching request line contains (cheap prefilter before parsing)."""
        return self.path if self.path not in (None, "/") else None

    def expr(self, target: pl.Expr) -> pl.Expr:
        """True for targets (path + query) this link counts."""
        path = target.str.split_exact("?", 1).struct.field("field_0")
        if self.path is None:
            keep = path.str.contains(STATIC_ASSET).not_()
        elif self.path == "/":
            keep = path == "/"
        else:
            keep = path.is_in([self.path, self.path + "/"])
        for key, value in self.utm:
            keep = keep & target.str.contains(f"[?&]{re.escape(key)}={re.escape(value)}(?:&|#|$)")
        return keep


# --- parsing ---------------------------------------------------------------------------------


@dataclass
class LineStats:
    """What happened to the lines read so far: totals and the malformed ones."""

    lines: int = 0
    blank: int = 0
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    hits: int = 0

    @property
    def parsed(self) -> int:
        """Lines that read as the chosen format."""
        return self.lines - self.blank - self.malformed

    def add_malformed(self, line_numbers: pl.Series) -> None:
        """Count malformed lines and keep the first few numbers."""
        self.malformed += line_numbers.len()
        room = MALFORMED_SHOWN - len(self.malformed_lines)
        if room > 0 and line_numbers.len():
            self.malformed_lines.extend(int(n) for n in line_numbers.sort().head(room))

    def note(self, name: str) -> str | None:
        """One line about malformed lines, None when there were none."""
        if not self.malformed:
            return None
        shown = ", ".join(str(n) for n in sorted(self.malformed_lines))
        more = ", ..." if self.malformed > len(self.malformed_lines) else ""
        return (
            f"{name}: {self.malformed} of {self.lines} lines malformed and skipped"
            f" (line {shown}{more})"
        )


HITS_SCHEMA: Final = pl.Schema(
    {
        "line": pl.Int64(),
        "ts": UTC_US,
        "ip": pl.String(),
        "user_agent": pl.Categorical(),
        "referrer": pl.Categorical(),
        "target": pl.Categorical(),
        "status": pl.Int32(),
        "method": pl.Categorical(),
    }
)
"""Parsed request lines, before counting: every format is brought to these columns."""


class AccessLogParser:
    """Turns chunks of log bytes into hit rows; keeps line statistics and lookup caches."""

    def __init__(
        self,
        log_format: str = "combined",
        *,
        link: LinkMatch | None = None,
        json_fields: Mapping[str, str] | None = None,
        include_bots: bool = False,
        geoip_db: Path | None = None,
        where: str = "log_format",
    ) -> None:
        self.log_format = log_format
        self.json_plan: JsonPlan | None = None
        self.split_plan: SplitPlan | None = None
        if is_json_format(log_format):
            self.json_plan = compile_json(log_format, json_fields, where=f"{where} json_fields")
        elif log_format != TABULAR:  # a table names its columns itself
            self.split_plan = compile_format(log_format, where=where)
        self.link = link or LinkMatch()
        self.has_user_agent = (
            self.json_plan is not None and "user_agent" in self.json_plan.paths
        ) or (self.split_plan is not None and "user_agent" in self.split_plan.fields)
        self.include_bots = include_bots
        self.countries = CountryLookup(geoip_db)
        self.stats = LineStats()
        self._devices: dict[str, str] = {}
        self.rows_last = 0
        """Lines in the chunk last parsed (the next chunk's first line number follows it)."""

    # -- chunk -> all parsed lines (HITS_SCHEMA), malformed counted in stats ------------------
    def parse_lines(
        self, data: bytes, first_line: int, *, prefilter: bool = True, partial_tail: bool = False
    ) -> pl.DataFrame:
        """Every well-formed line of `data` as HITS_SCHEMA rows.

        With `prefilter`, lines that cannot be the link are dropped before field extraction
        (so their fields are never checked; malformed structure is still counted for all).
        `partial_tail`: the bytes after the last newline are an incomplete line to ignore.
        """
        self.rows_last = 0
        if not data:
            return HITS_SCHEMA.to_frame()
        if self.json_plan is not None:
            return self._parse_json(data, first_line, prefilter, partial_tail)
        assert self.split_plan is not None
        return self._parse_split(data, first_line, self.split_plan, prefilter, partial_tail)

    def _parse_split(
        self, data: bytes, first_line: int, plan: SplitPlan, prefilter: bool, partial_tail: bool
    ) -> pl.DataFrame:
        if b"\r" in data[:65536]:
            data = data.replace(b"\r\n", b"\n")
        lines = LineIndex.of(data, partial_tail, needs_closing_quote=_needs_closing_quote(plan))
        return self._scan_split(data, lambda: lines, lines.count, first_line, plan, prefilter)

    def parse_table(self, path: Path, data: bytes) -> pl.DataFrame:
        """Every request row of a tabular log (CSV/TSV export or W3C extended log)."""
        frame = read_table(path, data)
        # without a user-agent column nothing can be told a bot: every request is a person
        self.has_user_agent = frame.get_column("user_agent").null_count() < frame.height
        self.rows_last = frame.height
        self.stats.lines += frame.height
        return self._finish_hits(frame.with_columns(_ok=pl.lit(True)), TABULAR)

    def parse_file(self, path: Path, *, prefilter: bool = True) -> pl.DataFrame:
        """All of a plain (uncompressed, LF) text log at once: polars scans the file itself.

        The numpy line index is built in a thread while polars scans (both release the GIL);
        memory stays bounded by the rows that survive the filter.
        """
        assert self.split_plan is not None
        plan = self.split_plan
        with ThreadPoolExecutor(max_workers=1) as pool:
            index = pool.submit(
                LineIndex.of_file, path, needs_closing_quote=_needs_closing_quote(plan)
            )
            return self._scan_split(str(path), index.result, None, 1, plan, prefilter)

    def _scan_split(
        self,
        source: bytes | str,
        line_index: Callable[[], LineIndex],
        limit: int | None,
        first_line: int,
        plan: SplitPlan,
        prefilter: bool,
    ) -> pl.DataFrame:
        """Scan `source` split on `"`; `line_index` (maybe still being built) is used after."""
        width = plan.columns + 1  # one more column tells a line with extra quotes (repaired later)
        names = [f"s{i}" for i in range(width)]
        # Cheap structure checks on every line, inside the streaming scan; only candidate and
        # structurally bad lines are materialised.
        bad = pl.any_horizontal([pl.col(n) != "" for n in names[plan.columns :]])
        for segment in plan.segments:
            if segment.literal is not None and segment.literal.strip() == "":
                bad = bad | (pl.col(f"s{segment.index}") != segment.literal)
        request = plan.segment_of("request") or plan.segment_of("target")
        wanted: pl.Expr = pl.lit(True)
        if prefilter and self.link.needle and request is not None and request.variable:
            wanted = pl.col(f"s{request.index}").str.contains(self.link.needle, literal=True)
        scan = pl.scan_csv(
            source,
            separator='"',
            quote_char=None,
            has_header=False,
            schema=dict.fromkeys(names, pl.String()),
            truncate_ragged_lines=True,
            extra_columns="ignore",
            missing_columns="insert",
            empty_string_is_null=False,
            encoding="utf8-lossy",
            raise_if_empty=False,
            row_index_name="row",
        )
        if limit is not None:
            scan = scan.filter(pl.col("row") < limit)
        scan = scan.with_columns(_bad=bad).filter(pl.col("_bad") | wanted)
        # Fields are extracted inside the scan too, so only compact columns are materialised.
        frame = self._fields_to_hits(scan, plan, first_line).collect(engine="streaming")
        lines = line_index()
        self.rows_last = lines.count
        self.stats.lines += lines.count
        self.stats.blank += int(lines.blank.size)
        frame = frame.filter(pl.col("line") < lines.count + first_line)
        blank = pl.Series(lines.blank + first_line, dtype=pl.Int64)
        suspects = pl.Series(lines.suspects + first_line, dtype=pl.Int64)
        frame = frame.filter(~pl.col("line").is_in(blank.implode())).with_columns(
            _bad=pl.col("_bad") | pl.col("line").is_in(suspects.implode())
        )
        # suspects the scan let go (not the link, structure looked fine) are malformed too
        unseen = suspects.to_frame("line").join(frame.select("line"), on="line", how="anti")
        self.stats.add_malformed(unseen.get_column("line"))
        bad_rows = frame.filter(pl.col("_bad")).get_column("line").to_numpy() - first_line
        frame = frame.filter(~pl.col("_bad"))
        if bad_rows.size:
            repaired, still_bad = _repair_escaped_quotes(lines, bad_rows, plan)
            self.stats.add_malformed(pl.Series(still_bad + first_line, dtype=pl.Int64))
            if repaired.height:
                fixed = repaired.lazy().filter(wanted).with_columns(_bad=pl.lit(False))
                frame = pl.concat([frame, self._fields_to_hits(fixed, plan, first_line).collect()])
        return self._finish_hits(frame.drop("_bad"), self._time_format(plan))

    def _time_format(self, plan: SplitPlan) -> str:
        if "time_local" in plan.fields:
            return _TIME_LOCAL
        return _ISO if "time_iso" in plan.fields else "epoch"

    def _fields_to_hits(self, good: pl.LazyFrame, plan: SplitPlan, first_line: int) -> pl.LazyFrame:
        """Segment columns -> raw hit columns (line, _bad, _ok, _time, ip, ...), lazily."""
        from engmon.sources.accesslog.formats import VARIABLE_FIELDS

        columns: dict[str, pl.Expr] = {}
        checks: list[pl.Expr] = []
        extracted: list[pl.Expr] = []
        for segment in plan.segments:
            column = pl.col(f"s{segment.index}")
            if segment.variable:
                name = VARIABLE_FIELDS.get(segment.variable)
                if name and name not in columns:
                    columns[name] = column
            elif segment.pattern:
                extracted.append(
                    column.str.extract_groups(segment.pattern).alias(f"g{segment.index}")
                )
                groups = re.findall(r"\(\?P<(\w+)>", segment.pattern)
                # a segment that did not match extracts nulls in every group
                checks.append(pl.col(f"g{segment.index}").struct.field(groups[0]).is_not_null())
                for group in groups:
                    name = VARIABLE_FIELDS.get(group)
                    if name and name not in columns:
                        columns[name] = pl.col(f"g{segment.index}").struct.field(group)
        frame = good.with_columns(extracted) if extracted else good
        if "request" in columns:
            parts = columns["request"].str.split_exact(" ", 2)
            columns.setdefault("method", parts.struct.field("field_0"))
            columns.setdefault("target", parts.struct.field("field_1"))
        if "time_local" in columns:
            time_raw = columns["time_local"]
        elif "time_iso" in columns:
            time_raw = columns["time_iso"].str.replace(r"Z$", "+00:00")
        else:
            time_raw = columns["time_epoch"]
        if "ip" not in columns and "forwarded_for" in columns:
            columns["ip"] = columns["forwarded_for"].str.split(",").list.first().str.strip_chars()
        ok = pl.all_horizontal(checks) if checks else pl.lit(True)
        text = pl.lit(None, pl.String())
        return frame.select(
            (pl.col("row").cast(pl.Int64) + first_line).alias("line"),
            "_bad",
            _ok=ok,
            _time=time_raw.cast(pl.Categorical()),
            ip=columns.get("ip", text),
            # repeated, long strings: categorical keeps a million hits small
            user_agent=columns.get("user_agent", text).cast(pl.Categorical()),
            referrer=columns.get("referrer", text).cast(pl.Categorical()),
            target=columns.get("target", text).cast(pl.Categorical()),
            status=columns.get("status", pl.lit("200")).cast(pl.Int32, strict=False),
            method=columns.get("method", text).cast(pl.Categorical()),
        )

    def _parse_json(
        self, data: bytes, first_line: int, prefilter: bool, partial_tail: bool
    ) -> pl.DataFrame:
        plan = self.json_plan
        assert plan is not None
        frame = pl.read_csv(
            data,
            separator="\x1f",  # never raw inside JSON text: each line is one column
            quote_char=None,
            has_header=False,
            schema={"text": pl.String()},
            truncate_ragged_lines=True,
            extra_columns="ignore",
            missing_columns="insert",
            empty_string_is_null=False,
            encoding="utf8-lossy",
            raise_if_empty=False,
            row_index_name="line",
            row_index_offset=first_line,
        ).with_columns(pl.col("line").cast(pl.Int64))
        if partial_tail:
            frame = frame.head(frame.height - 1)
        self.rows_last = frame.height
        self.stats.lines += frame.height
        is_blank = pl.col("text").str.strip_chars() == ""
        self.stats.blank += int(frame.select(is_blank.sum()).item())
        frame = frame.filter(~is_blank)
        text = pl.col("text").str.strip_chars()
        looks_json = text.str.starts_with("{") & text.str.ends_with("}")
        self.stats.add_malformed(frame.filter(~looks_json).get_column("line"))
        frame = frame.filter(looks_json)
        if prefilter and self.link.needle:
            frame = frame.filter(pl.col("text").str.contains(self.link.needle, literal=True))

        def pick(name: str) -> pl.Expr:
            paths = plan.paths.get(name, ())
            if not paths:
                return pl.lit(None, pl.String())
            return pl.coalesce([pl.col("text").str.json_path_match(p) for p in paths])

        raw_time = pick("time")
        frame = frame.select(
            "line",
            _ok=pl.col("text").str.starts_with("{"),
            _time=raw_time,
            ip=pick("ip"),
            user_agent=pick("user_agent"),
            referrer=pick("referrer"),
            target=pick("target"),
            status=pick("status"),
            method=pick("method"),
        )
        return self._finish_hits(frame, "json")

    def _finish_hits(self, frame: pl.DataFrame, time_format: str) -> pl.DataFrame:
        """Parse times on distinct values, validate, count malformed; HITS_SCHEMA out."""
        times = frame.select(pl.col("_time").unique().alias("_time"))
        raw = pl.col("_time").cast(pl.String)
        if time_format == "epoch":
            parsed = _epoch(raw)
        elif time_format == TABULAR:
            parsed = tabular_times(raw)
        elif time_format == "json":
            numeric = raw.str.contains(r"^\d+(?:\.\d+)?$")
            parsed = (
                pl.when(numeric)
                .then(_epoch(raw))
                .otherwise(
                    raw.str.replace(r"Z$", "+00:00").str.to_datetime(
                        _ISO, time_zone="UTC", strict=False
                    )
                )
            )
        else:
            parsed = raw.str.to_datetime(time_format, time_zone="UTC", strict=False)
        times = times.with_columns(ts=parsed.dt.cast_time_unit("us"))
        frame = frame.join(times, on="_time", how="left", nulls_equal=True).with_columns(
            status=pl.col("status").cast(pl.Int32, strict=False)
        )
        valid = (
            pl.col("_ok")
            & pl.col("ts").is_not_null()
            & pl.col("target").is_not_null()
            & pl.col("status").is_not_null()
        )
        self.stats.add_malformed(frame.filter(~valid).get_column("line"))
        for column in ("referrer", "user_agent", "ip"):
            frame = frame.with_columns(
                pl.when(pl.col(column).is_in(["-", ""]))
                .then(None)
                .otherwise(pl.col(column))
                .alias(column)
            )
        return frame.filter(valid).select(HITS_SCHEMA.names()).cast(HITS_SCHEMA)

    # -- hits -> counted clicks with dimensions -----------------------------------------------
    def count(self, hits: pl.DataFrame) -> pl.DataFrame:
        """The hits engmon counts: the link (or every page), GET, 2xx/3xx, humans by default.

        Returns COUNTED_SCHEMA rows (no country yet: `add_countries` looks up distinct IPs
        once over everything counted, which is far cheaper than per chunk).
        """
        # the link rule and the path run once per distinct target, not once per hit
        text = pl.col("target").cast(pl.String)
        targets = (
            hits.select(pl.col("target").unique())
            .with_columns(
                _link=self.link.expr(text).fill_null(False),
                path=text.str.split_exact("?", 1).struct.field("field_0"),
            )
            .filter("_link")
            .drop("_link")
        )
        keep = pl.col("status").is_between(200, 399) & (
            pl.col("method").is_null() | (pl.col("method") == "GET")
        )
        counted = (
            hits.filter(keep)
            .join(targets, on="target", how="inner")
            .join(self._agents(hits), on="user_agent", how="left", nulls_equal=True)
        )
        if not self.include_bots:
            counted = counted.filter(pl.col("device") != "bot")
        self.stats.hits += counted.height
        # stable across runs: IP text hashed per row, user agents once per distinct agent
        actor = pl.col("ip").fill_null("").hash(seed=_ACTOR_SEED).xor(pl.col("agent_hash"))
        return (
            counted.sort("line")
            .select("line", "ts", "ip", "referrer", "device", "path", actor=actor)
            .select("line", "ts", "ip", "referrer", "device", "actor", "path")
        )

    def warm_up(self) -> None:
        """Pay the one-off costs (ua-parser's regexes, the GeoIP table) ahead of need."""
        if self.has_user_agent:
            device_of("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
        if self.countries._reader is None:
            _network_table()

    def add_countries(self, counted: pl.DataFrame) -> pl.DataFrame:
        """Add `country` from each hit's IP and drop the raw IP (row order not kept)."""
        distinct = counted.select(pl.col("ip").unique())
        if distinct.height > counted.height * 0.8:  # mostly one hit per IP: place rows directly
            return self.countries.place(counted).drop("ip")
        countries = self.countries.place(distinct)
        return counted.join(countries, on="ip", how="left", nulls_equal=True).drop("ip")

    def _agents(self, frame: pl.DataFrame) -> pl.DataFrame:
        """(user_agent, device, agent_hash) per distinct agent of `frame` (null included).

        ua-parser runs once per agent ever seen; rows join on the categorical, so the long
        agent strings are never materialised per row.
        """
        distinct = frame.select(pl.col("user_agent").unique())
        for ua in distinct.get_column("user_agent").cast(pl.String).to_list():
            key = ua or ""
            if key not in self._devices:
                self._devices[key] = device_of(key) if self.has_user_agent else "other"
        text = pl.col("user_agent").cast(pl.String).fill_null("")
        devices = pl.DataFrame(
            {"_text": list(self._devices), "device": list(self._devices.values())},
            schema={"_text": pl.String(), "device": pl.String()},
        )
        return (
            distinct.with_columns(_text=text)
            .join(devices, on="_text", how="left")
            .select("user_agent", "device", agent_hash=pl.col("_text").hash(seed=_ACTOR_SEED))
        )


def _epoch(raw: pl.Expr) -> pl.Expr:
    micros = (raw.cast(pl.Float64, strict=False) * 1_000_000).cast(pl.Int64)
    return micros.cast(pl.Datetime("us", "UTC"))


def _needs_closing_quote(plan: SplitPlan) -> bool:
    """Whether a well-formed line ends with `"` (the format's last segment is quoted)."""
    return plan.segments[-1].literal == ""


# --- observations ----------------------------------------------------------------------------


def first_line_tag(data: bytes) -> str:
    """A short tag for a file generation: crc32 of its first line (distinct per rotation)."""
    end = data.find(b"\n")
    return f"{zlib.crc32(data[: end if end >= 0 else len(data)]):08x}"


def to_observations(
    counted: pl.DataFrame,
    *,
    tag: str,
    source: str = KIND,
    seen_visitors: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Counted hits -> (observation rows, updated visitor keys already seen).

    Clicks: one event per hit. Visitors: the first hit per (IP + user agent) per UTC day,
    not already in `seen_visitors` (the live tail carries it from poll to poll).
    """
    seen = seen_visitors if seen_visitors is not None else _empty_seen()
    if counted.is_empty():
        return empty_observations(), seen
    base = counted.select(
        "ts",
        "referrer",
        "country",
        "device",
        "path",
        "actor",
        "line",
        id=pl.lit(f"{tag}:") + pl.col("line").cast(pl.String),
        day=pl.col("ts").dt.date(),
    )
    clicks = base.with_columns(metric=pl.lit(CLICKS))
    firsts = (
        base.sort("ts", "line")
        .unique(subset=["actor", "day"], keep="first", maintain_order=True)
        .join(seen, on=["actor", "day"], how="anti")
    )
    visitors = firsts.with_columns(metric=pl.lit(VISITORS), id=pl.col("id") + ":v")
    seen = pl.concat([seen, firsts.select("actor", "day")])
    rows = pl.concat([clicks, visitors], how="vertical").drop("day", "line")
    rows = rows.with_columns(pl.col("actor").cast(pl.String))
    frame = conform(rows.with_columns(source=pl.lit(source), value=pl.lit(1.0))).collect()
    return frame, seen


def _empty_seen() -> pl.DataFrame:
    return pl.DataFrame(schema={"actor": pl.UInt64(), "day": pl.Date()})
