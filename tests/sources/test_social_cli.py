"""`engmon check` and `engmon watch --plain` with the post sources, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from social_server import SocialServer

from engmon.cli import main
from engmon.core.recording import read_recording
from engmon.core.store import ObservationStore

TOKEN = "loopback-token-SECRET"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SocialServer]:
    monkeypatch.setenv("ENGMON_TEST_X_TOKEN", TOKEN)
    with SocialServer() as running:
        yield running


def campaign(tmp_path: Path, sources: str) -> Path:
    posted = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    path = tmp_path / "campaign.toml"
    path.write_text(
        f'[campaign]\nname = "Social"\nposted_at = "{posted}"\n\n{sources}', encoding="utf-8"
    )
    return path


def test_check_prints_one_line_per_platform(server: SocialServer, tmp_path: Path) -> None:
    server.step = 2
    result = CliRunner().invoke(main, ["check", str(campaign(tmp_path, server.sources_toml()))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len([line for line in lines if line.startswith("ok ")]) == 3
    mastodon = next(line for line in lines if line.startswith("ok   mastodon: "))
    assert "1 post: 1 reply, 2 reposts, 3 likes; 2 resharers, reach 4620" in mastodon
    assert mastodon.endswith("followers 10000")
    assert TOKEN not in result.output


def test_check_names_a_deleted_post_and_exits_2(server: SocialServer, tmp_path: Path) -> None:
    server.missing = True
    result = CliRunner().invoke(main, ["check", str(campaign(tmp_path, server.sources_toml()))])
    assert result.exit_code == 2
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 3
    assert all("post not found" in line for line in fails)
    assert "HTTP 404" in fails[0]
    assert TOKEN not in result.output


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            '[[sources]]\nkind = "mastodon"\nposts = ["https://mastodon.social/@someone"]\n',
            "sources[0] (mastodon): posts[0]: cannot read post URL"
            " 'https://mastodon.social/@someone' (not a known post URL shape); accepted:",
        ),
        (
            '[[sources]]\nkind = "bluesky"\nposts = ["https://x.com/a/status/1"]\n',
            "sources[0] (bluesky): posts[0] 'https://x.com/a/status/1' is a x post;"
            ' list it under a [[sources]] table with kind = "x"',
        ),
        (
            '[[sources]]\nkind = "x"\nposts = ["https://x.com/a/status/1"]\n',
            "sources[0] (x): key 'token_env' is required",
        ),
    ],
)
def test_bad_post_config_is_one_line_and_exit_2(tmp_path: Path, table: str, expected: str) -> None:
    result = CliRunner().invoke(main, ["check", str(campaign(tmp_path, table))])
    assert result.exit_code == 2
    assert result.output.startswith("engmon: ") and result.output.count("\n") == 1
    assert expected in result.output
    assert "Traceback" not in result.output


def test_check_names_an_unknown_instance(tmp_path: Path) -> None:
    table = '[[sources]]\nkind = "mastodon"\nposts = ["https://mastodon.invalid/@nobody/1"]\n'
    result = CliRunner().invoke(main, ["check", str(campaign(tmp_path, table))])
    assert result.exit_code == 2
    assert "FAIL mastodon: 1 post(s)" in result.output
    assert "instance mastodon.invalid: cannot connect" in result.output


def test_plain_watch_records_and_a_restart_continues(server: SocialServer, tmp_path: Path) -> None:
    path = campaign(tmp_path, server.sources_toml())
    record = tmp_path / "social.ndjson"
    runner = CliRunner()
    args = ["watch", str(path), "--plain", "--record", str(record), "--duration", "0.6"]
    server.step = 1  # likes 4, one reposter
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    server.step = 3  # likes 4 again (after an unlike), three reposters
    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    store = ObservationStore()
    store.merge(read_recording(record).frame)
    deltas = store.deltas()
    sums = dict(deltas.group_by("metric").agg(pl.col("value").sum()).iter_rows())
    # the restart re-read likes 4 and the first reposter: neither is counted again
    assert "likes" not in sums
    assert sums["reposts"] == 6.0  # 1 -> 3 on each of three platforms
    resharers = deltas.filter(pl.col("metric") == "resharers")
    assert sorted(resharers["actor"].to_list()).count("ann@127.0.0.1") == 1
    assert resharers.height == 6  # ann, bob, cid on Mastodon and on Bluesky
    assert TOKEN not in record.read_text()
