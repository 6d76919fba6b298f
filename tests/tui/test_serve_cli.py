"""`engmon serve` without a browser: the command each tab runs, and mistakes caught up front."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engmon.cli import main
from engmon.tui.serve import dashboard_command, page_url


def test_campaign_file_is_watched_and_other_files_replayed(tmp_path: Path) -> None:
    odd = tmp_path / "my post; rm -rf ~.csv"
    assert shlex.split(dashboard_command(odd, ["--speed", "120"])) == [
        sys.executable,
        "-m",
        "engmon",
        "replay",
        str(odd),
        "--speed",
        "120",
    ]
    assert shlex.split(dashboard_command(tmp_path / "launch.TOML"))[3] == "watch"


def test_page_url_names_the_address_to_open() -> None:
    assert page_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert page_url("::1", 9000) == "http://[::1]:9000/"
    assert not page_url("0.0.0.0", 8000).startswith("http://0.0.0.0")


def test_mistakes_are_one_line_before_anything_is_served(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["serve", str(tmp_path / "nope.parquet")])
    assert missing.exit_code == 2
    assert "no such file" in missing.output
    data = tmp_path / "post.csv"
    data.write_text("t\n1\n")
    bad = runner.invoke(main, ["serve", str(data), "--speed", "fast"])
    assert bad.exit_code == 2
    assert "--speed" in bad.output
    assert "Traceback" not in bad.output
    campaign = tmp_path / "c.toml"
    campaign.write_text('[campaign]\nname = "x"\nposted_at = "now"\n')
    empty = runner.invoke(main, ["serve", str(campaign)])
    assert empty.exit_code == 2
    assert "no [[sources]]" in empty.output


def test_tz_is_checked_once_and_given_to_every_tab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engmon.core.zone import set_display_zone

    served: list[tuple[str, ...]] = []
    monkeypatch.setattr(
        "engmon.tui.serve.serve_dashboard", lambda target, extra, **_: served.append(tuple(extra))
    )
    data = tmp_path / "post.csv"
    data.write_text("t\n1\n")
    runner = CliRunner()
    bad = runner.invoke(main, ["serve", str(data), "--tz", "Nowhere/Land"])
    assert bad.exit_code == 2 and "--tz" in bad.output and not served
    good = runner.invoke(main, ["serve", str(data), "--speed", "120", "--tz", "Europe/Paris"])
    set_display_zone(None)
    assert good.exit_code == 0, good.output
    assert served == [("--speed", "120", "--tz", "Europe/Paris")]
