"""Access logs: every format, link matching, the real Apache log, and bad input."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from engmon.core.schema import OBSERVATION_SCHEMA
from engmon.errors import ConfigError, EmptyInputError, FileFormatError, InputError
from engmon.sources.accesslog import geo
from engmon.sources.accesslog.agents import device_of
from engmon.sources.accesslog.formats import compile_format
from engmon.sources.accesslog.geo import CountryLookup
from engmon.sources.accesslog.link import LinkMatch
from engmon.sources.accesslog.observations import visitor_text
from engmon.sources.accesslog.parse import CHUNK_BYTES
from engmon.sources.accesslog.reader import read_access_log, read_requests
from engmon.sources.accesslog.tail import AccessLogSource

DATA = Path(__file__).parent.parent / "data"
REAL_LOG = DATA / "elastic_apache_combined.log"

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/122.0.0.0 Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.3 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def load_access_log(path: Path, **options: Any) -> pl.DataFrame:
    """The observation rows of an access log (what `engmon report/replay` load)."""
    return read_access_log(path, **options).frame


def combined(
    ip: str,
    when: str,
    target: str,
    *,
    status: int = 200,
    referrer: str = "-",
    agent: str = WINDOWS,
    method: str = "GET",
) -> str:
    return f'{ip} - - [{when}] "{method} {target} HTTP/1.1" {status} 512 "{referrer}" "{agent}"'


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def clicks(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("metric") == "clicks").sort("ts", "id")


CAMPAIGN_LINES = [
    combined(
        "81.2.69.142",
        "12/Mar/2025:08:00:00 +0000",
        "/blog/spring-launch",
        agent=IPHONE,
        referrer="https://t.co/abc",
    ),
    combined(
        "81.2.69.142",
        "12/Mar/2025:08:00:30 +0000",
        "/blog/spring-launch/?utm_source=x",
        agent=IPHONE,
        referrer="https://t.co/abc",
    ),
    combined("81.2.69.160", "12/Mar/2025:09:15:00 +0100", "/blog/spring-launch", agent=WINDOWS),
    combined("8.8.8.8", "12/Mar/2025:08:02:00 +0000", "/blog/spring-launch", agent=GOOGLEBOT),
    combined("81.2.69.142", "12/Mar/2025:08:03:00 +0000", "/static/app.css", agent=IPHONE),
    combined("81.2.69.142", "12/Mar/2025:08:04:00 +0000", "/blog/spring-launch-2", agent=IPHONE),
    combined("81.2.69.142", "12/Mar/2025:08:05:00 +0000", "/blog/spring-launch", status=404),
    combined("81.2.69.142", "12/Mar/2025:08:06:00 +0000", "/blog/spring-launch", method="POST"),
    combined("81.2.69.142", "13/Mar/2025:08:00:00 +0000", "/blog/spring-launch", agent=IPHONE),
]


# --- formats ---------------------------------------------------------------------------------


def test_combined_counts_the_link_with_dimensions(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", CAMPAIGN_LINES)
    frame = load_access_log(path, link="https://www.example.com/blog/spring-launch")
    assert frame.schema == OBSERVATION_SCHEMA
    got = clicks(frame)
    # lines 1, 2 (trailing slash + query), 3 (+0100 -> 08:15 UTC), 9 (next day); not the bot,
    # the asset, the longer path, the 404 or the POST
    assert got.get_column("ts").to_list() == [
        datetime(2025, 3, 12, 8, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 12, 8, 0, 30, tzinfo=UTC),
        datetime(2025, 3, 12, 8, 15, 0, tzinfo=UTC),
        datetime(2025, 3, 13, 8, 0, 0, tzinfo=UTC),
    ]
    assert got.get_column("referrer").to_list() == [
        "https://t.co/abc",
        "https://t.co/abc",
        None,
        None,
    ]
    assert got.get_column("device").to_list() == ["mobile", "mobile", "desktop", "mobile"]
    assert got.get_column("path").to_list() == [
        "/blog/spring-launch",
        "/blog/spring-launch/",
        "/blog/spring-launch",
        "/blog/spring-launch",
    ]
    assert got.get_column("country").to_list()[0] == "GB"
    assert got.get_column("id").n_unique() == 4
    assert not any("81.2.69" in actor for actor in got.get_column("actor").to_list())
    # one visitor, one short text: the iPhone's three clicks share it, the PC has its own
    actors = got.get_column("actor").to_list()
    assert actors[0] == actors[1] == actors[3] != actors[2]
    assert {len(actor) for actor in actors} == {11}
    # visitors: the iPhone on day 1, the Windows PC on day 1, the iPhone again on day 2
    visitors = frame.filter(pl.col("metric") == "visitors").sort("ts")
    assert visitors.height == 3
    assert visitors.get_column("ts").to_list()[0] == datetime(2025, 3, 12, 8, 0, 0, tzinfo=UTC)


def test_visitor_text_keeps_every_bit_of_the_hash_in_eleven_characters() -> None:
    hashes = pl.Series([0, 1, 2**63, 2**64 - 1, None, 0x0123456789ABCDEF], dtype=pl.UInt64)
    text = visitor_text(hashes)
    assert text.dtype == pl.String
    assert text.null_count() == 1 and text[4] is None
    shown = [t for t in text.to_list() if t is not None]
    assert {len(t) for t in shown} == {11} and len(set(shown)) == 5
    # the text decodes back to the hash (base64 of its 8 big-endian bytes, `.` for `-`)
    decoded = [
        int.from_bytes(base64.urlsafe_b64decode(t.replace(".", "-") + "A="), "big") >> 8
        for t in shown
    ]
    assert decoded == [0, 1, 2**63, 2**64 - 1, 0x0123456789ABCDEF]
    # a hash whose top six bits are all but one set starts with `.`, never with `-`
    assert visitor_text(pl.Series([0xF8 << 56], dtype=pl.UInt64))[0].startswith(".")
    assert not any(t[0] in "-+=@" for t in shown)


def test_bots_can_be_included(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", CAMPAIGN_LINES)
    frame = load_access_log(path, link="/blog/spring-launch", include_bots=True)
    assert clicks(frame).get_column("device").to_list().count("bot") == 1


def test_no_link_counts_every_page_but_not_assets(tmp_path: Path) -> None:
    lines = [
        combined("81.2.69.142", "12/Mar/2025:08:00:00 +0000", "/"),
        combined("81.2.69.142", "12/Mar/2025:08:00:01 +0000", "/pricing?plan=pro"),
        combined("81.2.69.142", "12/Mar/2025:08:00:02 +0000", "/static/app.3f9a.js"),
        combined("81.2.69.142", "12/Mar/2025:08:00:03 +0000", "/favicon.ico"),
        combined("81.2.69.142", "12/Mar/2025:08:00:04 +0000", "/robots.txt"),
        combined("81.2.69.142", "12/Mar/2025:08:00:05 +0000", "/img/hero.WEBP"),
        combined("81.2.69.142", "12/Mar/2025:08:00:06 +0000", "/fonts/inter.woff2?v=2"),
    ]
    frame = load_access_log(write(tmp_path, "a.log", lines), link=None)
    assert clicks(frame).get_column("path").to_list() == ["/", "/pricing"]


def test_utm_parameters_must_match(tmp_path: Path) -> None:
    lines = [
        combined("1.1.1.1", "12/Mar/2025:08:00:00 +0000", "/p?utm_source=mastodon&utm_medium=s"),
        combined("1.1.1.2", "12/Mar/2025:08:00:01 +0000", "/p?utm_source=mastodonx"),
        combined("1.1.1.3", "12/Mar/2025:08:00:02 +0000", "/p?utm_medium=s&utm_source=mastodon"),
        combined("1.1.1.4", "12/Mar/2025:08:00:03 +0000", "/p"),
    ]
    path = write(tmp_path, "a.log", lines)
    frame = load_access_log(path, link="/p", utm={"utm_source": "mastodon"})
    assert clicks(frame).height == 2
    assert clicks(load_access_log(path, link="/p")).height == 4
    with pytest.raises(ConfigError, match="utm_"):
        LinkMatch.build("/p", {"source": "x"})


def test_link_spellings() -> None:
    for link in ("https://example.com/p?utm_source=x", "example.com/p/", "/p", "//example.com/p"):
        assert LinkMatch.build(link).path == "/p"
    assert LinkMatch.build("https://example.com").path == "/"
    assert LinkMatch.build("").path is None and LinkMatch.build(None).path is None


def test_common_format(tmp_path: Path) -> None:
    lines = [
        '81.2.69.142 - frank [10/Oct/2000:13:55:36 -0700] "GET /blog/spring-launch HTTP/1.0"'
        " 200 2326",
        '81.2.69.143 - - [10/Oct/2000:13:56:36 -0700] "GET /other HTTP/1.0" 200 -',
    ]
    frame = load_access_log(
        write(tmp_path, "a.log", lines), link="/blog/spring-launch", log_format="common"
    )
    got = clicks(frame)
    assert got.get_column("ts").to_list() == [datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)]
    assert got.get_column("referrer").to_list() == [None]
    assert got.get_column("device").to_list() == ["other"]  # no user agent in `common`


def test_vhost_combined(tmp_path: Path) -> None:
    lines = [
        'www.example.com:443 81.2.69.142 - - [12/Mar/2025:08:00:00 +0000] "GET /launch HTTP/2.0"'
        f' 200 512 "https://t.co/x" "{IPHONE}"',
        'www.example.com:443 81.2.69.143 - - [12/Mar/2025:08:00:09 +0000] "GET /other HTTP/2.0"'
        f' 200 512 "-" "{IPHONE}"',
    ]
    frame = load_access_log(
        write(tmp_path, "a.log", lines), link="/launch", log_format="vhost_combined"
    )
    got = clicks(frame)
    assert got.get_column("referrer").to_list() == ["https://t.co/x"]
    assert got.get_column("country").to_list() == ["GB"]


def test_custom_nginx_log_format(tmp_path: Path) -> None:
    fmt = (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
        ' "$http_referer" "$http_user_agent" "$http_x_forwarded_for" rt=$request_time'
    )
    lines = [
        f'81.2.69.142 - - [12/Mar/2025:08:00:00 +0000] "GET /launch?a=1 HTTP/1.1" 200 5 "-"'
        f' "{IPAD}" "-" rt=0.004',
        f'81.2.69.143 - - [12/Mar/2025:08:01:00 +0000] "GET /launch HTTP/1.1" 304 0'
        f' "https://lnkd.in/x" "{WINDOWS}" "10.0.0.1" rt=0.001',
    ]
    frame = load_access_log(write(tmp_path, "a.log", lines), link="/launch", log_format=fmt)
    got = clicks(frame)
    assert got.get_column("device").to_list() == ["tablet", "desktop"]
    assert got.get_column("referrer").to_list() == [None, "https://lnkd.in/x"]


def test_custom_format_with_iso_time_and_request_uri(tmp_path: Path) -> None:
    fmt = '$time_iso8601 $remote_addr $request_method $request_uri $status "$http_user_agent"'
    lines = [
        f'2025-03-12T09:00:00+01:00 81.2.69.142 GET /launch 200 "{IPHONE}"',
        f'2025-03-12T08:00:05Z 81.2.69.143 GET /launch 200 "{IPHONE}"',
    ]
    frame = load_access_log(write(tmp_path, "a.log", lines), link="/launch", log_format=fmt)
    assert clicks(frame).get_column("ts").to_list() == [
        datetime(2025, 3, 12, 8, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 12, 8, 0, 5, tzinfo=UTC),
    ]


def test_custom_format_with_epoch_time_and_forwarded_for(tmp_path: Path) -> None:
    fmt = '$msec "$http_x_forwarded_for" "$request" $status'
    lines = [
        '1741766400.250 "81.2.69.142, 10.0.0.1" "GET /launch HTTP/2.0" 200',
        '1741766401.000 "-" "GET /elsewhere HTTP/2.0" 200',
    ]
    got = clicks(load_access_log(write(tmp_path, "a.log", lines), link="/launch", log_format=fmt))
    assert got.get_column("ts").to_list() == [datetime(2025, 3, 12, 8, 0, 0, 250000, tzinfo=UTC)]
    assert got.get_column("country").to_list() == ["GB"]  # the client, not the proxy


def test_split_plan_of_presets() -> None:
    plan = compile_format("combined")
    assert plan.columns == 7
    assert {"ip", "time_local", "request", "status", "referrer", "user_agent"} <= plan.fields
    with pytest.raises(ConfigError, match="unknown log format 'apache'"):
        compile_format("apache")
    with pytest.raises(ConfigError, match="no time variable"):
        compile_format('$remote_addr "$request"')
    with pytest.raises(ConfigError, match="request"):
        compile_format("$remote_addr [$time_local]")


def caddy_line(ts: float, uri: str, agent: str = IPHONE, ip: str = "81.2.69.142") -> str:
    # Shaped like Caddy v2's `http.log.access` JSON (caddyserver.com/docs/caddyfile/directives/log)
    return json.dumps(
        {
            "level": "info",
            "ts": ts,
            "logger": "http.log.access.log0",
            "msg": "handled request",
            "request": {
                "remote_ip": ip,
                "remote_port": "41342",
                "client_ip": ip,
                "proto": "HTTP/2.0",
                "method": "GET",
                "host": "www.example.com",
                "uri": uri,
                "headers": {"User-Agent": [agent], "Referer": ["https://t.co/abc"]},
            },
            "bytes_read": 0,
            "user_id": "",
            "duration": 0.0009,
            "size": 10900,
            "status": 200,
            "resp_headers": {"Content-Type": ["text/html; charset=utf-8"]},
        }
    )


def test_caddy_json_lines(tmp_path: Path) -> None:
    start = datetime(2025, 3, 12, 8, 0, tzinfo=UTC).timestamp()
    lines = [
        caddy_line(start + 0.25, "/launch?utm_source=x"),
        caddy_line(start + 1, "/other"),
        "{not json",
        caddy_line(start + 2, "/launch", agent=WINDOWS),
    ]
    result = read_access_log(
        write(tmp_path, "caddy.log", lines), link="/launch", log_format="caddy"
    )
    got = clicks(result.frame)
    assert got.get_column("ts").to_list() == [
        datetime(2025, 3, 12, 8, 0, 0, 250000, tzinfo=UTC),
        datetime(2025, 3, 12, 8, 0, 2, tzinfo=UTC),
    ]
    assert got.get_column("referrer").to_list() == ["https://t.co/abc"] * 2
    assert got.get_column("device").to_list() == ["mobile", "desktop"]
    assert result.stats.malformed == 1
    assert result.stats.malformed_lines == [3]


def test_traefik_json_lines_and_field_mapping(tmp_path: Path) -> None:
    # Traefik accessLog format=json with headers kept (doc.traefik.io observability/access-logs)
    row = {
        "ClientAddr": "81.2.69.142:51234",
        "ClientHost": "81.2.69.142",
        "DownstreamStatus": 200,
        "RequestMethod": "GET",
        "RequestPath": "/launch",
        "RequestProtocol": "HTTP/2.0",
        "StartUTC": "2025-03-12T08:00:00.123456789Z",
        "request_User-Agent": IPHONE,
        "request_Referer": "https://www.linkedin.com/",
        "level": "info",
        "msg": "",
        "time": "2025-03-12T08:00:00Z",
    }
    path = write(tmp_path, "traefik.log", [json.dumps(row)])
    got = clicks(load_access_log(path, link="/launch", log_format="traefik"))
    assert got.get_column("referrer").to_list() == ["https://www.linkedin.com/"]
    assert got.get_column("ts").to_list() == [datetime(2025, 3, 12, 8, 0, 0, 123456, tzinfo=UTC)]
    # a user mapping overrides the preset: take the time from `time` instead
    got = clicks(
        load_access_log(path, link="/launch", log_format="traefik", json_fields={"time": "time"})
    )
    assert got.get_column("ts").to_list() == [datetime(2025, 3, 12, 8, 0, tzinfo=UTC)]
    with pytest.raises(ConfigError, match="unknown field 'when'"):
        load_access_log(path, log_format="traefik", json_fields={"when": "time"})


def test_gzip_log_reads_like_the_plain_one(tmp_path: Path) -> None:
    plain = write(tmp_path, "access.log", CAMPAIGN_LINES)
    packed = tmp_path / "access.log.1.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a = load_access_log(plain, link="/blog/spring-launch")
    b = load_access_log(packed, link="/blog/spring-launch")
    assert a.equals(b)


def test_chunk_boundaries_do_not_change_the_result(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", CAMPAIGN_LINES * 3)
    whole = read_access_log(path, link="/blog/spring-launch").frame
    small = read_access_log(path, link="/blog/spring-launch", chunk_bytes=300).frame
    assert whole.sort("id", "ts").equals(small.sort("id", "ts"))
    events = whole.filter(pl.col("kind") == "event")  # the `active` gauge rows have no id
    assert events.get_column("id").n_unique() == events.height


def test_escaped_quotes_crlf_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    lines = [
        combined("1.1.1.1", "12/Mar/2025:08:00:00 +0000", "/x", agent='Mozilla/5.0 \\"quoted\\" X'),
        "",
        combined("1.1.1.2", "12/Mar/2025:08:00:01 +0000", "/x"),
    ]
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    result = read_access_log(path, link="/x", include_bots=True)
    assert result.stats.malformed == 0
    assert result.stats.blank == 1
    got = clicks(result.frame)
    assert got.height == 2
    assert got.get_column("id").to_list()[1].endswith(":3")


def test_escaped_quotes_in_a_plain_file_and_cut_off_non_link_lines(tmp_path: Path) -> None:
    lines = [
        combined("1.1.1.1", "12/Mar/2025:08:00:00 +0000", "/x", agent='Mozilla/5.0 \\"q\\" X'),
        combined("1.1.1.2", "12/Mar/2025:08:00:01 +0000", "/other")[:-5],  # cut off, not /x
        combined("1.1.1.3", "12/Mar/2025:08:00:02 +0000", "/x")[:-5],  # cut off, /x
        combined("1.1.1.4", "12/Mar/2025:08:00:03 +0000", "/x"),
    ]
    result = read_access_log(write(tmp_path, "a.log", lines), link="/x", include_bots=True)
    assert result.stats.malformed_lines == [2, 3]
    assert [i.rsplit(":", 1)[1] for i in clicks(result.frame).get_column("id")] == ["1", "4"]


def test_bytes_that_are_not_utf8_are_replaced_and_the_lines_still_count(tmp_path: Path) -> None:
    # read strictly first (faster), then again lossily: the same hits, plain file or chunks
    lines = [
        combined("81.2.69.142", "12/Mar/2025:08:00:00 +0000", "/x", referrer="https://a.example/"),
        combined("81.2.69.160", "12/Mar/2025:08:00:01 +0000", "/x", referrer="https://b~.example/"),
    ]
    path = tmp_path / "a.log"
    path.write_bytes("\n".join(lines).encode().replace(b"~", b"\xff\xfe") + b"\n")
    for chunk_bytes in (CHUNK_BYTES, 300):
        result = read_access_log(path, link="/x", chunk_bytes=chunk_bytes)
        got = clicks(result.frame)
        assert result.stats.malformed == 0 and got.height == 2
        first, second = got.get_column("referrer").to_list()
        assert first == "https://a.example/" and "\ufffd" in second and second.endswith(".example/")


def test_devices() -> None:
    assert device_of(IPHONE) == "mobile"
    assert device_of(IPAD) == "tablet"
    assert device_of(WINDOWS) == "desktop"
    assert device_of(GOOGLEBOT) == "bot"
    assert (
        device_of("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)")
        == "bot"
    )
    assert device_of("curl/8.4.0") == "bot"
    assert device_of("") == "bot"
    assert device_of("SomethingUnheardOf/1.0") == "other"


def test_agents_read_before_are_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_CACHE_DIR", str(tmp_path / "cache"))
    path = write(tmp_path, "access.log", CAMPAIGN_LINES)
    first = clicks(load_access_log(path, link="/blog/spring-launch"))
    assert "mobile" in first.get_column("device").to_list()
    asked: list[str] = []

    def agent_of(agent: str) -> tuple[str, str | None, str | None]:
        asked.append(agent)
        return "desktop", "NewBrowser", None

    monkeypatch.setattr("engmon.sources.accesslog.parse.agent_of", agent_of)
    again = clicks(load_access_log(path, link="/blog/spring-launch"))
    assert asked == []  # every agent came from the cache, ua-parser was not needed
    assert again.equals(first)
    other = combined("8.8.4.4", "12/Mar/2025:08:00:00 +0000", "/blog/spring-launch", agent="New/1")
    more = clicks(load_access_log(write(tmp_path, "b.log", [other]), link="/blog/spring-launch"))
    assert asked == ["New/1"]  # an agent never seen is still parsed
    assert more.get_column("browser").to_list() == ["NewBrowser"]


def test_agent_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engmon.sources.accesslog import agents

    monkeypatch.setenv("ENGMON_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(agents, "AGENT_CACHE_LIMIT", 3)
    agents.save_agents({"a": ("desktop", None, None), "b": ("bot", None, None)}, {})
    assert set(agents.cached_agents()) == {"a", "b"}
    agents.save_agents(
        agents.cached_agents(), {"c": ("mobile", "X", "iOS"), "d": ("bot", None, None)}
    )
    assert agents.cached_agents() == {"c": ("mobile", "X", "iOS"), "d": ("bot", None, None)}


def test_countries_follow_their_hits_in_a_log_out_of_time_order(tmp_path: Path) -> None:
    lines = [
        combined(ip, f"12/Mar/2025:08:0{minute}:00 +0000", "/blog/spring-launch")
        for ip, minute in (("8.8.8.8", 5), ("81.2.69.142", 1), ("8.8.4.4", 3), ("81.2.69.143", 0))
    ]
    got = clicks(load_access_log(write(tmp_path, "late.log", lines), link="/blog/spring-launch"))
    assert got.get_column("id").str.split(":").list.last().to_list() == ["4", "2", "3", "1"]
    assert got.get_column("country").to_list() == ["GB", "GB", "US", "US"]


def test_countries_vectorised_match_single_lookups() -> None:
    lookup = CountryLookup()
    lookup.vectorise_from = 1
    ips = ["81.2.69.142", "8.8.8.8", "10.0.0.1", "127.0.0.1", "2a02:c7c::1", "garbage", ""]
    ips += [f"{a}.{b}.7.9" for a in (24, 77, 101, 185, 203) for b in (0, 99, 250)]
    joined = lookup.countries(ips)
    assert joined == {ip: (lookup.country(ip) if ip else None) for ip in ips}
    assert joined["81.2.69.142"] == "GB"
    assert joined["10.0.0.1"] is None


def test_networks_cache_reads_back_what_was_built_and_a_damaged_one_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_CACHE_DIR", str(tmp_path))

    def fresh() -> geo._Networks:
        geo._networks.cache_clear()
        networks = geo._networks()
        assert networks is not None
        return networks

    def same(a: geo._Networks, b: geo._Networks) -> None:
        for family in (4, 6):
            assert np.array_equal(a.first[family], b.first[family])
            assert np.array_equal(a.last[family], b.last[family])
        assert a.offset == b.offset and np.array_equal(a.codes, b.codes)
        assert a.names.cast(pl.String).to_list() == b.names.cast(pl.String).to_list()

    try:
        built = fresh()  # from geoip2fast's own data, then cached
        (cached,) = tmp_path.glob("geoip2fast-*.npz")
        same(built, fresh())
        assert built.names[0] is None and "GB" in built.names.cast(pl.String).to_list()
        cached.write_bytes(b"PK\x03\x04 not a whole archive")
        same(built, fresh())  # rebuilt, and the cache written again
        same(built, fresh())
        # a whole archive whose arrays do not fit together is rebuilt too
        arrays = {name: np.load(cached)[name] for name in geo._ARRAYS}
        with cached.open("wb") as handle:
            np.savez(handle, **{**arrays, "codes": arrays["codes"][:-5]})
        same(built, fresh())
    finally:
        geo._networks.cache_clear()


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_countries_placed_batch_by_batch_land_on_their_rows(
    monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    ips = ["81.2.69.142", "2a02:c7c::1", "garbage", "", "8.8.8.8", "10.0.0.1", "81.2.69.142"]
    ips += [f"{a}.{b}.7.9" for a in (24, 77, 101, 185, 203) for b in (0, 99, 250)]
    whole = CountryLookup()
    whole.vectorise_from = 1
    expected = whole.place(pl.DataFrame({"ip": ips})).get_column("country").to_list()
    monkeypatch.setattr(geo, "PLACE_BATCH", batch)
    lookup = CountryLookup()
    lookup.vectorise_from = 1
    got = lookup.place(pl.DataFrame({"ip": ips})).get_column("country").to_list()
    assert got == expected == [lookup.country(ip) if ip else None for ip in ips]


def _mmdb_string(text: str) -> bytes:
    raw = text.encode()
    return bytes([(2 << 5) | len(raw)]) + raw  # type 2 (UTF-8 string), size < 29


def _mmdb_uint(kind: int, value: int) -> bytes:  # kind 5 = uint16, 6 = uint32
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return bytes([(kind << 5) | len(raw)]) + raw


def _mmdb_map(items: list[tuple[str, bytes]]) -> bytes:
    return bytes([(7 << 5) | len(items)]) + b"".join(_mmdb_string(k) + v for k, v in items)


def write_mmdb(path: Path, network: str, prefix: int, iso_code: str) -> None:
    """A one-network IPv4 MaxMind DB (record size 24), written by the MaxMind DB spec."""
    number = int.from_bytes(bytes(int(octet) for octet in network.split(".")), "big")
    node_count = prefix
    tree = b""
    for depth in range(prefix):
        bit = (number >> (31 - depth)) & 1
        records = [node_count, node_count]  # node_count: no data
        records[bit] = node_count + 16 if depth == prefix - 1 else depth + 1
        tree += b"".join(record.to_bytes(3, "big") for record in records)
    data = _mmdb_map([("country", _mmdb_map([("iso_code", _mmdb_string(iso_code))]))])
    metadata = _mmdb_map(
        [
            ("binary_format_major_version", _mmdb_uint(5, 2)),
            ("binary_format_minor_version", _mmdb_uint(5, 0)),
            ("build_epoch", bytes([1, 9 - 7, 1])),  # extended type 9 (uint64)
            ("database_type", _mmdb_string("engmon-test")),
            ("description", _mmdb_map([])),
            ("ip_version", _mmdb_uint(5, 4)),
            ("languages", bytes([0, 11 - 7])),  # extended type 11 (array), empty
            ("node_count", _mmdb_uint(6, node_count)),
            ("record_size", _mmdb_uint(5, 24)),
        ]
    )
    path.write_bytes(tree + bytes(16) + data + b"\xab\xcd\xefMaxMind.com" + metadata)


def test_a_users_maxmind_database_replaces_the_bundled_one(tmp_path: Path) -> None:
    mmdb = tmp_path / "GeoLite2-Country.mmdb"
    write_mmdb(mmdb, "81.2.69.0", 24, "NZ")  # the bundled database says GB
    path = write(tmp_path, "access.log", CAMPAIGN_LINES)
    got = clicks(load_access_log(path, link="/blog/spring-launch", geoip_db=mmdb))
    assert got.get_column("country").to_list() == ["NZ", "NZ", "NZ", "NZ"]
    lines = [combined("8.8.4.4", "12/Mar/2025:08:00:00 +0000", "/blog/spring-launch")]
    other = clicks(
        load_access_log(write(tmp_path, "b.log", lines), link="/blog/spring-launch", geoip_db=mmdb)
    )
    assert other.get_column("country").to_list() == [None]  # not in the user's database


def test_user_mmdb_reader_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeReader:
        def get(self, ip: str) -> dict[str, dict[str, str]] | None:
            return {"country": {"iso_code": "NZ"}} if ip == "1.2.3.4" else None

    lookup = CountryLookup()
    lookup._reader = FakeReader()
    assert lookup.countries(["1.2.3.4", "5.6.7.8"]) == {"1.2.3.4": "NZ", "5.6.7.8": None}


def test_unreadable_mmdb_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "GeoLite2-Country.mmdb"
    bogus.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match=r"GeoLite2-Country\.mmdb"):
        CountryLookup(bogus)


# --- the real log ----------------------------------------------------------------------------

LINE = re.compile(
    r'^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\S+) "([^"]*)" "([^"]*)"$'
)


def independent_parse() -> list[tuple[str, ...]]:
    rows = []
    for raw in REAL_LOG.read_text().splitlines():
        match = LINE.match(raw)
        if match:
            rows.append(match.groups())
    return rows


def test_real_log_status_referrer_and_busiest_minute() -> None:
    expected = independent_parse()
    requests, stats = read_requests(REAL_LOG)
    assert stats.lines == 10_000
    assert stats.malformed == 1 and stats.malformed_lines == [8899]  # the cut-off line
    assert requests.height == len(expected) == 9_999
    statuses = Counter(int(row[4]) for row in expected)
    got = dict(requests.group_by("status").len().iter_rows())
    assert got == dict(statuses)
    referrers = Counter(row[6] for row in expected if row[6] != "-")
    got_referrers = dict(requests.drop_nulls("referrer").group_by("referrer").len().iter_rows())
    assert got_referrers == dict(referrers)
    minutes = Counter(row[1][:17] for row in expected)  # "17/May/2015:10:05" (all +0000)
    ((busiest, busiest_count),) = minutes.most_common(1)
    by_minute = requests.group_by(pl.col("ts").dt.truncate("1m")).len().sort("len")
    top_ts, top_count = by_minute.row(-1)
    assert top_count == busiest_count
    assert top_ts.strftime("%d/%b/%Y:%H:%M") == busiest
    assert requests.get_column("ts").is_sorted() is False  # out-of-order lines stay readable


def test_real_log_clicks_of_one_page_against_an_independent_count() -> None:
    page = "/"
    expected = [
        row
        for row in independent_parse()
        if row[2] == "GET" and row[3].split("?")[0] in (page,) and 200 <= int(row[4]) < 400
    ]
    result = read_access_log(REAL_LOG, link=page, include_bots=True)
    got = clicks(result.frame)
    assert got.height == len(expected)
    per_minute = Counter(row[1][:17] for row in expected)
    frame_minutes = Counter(ts.strftime("%d/%b/%Y:%H:%M") for ts in got.get_column("ts"))
    assert frame_minutes == per_minute
    assert result.notes == [f"{REAL_LOG}: 1 of 10000 lines malformed and skipped (line 8899)"]


def test_malformed_lines_are_reported_as_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [*CAMPAIGN_LINES[:2], "garbage line", CAMPAIGN_LINES[2], 'x "y', CAMPAIGN_LINES[3]]
    path = write(tmp_path, "a.log", lines)
    result = read_access_log(path, link="/blog/spring-launch")
    assert clicks(result.frame).height == 3
    assert result.notes == [f"{path}: 2 of 6 lines malformed and skipped (line 3, 5)"]
    assert capsys.readouterr().err == ""  # the caller shows it (`report` prints `note: ...`)


def test_progress_reaches_the_end(tmp_path: Path) -> None:
    path = write(tmp_path, "a.log", CAMPAIGN_LINES * 50)
    seen: list[float] = []
    read_access_log(path, link="/x", progress=seen.append, chunk_bytes=4096)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0


# --- bad input: one clear line naming the file -----------------------------------------------


def test_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("ts,metric,value\n0,clicks,1\n60,clicks,2\n")
    with pytest.raises(FileFormatError) as info:
        load_access_log(path)
    message = str(info.value)
    assert str(path) in message and "cannot tell the log format" in message
    assert "combined, common" in message and "\n" not in message
    with pytest.raises(FileFormatError, match="no line reads as a 'combined' access log"):
        load_access_log(path, log_format="combined")


def test_wrong_format_chosen(tmp_path: Path) -> None:
    path = write(tmp_path, "a.log", CAMPAIGN_LINES)
    with pytest.raises(FileFormatError, match="no line reads as a 'common' access log"):
        load_access_log(path, log_format="common")
    with pytest.raises(FileFormatError, match="'caddy'"):
        load_access_log(path, log_format="caddy")


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(FileFormatError, match=f"{re.escape(str(path))}: binary data"):
        load_access_log(path)


def test_empty_missing_and_damaged_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n")
    with pytest.raises(EmptyInputError, match=r"empty\.log"):
        load_access_log(empty)
    with pytest.raises(InputError, match="no such file"):
        load_access_log(tmp_path / "missing.log")
    damaged = tmp_path / "access.log.gz"
    damaged.write_bytes(gzip.compress(b"x" * 10_000)[:40])
    with pytest.raises(FileFormatError, match=r"access\.log\.gz: damaged gzip"):
        load_access_log(damaged)


@pytest.mark.parametrize(
    "data",
    [b'a"\n\nb\n"x"\n', b'\n\n"a"', b"abc", b'"q"\nno quote', b"", b"\n", b'x"\n' * 10 + b"y"],
)
@pytest.mark.parametrize("window", [1, 2, 3, 5, 64])
def test_file_line_index_equals_the_in_memory_one(tmp_path: Path, data: bytes, window: int) -> None:
    """The file index finds blank and cut-off lines per window, across window edges."""
    from engmon.sources.accesslog.lineindex import LineIndex

    path = tmp_path / "log"
    path.write_bytes(data)
    whole = LineIndex.of(data, False, needs_closing_quote=True)
    windowed = LineIndex.of_file_ends(path, needs_closing_quote=True, window=window)
    assert whole.ends.tolist() == windowed.ends.tolist()
    assert whole.blank.tolist() == windowed.blank.tolist()
    assert whole.suspects.tolist() == windowed.suspects.tolist()


@pytest.mark.parametrize(
    "data",
    [b'a"\n\nb\n"x"\n', b'\n\n"a"', b"abc", b'"q"\nno quote', b"", b"\n", b'x"\n' * 10 + b'y"'],
)
@pytest.mark.parametrize("window", [1, 2, 3, 5, 64])
def test_quick_line_count_finds_what_the_index_finds(
    tmp_path: Path, data: bytes, window: int
) -> None:
    """The quick count (no line ends kept) agrees with the full index, across window edges,
    and a clean file's line text is still found when a repair asks for it."""
    from engmon.sources.accesslog.lineindex import LineIndex, _count_lines

    path = tmp_path / "log"
    path.write_bytes(data)
    whole = LineIndex.of(data, False, needs_closing_quote=True)
    lines, odd = _count_lines(path, needs_closing_quote=True, window=window)
    assert lines == whole.count
    assert odd == bool(whole.blank.size or whole.suspects.size)
    quick = LineIndex.of_file(path, needs_closing_quote=True)
    assert quick.count == whole.count
    assert quick.blank.tolist() == whole.blank.tolist()
    assert quick.suspects.tolist() == whole.suspects.tolist()
    rows = np.arange(whole.count, dtype=np.int64)
    assert quick.text(rows) == whole.text(rows)


@pytest.mark.parametrize("needs_closing_quote", [True, False])
def test_quick_line_count_agrees_with_a_line_by_line_reading(
    tmp_path: Path, needs_closing_quote: bool
) -> None:
    """Random mixes of text, quotes and newlines, read through windows of every small size
    (pairs split at even and odd offsets and across window edges)."""
    from engmon.sources.accesslog.lineindex import _count_lines

    rng = np.random.default_rng(5)
    path = tmp_path / "log"
    for _ in range(300):
        data = bytes(rng.choice(list(b'a"\n'), size=int(rng.integers(0, 40))))
        path.write_bytes(data)
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()  # the newline ends the last line; nothing follows it
        odd = any(
            line == b"" or (needs_closing_quote and not line.endswith(b'"')) for line in lines
        )
        for window in (1, 2, 3, 4, 7, 64):
            got = _count_lines(path, needs_closing_quote=needs_closing_quote, window=window)
            assert got == (len(lines), odd), (data, window)


# --- utm tags, goal, referrer spam, browsers and operating systems, visitors now -------------
MARKETING_LINES = [
    combined(
        "81.2.69.142",
        "12/Mar/2025:08:00:00 +0000",
        "/blog/spring-launch?utm_source=mastodon&utm_medium=social&utm_campaign=spring+sale",
        agent=IPHONE,
    ),
    combined("81.2.69.142", "12/Mar/2025:08:03:00 +0000", "/thanks?order=1", agent=IPHONE),
    combined("81.2.69.142", "12/Mar/2025:08:04:00 +0000", "/thanks", agent=IPHONE),
    # reached the goal without clicking the link first: not a conversion
    combined("81.2.69.160", "12/Mar/2025:08:01:00 +0000", "/thanks", agent=WINDOWS),
    combined("81.2.69.160", "12/Mar/2025:08:02:00 +0000", "/blog/spring-launch", agent=WINDOWS),
    combined(
        "81.2.69.170",
        "12/Mar/2025:08:02:30 +0000",
        "/blog/spring-launch?utm_campaign=spring&ref=x",
        agent=WINDOWS,
        referrer="http://www.semalt.com/crawler.php?u=x",
    ),
    combined(
        "81.2.69.180",
        "12/Mar/2025:08:02:40 +0000",
        "/blog/spring-launch?utm_source=newsletter&utm_campaign=spring",
        agent=WINDOWS,
    ),
]


def test_utm_tags_are_kept_when_the_path_is_normalised(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", MARKETING_LINES)
    frame = clicks(load_access_log(path, link="/blog/spring-launch"))
    assert frame.get_column("path").unique().to_list() == ["/blog/spring-launch"]
    assert frame.get_column("utm").to_list() == [
        "utm_source=mastodon&utm_medium=social&utm_campaign=spring sale",
        None,
        "utm_source=newsletter&utm_campaign=spring",
    ]


def test_goal_counts_once_per_visitor_who_clicked_first(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", MARKETING_LINES)
    frame = load_access_log(path, link="/blog/spring-launch", goal="/thanks")
    reached = frame.filter(pl.col("metric") == "conversions")
    assert reached.height == 1  # 81.2.69.142 twice (once counted); .160 before its click
    assert reached.get_column("ts").dt.minute().to_list() == [3]
    assert reached.get_column("id").to_list()[0].endswith(":2:c")
    assert clicks(frame).height == 3  # goal hits are not clicks of the link


def test_referrer_spam_is_left_out_unless_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", MARKETING_LINES)
    result = read_access_log(path, link="/blog/spring-launch")
    assert clicks(result.frame).height == 3
    assert any("1 hits from referrer-spam hosts left out" in note for note in result.notes)
    kept = read_access_log(path, link="/blog/spring-launch", spam=())
    assert clicks(kept.frame).height == 4


def test_browsers_and_operating_systems(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", MARKETING_LINES)
    frame = clicks(load_access_log(path, link="/blog/spring-launch"))
    assert frame.select("browser", "os").rows() == [
        ("Mobile Safari", "iOS"),
        ("Chrome", "Windows"),
        ("Chrome", "Windows"),
    ]


def test_active_visitors_of_the_last_five_minutes(tmp_path: Path) -> None:
    path = write(tmp_path, "access.log", MARKETING_LINES)
    frame = load_access_log(path, link="/blog/spring-launch")
    active = frame.filter(pl.col("metric") == "active").sort("ts")
    assert set(active.get_column("kind").cast(pl.String)) == {"bucket"}
    by_minute = dict(zip(active["ts"].dt.minute(), active["value"], strict=True))
    # clicks at 08:00 (.142), 08:02 (.160, .180); the file ends with its last click
    assert by_minute == {0: 1.0, 1: 1.0, 2: 3.0}
    source = accesslog_source(path, link="/blog/spring-launch")
    live = source.poll_sync(datetime(2025, 3, 12, 8, 5, 30, tzinfo=UTC)).frame
    gauge = live.filter(pl.col("metric") == "active").sort("ts")
    assert gauge["value"].to_list() == [1.0, 1.0, 3.0, 3.0, 3.0, 2.0]  # up to the poll's now


def accesslog_source(path: Path, **table: object) -> AccessLogSource:
    from engmon.core.campaign import Campaign
    from engmon.sources import accesslog
    from engmon.sources.options import SourceOptions

    options = SourceOptions({"kind": "access-log", "path": str(path), **table}, "t.toml")
    source = accesslog.SOURCE.build(options, Campaign("c"))
    assert isinstance(source, AccessLogSource)
    return source


def test_a_loaded_log_is_in_time_order_with_unique_ids(tmp_path: Path) -> None:
    """Replay and report read the frame as it comes: sorted by time, each id once (so the
    report skips the dedupe), with a hit's first visit right after its click."""
    from engmon.sources.files import FileSpec, load_observations

    path = write(tmp_path, "access.log", CAMPAIGN_LINES)
    loaded = load_observations(FileSpec(path, link="/blog/spring-launch"))
    frame = loaded.frame
    assert loaded.unique_ids
    assert frame.get_column("ts").is_sorted()
    ids = frame.get_column("id").drop_nulls()
    assert ids.n_unique() == ids.len()
    first_visit = frame.with_row_index().filter(pl.col("metric") == "visitors").row(0, named=True)
    before = frame.row(first_visit["index"] - 1, named=True)
    assert (before["metric"], before["id"] + ":v") == ("clicks", first_visit["id"])
