"""Web server access logs: replay a whole log or follow a growing one (`tail -F`), vectorised.

A plain log is scanned by polars' CSV reader splitting on `"` (each quoted field becomes a
column; a `.gz` log, or the bytes a live tail just read, go through the same plan in chunks).
The campaign link is filtered on the raw request column inside the streaming scan, before
anything costly, and the fields and timestamps are parsed in the same pass; user agents are
looked up once per distinct value (ua-parser), client IPs in bulk (geoip2fast's networks by
binary search, or a MaxMind .mmdb). A numpy line index, built beside the scan, catches what
splitting cannot see (a line cut off inside its last quoted field) and blank lines. Nothing
loops per line in Python and nothing is downloaded.

Each counted hit becomes a `clicks` event; the first hit of each visitor (IP + user agent) per
UTC day also becomes a `visitors` event; with a goal path, the first goal hit of a visitor who
clicked the link before becomes a `conversions` event; every minute with hits gets an `active`
gauge (distinct visitors of the 5 minutes up to it). The query's utm_* tags are kept in `utm`
when the path is normalised; browser and OS come from ua-parser with the device; referrer spam
(`engmon.core.spam`) is left out unless asked for.

Event ids are `<crc32 of the file's first line>:<line number>`, so a line keeps its id
between a replay and a live tail of the same file, and two generations of a rotated or
truncated log never collide. `actor` is a 64-bit hash of IP + user agent (11 characters of
base64): no observation ever holds the raw IP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import unquote_plus

import polars as pl

from engmon.core.bounds import in_time_range
from engmon.core.schema import (
    UTC_US,
    UTM_KEYS,
    utm_tag,
)
from engmon.core.spam import is_spam, spam_hosts
from engmon.sources.accesslog.agents import AgentParts, agent_of, cached_agents, save_agents
from engmon.sources.accesslog.formats import (
    JsonPlan,
    SplitPlan,
    compile_format,
    compile_json,
    is_json_format,
)
from engmon.sources.accesslog.geo import CountryLookup, _networks
from engmon.sources.accesslog.lineindex import LineIndex, _repair_escaped_quotes
from engmon.sources.accesslog.link import LinkMatch
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

# --- parsing ---------------------------------------------------------------------------------


@dataclass
class LineStats:
    """What happened to the lines read so far: totals and the malformed ones."""

    lines: int = 0
    blank: int = 0
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    hits: int = 0
    spam: int = 0

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
        spam: tuple[str, ...] | None = None,
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
        self.spam = spam_hosts() if spam is None else spam
        """Referrer hosts left out (empty: keep every referrer)."""
        self.countries = CountryLookup(geoip_db)
        self.stats = LineStats()
        self._agent_parts: dict[str, AgentParts] = {}
        self._known_agents: dict[str, AgentParts] | None = None
        """What earlier runs learned about agents (loaded on first need)."""
        self._learned_agents: dict[str, AgentParts] = {}
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
            wanted = self.link.prefilter(pl.col(f"s{request.index}"))

        def hits(encoding: Literal["utf8", "utf8-lossy"]) -> pl.DataFrame:
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
                encoding=encoding,
                raise_if_empty=False,
                row_index_name="row",
            )
            if limit is not None:
                scan = scan.filter(pl.col("row") < limit)
            scan = scan.with_columns(_bad=bad).filter(pl.col("_bad") | wanted)
            # Fields are extracted inside the scan too: only compact columns are materialised.
            return self._fields_to_hits(scan, plan, first_line).collect(engine="streaming")

        # Strict UTF-8 reads a valid log about 10% faster than the lossy decoding; servers
        # escape other bytes, so a log that is not valid UTF-8 is rare and read again, lossily
        # (whatever else stopped the strict read stops the lossy one too, and is raised there)
        try:
            frame = hits("utf8")
        except pl.exceptions.ComputeError:
            frame = hits("utf8-lossy")
        lines = line_index()
        self.rows_last = lines.count
        self.stats.lines += lines.count
        self.stats.blank += int(lines.blank.size)
        # each step below copies the rows it keeps, so it is skipped when it would keep all
        # (the usual case: a clean log, read whole)
        end = lines.count + first_line
        if frame.select((pl.col("line") >= end).any()).item():  # the file grew since counted
            frame = frame.filter(pl.col("line") < end)
        if lines.blank.size:
            blank = pl.Series(lines.blank + first_line, dtype=pl.Int64)
            frame = frame.filter(~pl.col("line").is_in(blank.implode()))
        if lines.suspects.size:
            suspects = pl.Series(lines.suspects + first_line, dtype=pl.Int64)
            frame = frame.with_columns(
                _bad=pl.col("_bad") | pl.col("line").is_in(suspects.implode())
            )
            # suspects the scan let go (not the link, structure looked fine) are malformed too
            unseen = suspects.to_frame("line").join(frame.select("line"), on="line", how="anti")
            self.stats.add_malformed(unseen.get_column("line"))
        bad_rows = frame.filter(pl.col("_bad")).get_column("line").to_numpy() - first_line
        if bad_rows.size:
            frame = frame.filter(~pl.col("_bad"))
            repaired, still_bad = _repair_escaped_quotes(lines, bad_rows, plan)
            self.stats.add_malformed(pl.Series(still_bad + first_line, dtype=pl.Int64))
            if repaired.height:
                fixed = repaired.lazy().filter(wanted).with_columns(_bad=pl.lit(False))
                frame = pl.concat(
                    [frame, self._fields_to_hits(fixed, plan, first_line).collect()]
                ).sort("line")
        return self._finish_hits(frame.drop("_bad"), None)

    def _fields_to_hits(self, good: pl.LazyFrame, plan: SplitPlan, first_line: int) -> pl.LazyFrame:
        """Segment columns -> raw hit columns (line, _bad, _ok, ts, ip, ...), lazily."""
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
        # parsed inside the scan, a chunk at a time (polars caches repeated values): most
        # seconds of a busy log are distinct, so parsing distinct values saves nothing
        if "time_local" in columns:
            ts = columns["time_local"].str.to_datetime(_TIME_LOCAL, time_zone="UTC", strict=False)
        elif "time_iso" in columns:
            ts = _iso_time(columns["time_iso"])
        else:
            ts = _epoch(columns["time_epoch"])
        if "ip" not in columns and "forwarded_for" in columns:
            columns["ip"] = columns["forwarded_for"].str.split(",").list.first().str.strip_chars()
        ok = pl.all_horizontal(checks) if checks else pl.lit(True)
        text = pl.lit(None, pl.String())
        return frame.select(
            (pl.col("row").cast(pl.Int64) + first_line).alias("line"),
            "_bad",
            _ok=ok,
            ts=ts.dt.cast_time_unit("us"),
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
            frame = frame.filter(self.link.prefilter(pl.col("text")))

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

    def _finish_hits(self, frame: pl.DataFrame, time_format: str | None) -> pl.DataFrame:
        """Validate, count malformed; HITS_SCHEMA out. Times come parsed (`ts`, when
        `time_format` is None) or raw in `_time`, parsed here once per distinct value."""
        if time_format is not None:
            times = frame.select(pl.col("_time").unique().alias("_time"))
            raw = pl.col("_time").cast(pl.String)
            if time_format == TABULAR:
                parsed = tabular_times(raw)
            else:  # json: epoch seconds or ISO 8601
                numeric = raw.str.contains(r"^\d+(?:\.\d+)?$")
                parsed = pl.when(numeric).then(_epoch(raw)).otherwise(_iso_time(raw))
            times = times.with_columns(ts=parsed.dt.cast_time_unit("us"))
            frame = frame.join(
                times, on="_time", how="left", nulls_equal=True, maintain_order="left"
            )
        frame = frame.with_columns(status=pl.col("status").cast(pl.Int32, strict=False))
        valid = (
            pl.col("_ok")
            & pl.col("ts").is_not_null()
            & in_time_range(pl.col("ts"))  # year 0 or 9999-14:00 is a broken line, not a hit
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
        """The hits engmon counts: the link (or every page) and the goal page, GET, 2xx/3xx,
        humans by default, referrer spam left out.

        Returns the counted rows with `goal` (a hit of the goal page) and no country yet:
        `add_countries` looks up distinct IPs once over everything counted, which is far
        cheaper than per chunk.
        """
        # the link and goal rules, the path and the utm tags run once per distinct target
        targets = (
            hits.select(pl.col("target").unique())
            .with_columns(self._target_parts(pl.col("target").cast(pl.String)))
            .with_columns(pl.col("link", "goal").fill_null(False))
            .filter(pl.col("link") | pl.col("goal"))
        )
        targets = targets.with_columns(_percent_decoded(targets.get_column("utm")))
        # a few distinct values over many rows: categorical rows hold a code, not a string view
        targets = targets.with_columns(pl.col("path", "utm").cast(pl.Categorical))
        keep = pl.col("status").is_between(200, 399) & (
            pl.col("method").is_null() | (pl.col("method") == "GET")
        )
        # one plan from the hits to the counted rows: each step's frame is never materialised
        plan = (
            hits.lazy()
            .filter(keep)
            .join(targets.lazy(), on="target", how="inner", maintain_order="left")
            .join(
                self._agents(hits).lazy(),
                on="user_agent",
                how="left",
                nulls_equal=True,
                maintain_order="left",
            )
        )
        if not self.include_bots:
            plan = plan.filter(pl.col("device") != "bot")
        spam: list[str] = []
        if self.spam:
            referrers = hits.select(pl.col("referrer").unique())
            flagged = referrers.with_columns(_spam=is_spam(self.spam))
            plan = plan.join(
                flagged.lazy(), on="referrer", how="left", nulls_equal=True, maintain_order="left"
            )
            spam = ["_spam"]
        # stable across runs: IP text hashed per row, user agents once per distinct agent
        actor = pl.col("ip").fill_null("").hash(seed=_ACTOR_SEED).xor(pl.col("agent_hash"))
        columns = ["line", "ts", "ip", "referrer", "device", "browser", "os", "path", "utm"]
        counted = plan.select(*columns, "link", "goal", *spam, actor=actor).collect()
        if spam:
            left_out = int(counted.get_column("_spam").sum())
            self.stats.spam += left_out
            counted = (counted.filter(~pl.col("_spam")) if left_out else counted).drop("_spam")
        self.stats.hits += counted.height
        return counted

    def _target_parts(self, target: pl.Expr) -> list[pl.Expr]:
        """`path` (query dropped), `utm` (its utm_* tags kept), whether it is the `link` and
        the `goal` (both with a whole-site link), per distinct target."""
        tags = {key: target.str.extract(f"[?&]{key}=([^&#]*)", 1) for key in UTM_KEYS}
        return [
            target.str.split_exact("?", 1).struct.field("field_0").alias("path"),
            utm_tag(tags).alias("utm"),
            self.link.expr(target).alias("link"),
            self.link.goal_expr(target).alias("goal"),
        ]

    def warm_up(self) -> None:
        """Pay the one-off costs (the agents cache or else ua-parser's regexes, the GeoIP
        table, the modules polars loads on its first numpy array) ahead of need."""
        import numpy as np

        pl.Series(np.zeros(1, dtype=np.uint32))
        if self.has_user_agent and not self._known():
            agent_of("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
        if self.countries._reader is None:
            _networks()

    def add_countries(self, counted: pl.DataFrame) -> pl.DataFrame:
        """Add `country` from each hit's IP and drop the raw IP (row order kept).

        Only the IP column is placed: the wide frame is never copied.
        """
        return counted.with_columns(self.countries_of(counted)).drop("ip")

    def countries_of(self, counted: pl.DataFrame) -> pl.Series:
        """`country` of each row of `counted` (from its `ip`), row order kept."""
        country = self.countries.place(counted.select("ip")).get_column("country")
        return country.cast(pl.Categorical)  # a code per row (see `count`)

    def _known(self) -> dict[str, AgentParts]:
        if self._known_agents is None:
            self._known_agents = cached_agents()
        return self._known_agents

    def save_agents(self) -> None:
        """Keep what ua-parser said about new agents for the next run."""
        if self._learned_agents:
            save_agents(self._known(), self._learned_agents)
            self._known().update(self._learned_agents)
            self._learned_agents.clear()

    def _agents(self, frame: pl.DataFrame) -> pl.DataFrame:
        """(user_agent, device, browser, os, agent_hash) per distinct agent of `frame`.

        ua-parser runs once per agent ever seen; rows join on the categorical, so the long
        agent strings are never materialised per row.
        """
        distinct = frame.select(pl.col("user_agent").unique())
        for ua in distinct.get_column("user_agent").cast(pl.String).to_list():
            key = ua or ""
            if key in self._agent_parts:
                continue
            found = self._known().get(key) if self.has_user_agent else ("other", None, None)
            if found is None:
                found = self._learned_agents[key] = agent_of(key)
            self._agent_parts[key] = found
        text = pl.col("user_agent").cast(pl.String).fill_null("")
        parts = list(self._agent_parts.values())
        agents = pl.DataFrame(
            {
                "_text": list(self._agent_parts),
                "device": [p[0] for p in parts],
                "browser": [p[1] for p in parts],
                "os": [p[2] for p in parts],
            },
            schema={
                "_text": pl.String(),
                "device": pl.String(),
                "browser": pl.String(),
                "os": pl.String(),
            },
        )
        return (
            distinct.with_columns(_text=text)
            .join(agents, on="_text", how="left")
            .select(
                "user_agent",
                pl.col("device", "browser", "os").cast(pl.Categorical),
                agent_hash=pl.col("_text").hash(seed=_ACTOR_SEED),
            )
        )


def _percent_decoded(tags: pl.Series) -> pl.Series:
    """`utm` tags with `+` and %-escapes decoded, each distinct escaped value decoded once."""
    escaped = tags.filter(tags.str.contains("[%+]")).unique().to_list()
    if not escaped:
        return tags
    decoded = {
        value: "&".join(
            f"{key}={unquote_plus(text)}"
            for key, _, text in (part.partition("=") for part in value.split("&"))
        )
        for value in escaped
    }
    return tags.replace(decoded)


def _iso_time(raw: pl.Expr) -> pl.Expr:
    return raw.str.replace(r"Z$", "+00:00").str.to_datetime(_ISO, time_zone="UTC", strict=False)


def _epoch(raw: pl.Expr) -> pl.Expr:
    micros = (raw.cast(pl.Float64, strict=False) * 1_000_000).cast(pl.Int64)
    return micros.cast(pl.Datetime("us", "UTC"))


def _needs_closing_quote(plan: SplitPlan) -> bool:
    """Whether a well-formed line ends with `"` (the format's last segment is quoted)."""
    return plan.segments[-1].literal == ""
