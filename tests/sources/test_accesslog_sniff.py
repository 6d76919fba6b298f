"""`format = "auto"`: the access-log format is read off the first lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from engmon.core.campaign import Campaign
from engmon.errors import ConfigError, FileFormatError
from engmon.sources import accesslog
from engmon.sources.accesslog.reader import read_access_log
from engmon.sources.accesslog.sniff import sniff_format
from engmon.sources.options import SourceOptions

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) Safari/604.1"
COMMON = '81.2.69.142 - - [12/Mar/2025:08:00:{s:02d} +0000] "GET /launch HTTP/1.1" 200 512'
COMBINED = COMMON + ' "https://t.co/x" "' + UA + '"'
VHOST = "example.com:443 " + COMBINED
CADDY = {
    "ts": 1741766400.5,
    "status": 200,
    "request": {
        "client_ip": "81.2.69.142",
        "method": "GET",
        "uri": "/launch",
        "headers": {"User-Agent": [UA], "Referer": ["https://t.co/x"]},
    },
}
TRAEFIK = {
    "ClientHost": "81.2.69.142",
    "StartUTC": "2025-03-12T08:00:00.5Z",
    "RequestMethod": "GET",
    "RequestPath": "/launch",
    "DownstreamStatus": 200,
    "request_User-Agent": UA,
}


def lines(template: str, n: int = 3) -> bytes:
    return "".join(template.format(s=i) + "\n" for i in range(n)).encode()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (lines(COMMON), "common"),
        (lines(COMBINED), "combined"),
        (lines(VHOST), "vhost_combined"),
        ((json.dumps(CADDY) + "\n").encode(), "caddy"),
        ((json.dumps(TRAEFIK) + "\n").encode(), "traefik"),
        (lines(COMBINED) + b"garbage line\n", "combined"),
        (b"ts,metric,value\n0,clicks,1\n", None),
        (b'{"a": 1}\n', None),
        (b"", None),
    ],
)
def test_sniff_names_the_preset(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (lines(COMMON).decode(), "common"),
        (lines(COMBINED).decode(), "combined"),
        (lines(VHOST).decode(), "vhost_combined"),
        (json.dumps(CADDY) + "\n", "caddy"),
        (json.dumps(TRAEFIK) + "\n", "traefik"),
    ],
)
def test_a_log_in_any_preset_reads_without_naming_it(tmp_path: Path, text: str, name: str) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(text.encode()))
    result = read_access_log(path, link="/launch")
    clicks = result.frame.filter(result.frame.get_column("metric") == "clicks")
    assert clicks.height == text.count("\n"), name
    assert (name == "combined") or any(name in note for note in result.notes)


def test_unknown_lines_are_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "odd.log"
    path.write_text("hello world\nsecond line\n")
    with pytest.raises(FileFormatError) as caught:
        read_access_log(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot tell the log format")
    assert "\n" not in message and "combined, common" in message


def test_live_source_sniffs_the_followed_file(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text(lines(COMMON).decode())
    table = {"kind": "access-log", "path": str(path)}
    source = accesslog.SOURCE.build(SourceOptions(table, "c.toml"), Campaign("c", "/launch"))
    assert source.parser.log_format == "common"
    events = source.poll_sync().frame.filter(pl.col("kind") == "event")
    assert events.height == 3 + 1  # 3 clicks, 1 visitor (beside the visitors-now gauge)
    # a log that does not exist yet is followed as combined, the nginx/Apache default
    table["path"] = str(tmp_path / "later.log")
    later = accesslog.SOURCE.build(SourceOptions(table, "c.toml"), Campaign("c", "/launch"))
    assert later.parser.log_format == "combined"
    (tmp_path / "odd.log").write_text("hello\n")
    table["path"] = str(tmp_path / "odd.log")
    with pytest.raises(ConfigError, match=r"c.toml: key 'format': .*cannot tell the log format"):
        accesslog.SOURCE.build(SourceOptions(table, "c.toml"), Campaign("c", "/launch"))
