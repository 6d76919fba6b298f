"""What a newcomer reads: counts, plurals, offsets and `check` lines say things once and right."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engmon.cli import main
from engmon.core.words import plural, singular
from engmon.sources.base import Source
from engmon.tui.drilldown import bucket_offset, cursor_numbers
from engmon.watch.check import check_label

CASCADE = Path(__file__).parent.parent / "data" / "cascades" / "tideh_RT2_seconds.txt"


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (1, "reshare", "1 reshare"),
        (2, "reshare", "2 reshares"),
        (0, "source", "0 sources"),
        (1, "reply", "1 reply"),
        (3, "reply", "3 replies"),
        (1, "day", "1 day"),
        (2, "day", "2 days"),
        (55144, "click", "55,144 clicks"),
        (2.5, "visitor", "2.5 visitors"),
    ],
)
def test_plural(count: float, noun: str, expected: str) -> None:
    assert plural(count, noun) == expected


def test_singular_of_metric_names() -> None:
    assert [singular(m) for m in ("replies", "reposts", "quotes", "clicks")] == [
        "reply",
        "repost",
        "quote",
        "click",
    ]


def test_bucket_edges_read_as_time_since_post() -> None:
    assert [bucket_offset(m) for m in (0, 45, 450, 465)] == ["+0m", "+45m", "+7h30m", "+7h45m"]
    minutes = pl.DataFrame(
        {"minute": [450, 451], "metric": ["clicks", "clicks"], "value": [2.0, 1]}
    )
    assert cursor_numbers(minutes, 450, 15) == "cursor +7h30m–+7h45m: clicks 3"


class _Named(Source):
    kind = "plausible"

    def __init__(self, name: str, described: str) -> None:
        super().__init__(name)
        self._described = described

    def describe(self) -> str:
        return self._described

    async def poll(self, client: object, now: object) -> object:  # type: ignore[override]
        raise NotImplementedError


def test_check_names_a_source_once() -> None:
    plain = _Named("plausible", "plausible plausible: site example.com at http://127.0.0.1:8000")
    assert check_label(plain) == "plausible: site example.com at http://127.0.0.1:8000"
    named = _Named("blog", "plausible blog: site example.com")
    assert check_label(named) == "blog (plausible): site example.com"


def test_check_keeps_the_port_and_names_a_failing_source_once(tmp_path: Path) -> None:
    campaign = tmp_path / "c.toml"
    campaign.write_text(
        '[campaign]\nname = "t"\nlink = "https://example.com/x"\nposted_at = "now"\n'
        '[[sources]]\nkind = "http-json"\nname = "shop"\nurl = "http://127.0.0.1:9/api/clicks"\n'
        'items = ""\nshape = "events"\ntime = "t"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check", str(campaign)])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0].endswith("campaign 't', 1 source")
    assert lines[1].startswith("FAIL shop (http-json): GET 127.0.0.1:9/api/clicks (events): ")
    assert lines[1].count("shop") == 1


def test_demo_save_counts_what_it_wrote(tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    result = CliRunner().invoke(main, ["demo", "small-account", "--save", str(target)])
    assert result.exit_code == 0, result.output
    rows = pl.read_csv(target).height
    assert result.stdout.strip() == f"wrote {rows} observations to {target}"


def test_report_json_post_time_is_null_when_unknown() -> None:
    result = CliRunner().invoke(main, ["report", str(CASCADE), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["post_time"] is None
    dated = CliRunner().invoke(
        main,
        ["report", str(CASCADE), "--format", "json", "--post-time", "2026-11-20T14:00:00Z"],
    )
    assert json.loads(dated.stdout)["post_time"] == "2026-11-20T14:00:00Z"


def test_a_link_that_matches_nothing_says_so() -> None:
    log = Path(__file__).parent.parent / "data" / "elastic_apache_combined.log"
    result = CliRunner().invoke(main, ["report", str(log), "--link", "/nothing/here"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "none of its 9,999 requests is for --link '/nothing/here'" in result.stderr
    assert "no observations" not in result.stderr


def test_report_text_separates_thousands_everywhere() -> None:
    cascade = Path(__file__).parent.parent / "data" / "cascades" / "tideh_RT1_seconds.txt"
    result = CliRunner().invoke(main, ["report", str(cascade)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "4,963 reposts, 55,144 engaged per 1k followers"
    assert "55,144 engaged per 1k followers" in lines[2]
    assert "55144" not in result.stdout and " 4963 " not in result.stdout


def test_one_compact_form_for_the_same_number_on_every_surface(tmp_path: Path) -> None:
    """2,290 followers read "2.3k" in the report's text and HTML header, its verdict and the
    dashboard's verdict (the report said "2.29k" once)."""
    from datetime import UTC, datetime, timedelta

    from engmon.core.campaign import Campaign
    from engmon.core.store import ObservationStore
    from engmon.tui.viewmodel import compute_view

    post = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    stamps = [post + timedelta(seconds=s) for s in range(0, 1200, 2)]
    frame = pl.DataFrame({"ts": stamps, "metric": "clicks", "value": 1.0})
    path = tmp_path / "clicks.csv"
    frame.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
    args = ["report", str(path), "--followers", "2290", "--at", "20m"]
    text = CliRunner().invoke(main, args)
    html = CliRunner().invoke(main, [*args, "--format", "html"])
    assert text.exit_code == 0 and html.exit_code == 0, text.output + html.output
    store = ObservationStore(post)
    store.merge(frame.with_columns(source=pl.lit("file"), kind=pl.lit("event")))
    view = compute_view(store, Campaign("clicks", post_time=post, followers=2290), stamps[-1])
    for shown in (text.stdout, html.stdout, view.verdict.text):
        assert "2.3k followers" in shown
        assert "2.29k" not in shown and "2,290 followers" not in shown


@pytest.mark.parametrize(
    ("minute", "expected"),
    [
        (45, "at minute 45"),
        (450, "at 7 h 30 min"),
        (719, "at 11 h 59 min"),
        (3120, "at 2 days 4 h"),
    ],
)
def test_a_late_minute_reads_as_hours(minute: int, expected: str) -> None:
    from engmon.core.words import at_minute

    assert at_minute(minute) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (45, "45s"),
        (72, "1m12s"),
        (14 * 60, "14m"),
        (476 * 60, "7h56m"),
        (187_200, "2d04h"),
    ],
)
def test_lengths_read_as_offsets_do(seconds: float, expected: str) -> None:
    from engmon.core.words import span_text

    assert span_text(seconds) == expected


def test_history_lists_a_past_post_in_hours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(tmp_path / "band"))
    saved = tmp_path / "small.parquet"
    assert CliRunner().invoke(main, ["demo", "small-account", "--save", str(saved)]).exit_code == 0
    added = CliRunner().invoke(main, ["history", "add", str(saved)])
    assert added.exit_code == 0, added.output
    assert "7h56m)" in added.stdout and " min)" not in added.stdout
    listed = CliRunner().invoke(main, ["history", "--dir", str(tmp_path / "recordings")])
    assert "7h56m  2,000 followers" in listed.stdout
