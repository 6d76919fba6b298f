"""Tabular access logs (CSV/TSV exports, W3C extended logs) count like server logs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from engmon.core.campaign import Campaign
from engmon.errors import ConfigError
from engmon.sources import accesslog
from engmon.sources.accesslog.reader import read_access_log
from engmon.sources.accesslog.tabular import is_tabular_log
from engmon.sources.files import FileSpec, detect_format, load_observations
from engmon.sources.options import SourceOptions

# the shape of a published web-log data set: request lines in a "URL" column, CLF times
WEBLOG = """IP,Time,URL,Staus
10.128.2.1,[29/Nov/2017:06:58:55,GET /login.php HTTP/1.1,200
10.128.2.1,[29/Nov/2017:06:59:02,POST /launch HTTP/1.1,302
10.131.2.1,[29/Nov/2017:06:59:03,GET /launch HTTP/1.1,200
10.131.2.1,[29/Nov/2017:06:59:04,GET /launch HTTP/1.1,404
10.131.2.2,[29/Nov/2017:07:00:04,GET /launch.css HTTP/1.1,200
10.131.2.3,[29/Nov/2017:07:01:04,GET /launch?utm_source=x HTTP/1.1,200
"""
# CloudFront's standard log (W3C, tab-separated, %20 in agents)
CLOUDFRONT = (
    "#Version: 1.0\n"
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status"
    " cs(Referer) cs(User-Agent) cs-uri-query\n"
    "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td1.cloudfront.net\t/launch\t200"
    "\thttps://t.co/x\tMozilla/5.0%20(iPhone;%20CPU%20iPhone%20OS%2017_3_1)\tutm_source=x\n"
    "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.101\tGET\td1.cloudfront.net\t/index.html\t200"
    "\t-\tMozilla/5.0%20(Windows%20NT%2010.0)\t-\n"
    "2019-12-04\t21:03:31\tLAX1\t392\t192.0.2.102\tGET\td1.cloudfront.net\t/launch\t200"
    "\t-\tGooglebot/2.1%20(+http://www.google.com/bot.html)\t-\n"
    "2019-12-04\t21:04:31\tLAX1\t392\t192.0.2.103\tGET\td1.cloudfront.net\t/launch\t304"
    "\t-\tMozilla/5.0%20(Windows%20NT%2010.0)\t-\n"
)
# IIS (W3C, space-separated, + for spaces in agents)
IIS = (
    "#Software: Microsoft Internet Information Services 10.0\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip"
    " cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n"
    "2024-05-01 10:00:00 10.0.0.1 GET /launch - 443 - 203.0.113.9"
    " Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) https://www.linkedin.com/ 200 0 0 12\n"
    "2024-05-01 10:00:30 10.0.0.1 GET /launch - 443 - 203.0.113.9"
    " Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) - 200 0 0 9\n"
    "2024-05-01 10:01:00 10.0.0.1 HEAD /launch - 443 - 203.0.113.10 curl/8.0 - 200 0 0 1\n"
)


def clicks_of(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("metric") == "clicks").sort("ts")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [("weblog.csv", WEBLOG, 2), ("cf.log", CLOUDFRONT, 2), ("iis.log", IIS, 2)],
)
def test_rules_apply_to_tables(tmp_path: Path, name: str, text: str, expected: int) -> None:
    """GET only, 2xx/3xx, the link (with or without a query), no assets, no bots."""
    path = tmp_path / name
    path.write_text(text)
    result = read_access_log(path, link="/launch")
    assert clicks_of(result.frame).height == expected
    assert any("table of requests" in note for note in result.notes)


def test_w3c_date_and_time_columns_make_one_utc_time(tmp_path: Path) -> None:
    path = tmp_path / "cf.log"
    path.write_text(CLOUDFRONT)
    clicks = clicks_of(read_access_log(path, link="/launch").frame)
    assert [str(ts) for ts in clicks.get_column("ts")] == [
        "2019-12-04 21:02:31+00:00",
        "2019-12-04 21:04:31+00:00",
    ]
    assert clicks.get_column("device").to_list() == ["mobile", "desktop"]


def test_report_reads_a_request_table_as_an_access_log(tmp_path: Path) -> None:
    path = tmp_path / "weblog.csv"
    path.write_text(WEBLOG)
    assert detect_format(path) == ("access-log", None)
    loaded = load_observations(FileSpec(path, link="/launch"))
    assert clicks_of(loaded.frame).height == 2
    # an observation table stays one, and so does a table whose columns the user mapped
    obs = tmp_path / "obs.csv"
    obs.write_text("ts,metric,value,path\n2026-01-01T00:00:00Z,clicks,1,/launch\n")
    assert detect_format(obs) == ("observations", "csv")
    assert detect_format(path, mapped=True) == ("observations", "csv")


def test_what_is_not_a_request_table() -> None:
    assert not is_tabular_log(b"ts,metric,value\n")
    assert not is_tabular_log(b"time,followers\n")
    assert is_tabular_log(b"timestamp;path;status\n")


def test_a_table_is_not_followed_live(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(WEBLOG)
    table = {"kind": "access-log", "path": str(path)}
    with pytest.raises(ConfigError, match="table of requests"):
        accesslog.SOURCE.build(SourceOptions(table, "c.toml"), Campaign("c", "/launch"))


def test_a_single_click_reads_in_the_singular(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engmon.cli import main

    path = tmp_path / "one.csv"
    path.write_text("ip,time,url,status\n1.2.3.4,2025-03-12T14:00:00Z,/launch,200\n")
    result = CliRunner().invoke(main, ["report", str(path), "--link", "/launch"])
    assert result.exit_code == 0, result.output
    assert "Final: 1 click." in result.output and "1 clicks" not in result.output
