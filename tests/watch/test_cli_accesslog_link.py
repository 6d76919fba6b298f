"""`engmon report ACCESS_LOG --link PATH` counts only that link's hits."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from engmon.cli import main

LINES = [
    '1.2.3.4 - - [10/Mar/2026:14:00:05 +0000] "GET /blog/launch HTTP/1.1" 200 512 '
    '"https://t.co/abc" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0"',
    '1.2.3.5 - - [10/Mar/2026:14:01:05 +0000] "GET /about HTTP/1.1" 200 512 '
    '"-" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0"',
    '1.2.3.6 - - [10/Mar/2026:14:02:05 +0000] "GET /blog/launch?utm_source=x HTTP/1.1" 200 9 '
    '"-" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"',
]


def _clicks(path: Path, *extra: str) -> float:
    result = CliRunner().invoke(main, ["report", str(path), "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    return float(json.loads(result.stdout)["metrics"]["clicks"]["count"])


def test_link_option_filters_access_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("\n".join(LINES) + "\n")
    assert _clicks(log) == 3
    assert _clicks(log, "--link", "/blog/launch") == 2
    assert _clicks(log, "--link", "https://example.com/about") == 1


def test_malformed_lines_reach_the_report_as_a_note(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("\n".join([LINES[0], "garbage line", LINES[2]]) + "\n")
    result = CliRunner().invoke(main, ["report", str(log)])
    assert result.exit_code == 0, result.output
    assert f"note: {log}: 1 of 3 lines malformed and skipped (line 2)" in result.stderr
    assert "note:" not in result.stdout  # notes go to stderr; the output stays data
    result = CliRunner().invoke(main, ["report", str(log), "--format", "json"])
    assert json.loads(result.stdout)["notes"] == [
        f"{log}: 1 of 3 lines malformed and skipped (line 2)"
    ]
