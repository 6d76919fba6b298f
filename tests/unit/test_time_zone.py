"""Time zones: `[campaign] tz` and `--tz` show local times; an unknown zone is one line, exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from engmon.cli import main
from engmon.config import load_campaign
from engmon.core.zone import display_zone_name, local, set_display_zone, zone_label
from engmon.errors import ConfigError


@pytest.fixture(autouse=True)
def utc_again() -> Iterator[None]:
    yield
    set_display_zone(None)  # the shown zone is process-wide: leave UTC for the next test


def campaign(tmp_path: Path, tz: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[campaign]\nname = "c"\nposted_at = "2026-11-25T14:00:00Z"\ntz = "{tz}"\n',
        encoding="utf-8",
    )
    return path


def test_campaign_tz_is_read_and_times_stay_utc(tmp_path: Path) -> None:
    config = load_campaign(campaign(tmp_path, "Europe/Paris"))
    assert config.campaign.tz == "Europe/Paris"
    assert config.campaign.post_time == datetime(2026, 11, 25, 14, tzinfo=UTC)


def test_unknown_campaign_tz_names_file_and_key(tmp_path: Path) -> None:
    path = campaign(tmp_path, "Europe/Atlantis")
    with pytest.raises(ConfigError, match=r"c\.toml: \[campaign\]: key 'tz': unknown time zone"):
        load_campaign(path)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "Europe/Atlantis" in result.stderr


def test_display_zone_converts_and_names_itself() -> None:
    moment = datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert local(moment).hour == 12 and zone_label(moment) == "UTC"
    set_display_zone("Europe/Paris")
    assert display_zone_name() == "Europe/Paris"
    assert local(moment).hour == 14 and zone_label(moment) == "CEST"  # summer time
    assert zone_label(datetime(2026, 1, 1, tzinfo=UTC)) == "CET"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tz") / "small.parquet"
    assert CliRunner().invoke(main, ["demo", "small-account", "--save", str(path)]).exit_code == 0
    return path


def test_report_text_shows_local_post_time(saved: Path) -> None:
    utc = CliRunner().invoke(main, ["report", str(saved), "--at", "1h"])
    paris = CliRunner().invoke(main, ["report", str(saved), "--at", "1h", "--tz", "Asia/Tokyo"])
    assert utc.exit_code == paris.exit_code == 0
    stamp = json.loads(CliRunner().invoke(main, ["report", str(saved), "--format", "json"]).stdout)
    post = datetime.fromisoformat(stamp["post_time"].replace("Z", "+00:00"))
    tokyo = post.astimezone(UTC).replace(tzinfo=None) + (
        datetime(2000, 1, 1, 9) - datetime(2000, 1, 1)
    )
    assert f"posted {tokyo:%Y-%m-%d %H:%M} Asia/Tokyo, {stamp['post_time']}" in paris.stdout
    assert "Asia/Tokyo" not in utc.stdout and f"posted {stamp['post_time']}" in utc.stdout


def test_report_json_keeps_utc_and_adds_the_zone(saved: Path) -> None:
    out = CliRunner().invoke(main, ["report", str(saved), "--format", "json", "--tz", "Asia/Tokyo"])
    report = json.loads(out.stdout)
    assert report["tz"] == "Asia/Tokyo" and report["post_time"].endswith("Z")
    local_time = datetime.fromisoformat(report["post_time_local"])
    assert local_time.utcoffset() == timedelta(hours=9)
    assert local_time == datetime.fromisoformat(report["post_time"].replace("Z", "+00:00"))


@pytest.mark.parametrize("command", ["report", "replay", "demo"])
def test_unknown_tz_option_is_one_line_exit_2(saved: Path, command: str) -> None:
    target = [] if command == "demo" else [str(saved)]
    result = CliRunner().invoke(main, [command, *target, "--tz", "Mars/Olympus"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--tz" in result.stderr and "Mars/Olympus" in result.stderr
