"""The campaign TOML loader: typed models, and one clear line (exit 2) for every mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from engmon.cli import main
from engmon.config import load_campaign
from engmon.core.alerts import AlertRules
from engmon.errors import ConfigError

GOOD = """
[campaign]
name = "Launch"
link = "https://example.com/launch"
posted_at = "2026-11-25T14:00:00Z"
followers = 12000
record = "rec/launch.ndjson"

[[sources]]
kind = "umami"
website_id = "w-1"
api_key_env = "ENGMON_CFG_KEY"

[[sources]]
kind = "bitly"
name = "short link"
bitlink = "bit.ly/abc"
token_env = "ENGMON_CFG_KEY"
interval = 90

[alerts]
spike_per_min = 25
flat_minutes = 10
command = ["notify-send", "engmon"]
cooldown_s = 120

[export]
dir = "out"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGMON_CFG_KEY", "k-123")


def test_a_full_campaign_loads_into_typed_models(tmp_path: Path) -> None:
    config = load_campaign(write(tmp_path, GOOD))
    assert config.campaign.name == "Launch"
    assert config.campaign.post_time == datetime(2026, 11, 25, 14, tzinfo=UTC)
    assert config.campaign.followers == 12000
    assert config.record == tmp_path / "rec/launch.ndjson"
    assert [s.name for s in config.sources] == ["umami", "short link"]
    assert config.sources[1].interval == 90
    assert config.alerts == AlertRules(25.0, 10.0, ("notify-send", "engmon"), 120.0)
    assert config.export.dir == tmp_path / "out"
    assert not config.posted_now


def test_posted_at_now_and_toml_datetimes(tmp_path: Path) -> None:
    now = load_campaign(write(tmp_path, '[campaign]\nname = "n"\nposted_at = "now"\n'))
    assert now.posted_now and now.campaign.post_time is not None
    native = load_campaign(write(tmp_path, "[campaign]\nposted_at = 2026-11-25T15:00:00+01:00\n"))
    assert native.campaign.post_time == datetime(2026, 11, 25, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("followers = 12000", "folowers = 12000"),
            "[campaign]: unknown key 'folowers'",
        ),
        (GOOD.replace("[export]", "[exports]"), "unknown table or key 'exports'"),
        (GOOD.replace("interval = 90", "interval = 90\ncolour = 1"), "unknown key 'colour'"),
        (GOOD.replace("interval = 90", 'interval = "fast"'), "key 'interval' must be a number"),
        (GOOD.replace("followers = 12000", 'followers = "many"'), "key 'followers' must be"),
        (GOOD.replace('command = ["notify-send", "engmon"]', 'command = "x"'), "key 'command'"),
        (GOOD.replace('posted_at = "2026-11-25T14:00:00Z"', 'posted_at = "tuesday"'), "posted_at"),
        (GOOD.replace('kind = "bitly"', 'kind = "myspace"'), "unknown source kind 'myspace'"),
        (GOOD.replace('name = "short link"', 'name = "umami"'), "duplicate source name 'umami'"),
        (GOOD.replace("spike_per_min = 25", "spike_per_min = -1"), "must not be negative"),
        (GOOD.replace("spike_per_min = 25", "spike_per_min = nan"), "'spike_per_min' must not"),
        (GOOD.replace("spike_per_min = 25", "spike_per_min = 0"), "'spike_per_min' must not"),
        (GOOD.replace('command = ["notify-send", "engmon"]', 'command = [""]'), "a program"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_campaign(path)
    message = str(caught.value)
    assert str(path) in message and expected in message
    assert "\n" not in message


def test_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[campaign]\nname = "x"\nposted_at = \n')
    with pytest.raises(ConfigError, match=r"campaign.toml: line 3, column 13: "):
        load_campaign(path)


def test_a_missing_environment_variable_names_it_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGMON_CFG_KEY")
    with pytest.raises(ConfigError, match=r"ENGMON_CFG_KEY .*export ENGMON_CFG_KEY=\.\.\."):
        load_campaign(write(tmp_path, GOOD))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("followers = 12000", "followrs = 1"), "unknown key 'followrs'"),
        (("interval = 90", "interval = true"), "key 'interval' must be a number"),
        (("ENGMON_CFG_KEY", "ENGMON_NOT_SET_ANYWHERE"), "ENGMON_NOT_SET_ANYWHERE"),
        (("[campaign]", "[campaign"), "line 2, column"),
    ],
)
def test_check_and_watch_exit_2_with_one_line(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, GOOD.replace(*edit))
    for command in (["check", str(path)], ["watch", "--plain", str(path)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("engmon: ") and expected in lines[0]
        assert "Traceback" not in result.output


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "no such campaign file" in result.output


def test_sources_lists_every_kind_with_its_keys() -> None:
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0
    for kind, key in (
        ("plausible", "site_id"),
        ("umami", "website_id"),
        ("bitly", "bitlink"),
        ("http-json", "items"),
    ):
        assert f"\n{kind}: " in result.output and key in result.output


def test_the_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    example = Path(__file__).parents[2] / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    for name in re.findall(r'^\s*\w+_env\s*=\s*"(\w+)"', text, flags=re.M):
        monkeypatch.setenv(name, "x")
    config = load_campaign(example)
    assert {"plausible", "umami", "bitly", "http-json"} <= {s.kind for s in config.sources}


def test_watch_without_sources_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[campaign]\nposted_at = "now"\n')
    result = CliRunner().invoke(main, ["watch", "--plain", str(path)])
    assert result.exit_code == 2 and "no [[sources]] to watch" in result.output


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('kind = "plausible"\nsite_id = "e.com"\nkey_env = "HOME"', "page"),
        ('kind = "umami"\nwebsite_id = "w"\napi_key_env = "HOME"', "path"),
        ('kind = "clickhouse"\nurl = "http://127.0.0.1:1"\npreset = "plausible"', "link"),
    ],
)
def test_a_page_source_without_a_campaign_link_names_its_key(
    tmp_path: Path, table: str, key: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[campaign]\nname = "x"\nposted_at = "now"\n\n[[sources]]\n{table}\n')
    with pytest.raises(ConfigError, match=rf"key '{key}' is required when \[campaign\] has no"):
        load_campaign(path)
    linked = path.read_text().replace('name = "x"', 'name = "x"\nlink = "https://e.com/a?b=1"')
    path.write_text(linked)
    assert load_campaign(path).sources  # the link's path stands in
