"""The bad-input corpus (tests/data/hostile/) and the one check every case must pass.

A case is a command line run in-process; it passes when it ends cleanly: exit 0 with output
free of raw control characters, or exit 2 with one `engmon: ...` line on stderr, no
traceback, within a few seconds. JSON output must be strict JSON (no NaN/Infinity); CSV
output must hold no cell a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import tempfile
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from click.testing import CliRunner

from engmon.cli import main

HOSTILE = Path(__file__).parent / "data" / "hostile"
TIME_LIMIT_S = 20
RAW_CONTROLS = {chr(c) for c in range(0x20) if chr(c) not in "\n"} | {"\x7f"}
RAW_CONTROLS |= {chr(c) for c in range(0x80, 0xA0)}
RAW_CONTROLS |= set(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Case:
    """One hostile command line; `{f}` in `argv` is the corpus file (or a made one)."""

    name: str
    argv: tuple[str, ...]
    file: str | None = None


def _file_cases() -> Iterator[Case]:
    for path in sorted(HOSTILE.iterdir()):
        if path.name.startswith(".") or path.suffix == ".md":
            continue
        stem = path.name
        if stem.startswith("cfg-"):
            yield Case(f"check:{stem}", ("check", "{f}"), stem)
            continue
        for fmt in ("text", "json", "csv", "html"):
            yield Case(f"report-{fmt}:{stem}", ("report", "{f}", "--format", fmt), stem)
        if stem.startswith("rec-"):
            yield Case(f"history:{stem}", ("history", "--dir", "{d}"), stem)


OPTION_CASES = (
    Case("bucket-huge", ("report", "{f}", "--bucket", "99999999999999999999d"), "ok.csv"),
    Case("bucket-nan", ("report", "{f}", "--bucket", "nan"), "ok.csv"),
    Case("bucket-neg", ("report", "{f}", "--bucket", "-5m"), "ok.csv"),
    Case("bucket-zero", ("report", "{f}", "--bucket", "0"), "ok.csv"),
    Case("at-365d", ("report", "{f}", "--at", "365d", "--format", "json"), "ok.csv"),
    Case("at-huge", ("report", "{f}", "--at", "99999999999d"), "ok.csv"),
    Case("at-nan", ("report", "{f}", "--at", "nan"), "ok.csv"),
    Case("post-time-1900", ("report", "{f}", "--post-time", "1900-01-01T00:00:00Z"), "ok.csv"),
    Case(
        "post-time-year1", ("report", "{f}", "--post-time", "0001-01-01T00:00:00+05:00"), "ok.csv"
    ),
    Case("post-time-9999", ("report", "{f}", "--post-time", "9999-12-31T23:59:59-14:00"), "ok.csv"),
    Case("post-time-junk", ("report", "{f}", "--post-time", "\x1b]0;t\x07"), "ok.csv"),
    Case("followers-huge", ("report", "{f}", "--followers", "99999999999999999999999"), "ok.csv"),
    Case(
        "forecast-1e308", ("report", "{f}", "--forecast", "--format", "json"), "csv-value-1e308.csv"
    ),
    Case(
        "rel-huge",
        ("report", "{f}", "--relative", "--post-time", "2026-01-01"),
        "csv-ts-num-1e15.csv",
    ),
    Case("abs-huge", ("report", "{f}", "--absolute"), "csv-ts-num-1e308.csv"),
    Case("unit-h-huge", ("report", "{f}", "--time-unit", "h"), "csv-ts-num-1e15.csv"),
    Case("read-as-cascade", ("report", "{f}", "--read-as", "cascade"), "nd-nesting.ndjson"),
    Case("read-as-rec", ("report", "{f}", "--read-as", "recording"), "csv-formula.csv"),
    Case("read-as-log", ("report", "{f}", "--read-as", "access-log"), "csv-formula.csv"),
    Case("dim-dup", ("report", "{f}", "--dimension", "country=metric"), "csv-formula.csv"),
    Case("value-col-metric", ("report", "{f}", "--value-column", "metric"), "csv-formula.csv"),
    Case("name-escape", ("report", "{d}/\x1b]0;pwn\x07\u202e.csv"), "ok.csv"),
    Case(
        "name-escape-text", ("report", "{d}/\x1b]0;pwn\x07\u202e.csv", "--format", "json"), "ok.csv"
    ),
    Case("name-newline", ("report", "{d}/a\nb.csv"), "csv-value-neg.csv"),
    Case("dir-arg", ("report", "{d}"), "ok.csv"),
    Case("missing", ("report", "{d}/nope.csv"), None),
    Case("proc-mem", ("report", "/proc/self/mem"), None),
    Case("dev-zero", ("report", "/dev/zero"), None),
    Case("fifo-report", ("report", "{fifo}"), None),
    Case("fifo-config", ("check", "{fifo}"), None),
    Case("fifo-log-config", ("check", "{fifo-log-config}"), None),
    Case("gzip-nul-bomb", ("report", "{gz-nul}"), None),
    Case("gzip-line-bomb", ("report", "{gz-line}"), None),
    Case("replay-speed-nan", ("replay", "{f}", "--speed", "nan"), "ok.csv"),
    Case("replay-speed-inf", ("replay", "{f}", "--speed", "inf"), "ok.csv"),
    Case("replay-speed-huge", ("replay", "{f}", "--speed", "1e308"), "ok.csv"),
    Case("replay-start-huge", ("replay", "{f}", "--start", "99999999d"), "ok.csv"),
    Case("replay-start-nan", ("replay", "{f}", "--start", "nan"), "ok.csv"),
    Case("replay-bad-file", ("replay", "{f}"), "csv-ts-year0.csv"),
    Case("demo-speed-nan", ("demo", "--speed", "nan"), None),
    Case("watch-duration-nan", ("watch", "{f}", "--plain", "--duration", "nan"), "ok.csv"),
    Case("watch-duration-inf", ("watch", "{f}", "--plain", "--duration", "inf"), "ok.csv"),
    Case(
        "watch-plain-escapes",
        ("watch", "{f}", "--plain", "--duration", "0.5", "--record", "{d}/rec.ndjson"),
        "cfg-name-escape.toml",
    ),
    Case("watch-no-sources", ("watch", "{f}", "--plain"), "cfg-no-sources.toml"),
    Case("watch-fifo-config", ("watch", "{fifo}", "--plain", "--duration", "1"), None),
    Case("unknown-option", ("report", "{f}", "--\x1b]0;x\x07"), "ok.csv"),
    Case("history-missing", ("history", "--dir", "{d}/nope"), None),
)

CASES = (*_file_cases(), *OPTION_CASES)


class _TimeUp(Exception):
    pass


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    def ring(signum: int, frame: FrameType | None) -> None:
        raise _TimeUp(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _gzip_bomb(path: Path, chunk: bytes, total: int) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        for _ in range(total // len(chunk)):
            out.write(packer.compress(chunk))
        out.write(packer.flush())


def _materialise(case: Case, folder: Path) -> list[str]:
    """The argv of `case` with its placeholders pointing into `folder`."""
    made: dict[str, str] = {"{d}": str(folder)}
    if case.file is not None:
        target = folder / case.file
        shutil.copyfile(HOSTILE / case.file, target)
        made["{f}"] = str(target)
        named = case.argv[1]  # a hostile file name given literally: the file is that one
        if named.startswith("{d}/"):
            shutil.copyfile(HOSTILE / case.file, folder / named.removeprefix("{d}/"))
    joined = " ".join(case.argv)
    if "{fifo" in joined:
        fifo = folder / "pipe.csv"
        os.mkfifo(fifo)
        made["{fifo}"] = str(fifo)
        config = folder / "log.toml"
        config.write_text(
            '[campaign]\nname = "x"\nposted_at = "2026-11-25T14:00:00Z"\n'
            f'[[sources]]\nkind = "access-log"\npath = "{fifo}"\n'
        )
        made["{fifo-log-config}"] = str(config)
    if "{gz-nul}" in joined:
        _gzip_bomb(folder / "nul.log.gz", b"\x00" * (1 << 20), 256 << 20)
        made["{gz-nul}"] = str(folder / "nul.log.gz")
    if "{gz-line}" in joined:
        _gzip_bomb(folder / "line.log.gz", b"a" * (1 << 20), 256 << 20)
        made["{gz-line}"] = str(folder / "line.log.gz")
    argv = []
    for part in case.argv:
        for key, value in made.items():
            part = part.replace(key, value)
        argv.append(part)
    return argv


@dataclass(frozen=True)
class Outcome:
    """How a case ended."""

    exit_code: int | None
    stdout: str
    stderr: str
    problem: str | None


def run_case(case: Case) -> Outcome:
    """Run `case` in-process in a scratch folder and judge how it ended."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        argv = _materialise(case, folder)
        runner = CliRunner()
        try:
            with _time_limit(TIME_LIMIT_S):
                result = runner.invoke(main, argv, catch_exceptions=True)
        except _TimeUp as exc:
            return Outcome(None, "", "", f"hang: {exc}")
        stdout, stderr = result.stdout, result.stderr
        problem = _judge(case, result.exit_code, stdout, stderr, result.exc_info)
        return Outcome(result.exit_code, stdout, stderr, problem)


def _judge(case: Case, code: int, stdout: str, stderr: str, exc_info: object) -> str | None:
    if code not in (0, 2):
        detail = ""
        if isinstance(exc_info, tuple) and exc_info[1] is not None:
            detail = "".join(traceback.format_exception(*exc_info)[-3:])
        return f"exit {code}: {detail or stderr[-400:]}"
    if "Traceback" in stderr or "Traceback" in stdout:
        return "traceback"
    polled = case.argv[0] == "check" and not stderr and "\nFAIL " in stdout
    if code == 2 and not polled:  # `check` says which source failed on stdout instead
        lines = stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("engmon: "):
            return f"not one clean line: {stderr[-400:]!r}"
    for where, text in (("stdout", stdout), ("stderr", stderr)):
        raw = sorted({c for c in text if c in RAW_CONTROLS})
        if raw:
            return f"raw control characters on {where}: {raw!r}"
    if code == 0 and "--format" in case.argv:
        fmt = case.argv[case.argv.index("--format") + 1]
        if fmt == "json":
            try:
                json.loads(stdout, parse_constant=_refuse_constant)
            except ValueError as exc:
                return f"invalid JSON: {exc}"
        if fmt == "csv":
            for row in csv.reader(io.StringIO(stdout)):
                for cell in row:
                    if cell.startswith(FORMULA_START) and not _is_number(cell):
                        return f"formula cell in CSV: {cell[:40]!r}"
    return None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


if __name__ == "__main__":  # a quick look at every case: python -m tests.hostile [filter]
    import sys

    wanted = sys.argv[1] if len(sys.argv) > 1 else ""
    bad = 0
    total = 0
    for case in CASES:
        if wanted not in case.name:
            continue
        total += 1
        outcome = run_case(case)
        if outcome.problem:
            bad += 1
            print(f"FAIL {case.name}: {outcome.problem.strip()[-300:]}")
        else:
            print(f"ok   {case.name}: exit {outcome.exit_code} {outcome.stderr.strip()[:150]!r}")
    print(f"{total - bad}/{total} clean")
