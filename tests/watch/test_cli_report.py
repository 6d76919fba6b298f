"""`engmon report` and `engmon demo` through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engmon.cli import main

CASCADE = Path(__file__).parent.parent / "data" / "cascades" / "tideh_RT2_seconds.txt"
JSON_KEYS = {
    "campaign",
    "link",
    "post_time",
    "tz",
    "post_time_local",
    "at_s",
    "bucket",
    "bucket_s",
    "followers",
    "engagement",
    "per_1k_followers",
    "verdict",
    "trend",
    "position",
    "shape",
    "compared_with",
    "notes",
    "metrics",
    "buckets",
    "conversions",
    "conversion_rate_per_click",
    "conversions_per_1k_followers",
    "visitors_now",
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "small.parquet"
    code, out, _ = run("demo", "small-account", "--save", str(path))
    assert code == 0 and "observations" in out
    return path


def test_report_text(saved: Path) -> None:
    code, out, _ = run("report", str(saved), "--at", "1h")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("small: +1h00m after a post to 2k followers")
    assert "per 1k followers" in lines[1]
    assert any(line.startswith("clicks") for line in lines)


def test_report_json_keys_and_bucket(saved: Path) -> None:
    code, out, _ = run("report", str(saved), "--format", "json", "--bucket", "15m", "--at", "2h")
    assert code == 0
    report = json.loads(out)
    assert set(report) == JSON_KEYS
    assert report["bucket"] == "15m" and report["bucket_s"] == 900 and report["at_s"] == 7200
    assert report["followers"] == 2000
    clicks = report["metrics"]["clicks"]
    assert set(clicks) == {"count", "reach", "peak", "velocity_per_min", "first_s"}
    assert set(clicks["peak"]) == {"value", "at_s"}
    series = report["buckets"]["clicks"]
    # as it stood at 2h, up to and including 2h: the bucket begun at 2h holds what is
    # stamped exactly at the clock (the dashboard at +2h00m shows the same)
    assert [entry["at_s"] for entry in series] == list(range(0, 7201, 900))
    assert series[-1]["cumulative"] == clicks["count"]
    assert clicks["peak"]["value"] == max(entry["value"] for entry in series)
    engaged = sum(report["metrics"][m]["count"] for m in ("clicks", "replies", "reposts", "quotes"))
    assert report["engagement"] == engaged
    assert report["per_1k_followers"] == pytest.approx(engaged / 2)


def test_report_csv_rows_per_bucket_and_metric(saved: Path) -> None:
    code, out, _ = run("report", str(saved), "--format", "csv", "--bucket", "1h")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert set(rows[0]) == {"metric", "at_s", "value", "reach", "cumulative"}
    clicks = [row for row in rows if row["metric"] == "clicks"]
    running = 0.0
    for row in clicks:
        running += float(row["value"])
        assert float(row["cumulative"]) == running
    code, out, _ = run("report", str(saved), "--format", "json")
    assert running == json.loads(out)["metrics"]["clicks"]["count"]


def test_report_on_a_cascade_with_offsets() -> None:
    for at in ("600", "600s", "10m"):
        code, out, _ = run("report", str(CASCADE), "--format", "json", "--at", at)
        assert code == 0
        assert json.loads(out)["at_s"] == 600


@pytest.mark.parametrize("at", ["inf", "nan", "99999999999d", "1e300"])
def test_an_offset_out_of_range_is_one_line(at: str) -> None:
    code, _, err = run("report", str(CASCADE), "--at", at)
    assert code == 2 and err.count("\n") == 1 and f"--at {at!r}" in err


def test_offsets_without_a_post_time_say_so_instead_of_1970() -> None:
    code, out, _ = run("report", str(CASCADE))
    assert code == 0
    assert "(post time unknown; give --post-time)" in out.splitlines()[0]
    assert "1970" not in out.splitlines()[0]
    code, out, _ = run("report", str(CASCADE), "--post-time", "2026-11-20T14:00:00Z")
    assert "(posted 2026-11-20T14:00:00Z)" in out.splitlines()[0]


def test_relative_post_time_in_the_dashboard_header() -> None:
    from engmon.core.campaign import RELATIVE_ANCHOR, Campaign
    from engmon.tui.state import ClockState
    from engmon.tui.widgets.header import header_parts

    clock = ClockState(
        now=RELATIVE_ANCHOR + timedelta(minutes=12), live=False, speed=60.0, paused=False
    )
    _, right = header_parts(Campaign("c", None, RELATIVE_ANCHOR), RELATIVE_ANCHOR, clock)
    assert right.startswith("post time unknown · +12m")


def test_report_parquet_with_duplicate_ids_counts_once(saved: Path, tmp_path: Path) -> None:
    doubled = tmp_path / "doubled.parquet"
    frame = pl.read_parquet(saved)
    pl.concat([frame, frame]).write_parquet(doubled)
    once = json.loads(run("report", str(saved), "--format", "json")[1])
    twice = json.loads(run("report", str(doubled), "--format", "json")[1])
    assert twice["metrics"] == once["metrics"]


def test_demo_list_and_save_replays(tmp_path: Path) -> None:
    code, out, _ = run("demo", "--list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names[:2] == ["big-account", "small-account"]
    for suffix in (".csv", ".ndjson"):
        path = tmp_path / f"big{suffix}"
        assert run("demo", "big-account", "--save", str(path))[0] == 0
        code, out, _ = run("report", str(path), "--format", "json", "--at", "1h")
        report = json.loads(out)
        assert code == 0 and report["followers"] == 1_200_000 and report["trend"] == "flat"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["report", "{tmp}/missing.csv"], "no such file"),
        (["report", "{tmp}"], "directory"),
        (["report", "{tmp}/notes.xyz"], "unknown format"),
        (["report", "{tmp}/cols.csv"], "columns present"),
        (["report", "{tmp}/time.csv"], "line 2"),
        (["report", "{tmp}/empty.csv"], "empty"),
        (["report", "{tmp}/junk.csv"], "binary"),
        (["report", "{tmp}/negative.csv"], "negative"),
        (["report", "{tmp}/cut.csv"], "cut off"),
        (["report", "{cascade}", "--at", "soon"], "--at"),
        (["report", "{cascade}", "--bucket", "weekly"], "--bucket"),
        (["report", "{cascade}", "--forecast", "--format", "csv"], "--forecast"),
        (["report", "{cascade}", "--dimension", "city=x"], "unknown dimension"),
        (["report", "{cascade}", "--post-time", "noon"], "--post-time"),
        (["demo", "viral"], "scenarios: big-account"),
        (["demo", "big-account", "--save", "{tmp}/x.xlsx"], ".xlsx"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "notes.xyz").write_text("hello there\n")
    (tmp_path / "cols.csv").write_text("time,metric,count\n2026-03-10T14:00:00Z,clicks,1\n")
    (tmp_path / "time.csv").write_text("ts,metric,value\nnoon,clicks,1\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "junk.csv").write_bytes(bytes(range(256)))
    (tmp_path / "negative.csv").write_text("ts,metric,value\n2026-03-10T14:00:00Z,clicks,-1\n")
    (tmp_path / "cut.csv").write_text("ts,metric,value\n2026-03-10T14:00:00Z,clicks,1\n2026-03")
    shutil.copy(CASCADE, tmp_path / "c.txt")
    filled = [a.format(tmp=tmp_path, cascade=tmp_path / "c.txt") for a in args]
    code, out, err = run(*filled)
    assert code == 2, (out, err)
    assert err.startswith("engmon: ") and err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


def test_report_does_not_import_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from engmon.cli import main\n"
        f"r = CliRunner().invoke(main, ['report', {str(CASCADE)!r}, '--format', 'json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"


def test_link_reaches_the_report_for_every_format(saved: Path, tmp_path: Path) -> None:
    as_csv = tmp_path / "small.csv"
    assert run("demo", "small-account", "--save", str(as_csv))[0] == 0
    for path in (saved, as_csv):  # the Parquet fast path and the full loader
        out = run("report", str(path), "--format", "json", "--link", "https://e.com/x")[1]
        assert json.loads(out)["link"] == "https://e.com/x"


def access_log(tmp_path: Path) -> Path:
    agent = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0 Safari/537.36"
    )
    lines = []
    for i, (ip, target) in enumerate(
        [
            ("81.2.69.1", "/launch?utm_source=mastodon&utm_campaign=spring"),
            ("81.2.69.2", "/launch?utm_source=mastodon&utm_campaign=autumn"),
            ("81.2.69.3", "/launch?utm_source=newsletter&utm_campaign=spring"),
            ("81.2.69.4", "/launch"),
            ("81.2.69.1", "/thanks"),
        ]
    ):
        lines.append(
            f'{ip} - - [12/Mar/2025:08:0{i}:00 +0000] "GET {target} HTTP/1.1" 200 9 "-" "{agent}"'
        )
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_conversions_visitors_now_and_utm_table(tmp_path: Path) -> None:
    path = access_log(tmp_path)
    args = ["report", str(path), "--link", "/launch", "--goal", "/thanks", "--followers", "500"]
    code, out, err = run(*args, "--format", "json", "--breakdown", "utm")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {*JSON_KEYS, "breakdowns"}
    assert report["conversions"] == 1
    assert report["conversion_rate_per_click"] == pytest.approx(0.25)
    assert report["conversions_per_1k_followers"] == pytest.approx(2.0)
    assert report["visitors_now"] == 4  # the four visitors of 08:00-08:03 at the end (08:04)
    assert "active" not in report["metrics"]
    utm = [(row["value"], row["parent"], row["count"]) for row in report["breakdowns"]["utm"]]
    assert utm == [
        ("mastodon", None, 2),
        ("autumn", "mastodon", 1),
        ("spring", "mastodon", 1),
        ("newsletter", None, 1),
        ("spring", "newsletter", 1),
        (None, None, 1),  # equal counts: by name, untagged last
    ]
    code, out, _ = run(*args, "--format", "csv", "--breakdown", "browser")
    assert code == 0
    assert out.splitlines() == [
        "table,value,parent,count,share,per_1k",
        "browser,Chrome,,4.0,1.0,8.0",
    ]
    code, out, _ = run(*args, "--breakdown", "os")
    assert "conversions: 1 (25.00% of clicks, 2 per 1k followers)" in out
    assert "visitors now: 4" in out and "Windows" in out
    code, _, err = run(*args, "--breakdown", "nope")
    assert code == 2 and "--breakdown 'nope'" in err


def test_breakdown_labels_with_escapes_keep_the_columns_aligned(tmp_path: Path) -> None:
    rows = tmp_path / "esc.csv"
    rows.write_text(
        "ts,metric,value,device\n"
        "2026-03-10T14:00:10Z,clicks,1,\x1b]52;c;aGk=\x07dev\n"
        "2026-03-10T14:01:10Z,clicks,1,mobile\n"
    )
    code, out, _ = run("report", str(rows), "--breakdown", "device")
    assert code == 0 and "\x1b" not in out
    table = out[out.index("\ndevice ") + 1 :].splitlines()[:3]
    assert "\\x1b]52" in table[1]
    assert len({line.index("%") for line in table[1:]}) == 1  # escaped, then padded
