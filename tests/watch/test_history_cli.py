"""`engmon history`: recordings and the band's past posts, listed, added to and cleared."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engmon.cli import main
from engmon.core.history import list_posts

CASCADE = Path(__file__).parent.parent / "data" / "cascades" / "tideh_RT2_seconds.txt"


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(tmp_path / "history"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "history"


def test_add_list_and_clear_the_bands_posts(homes: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(main, ["history"])
    assert empty.exit_code == 0
    assert "Past posts for the expected band" in empty.output
    assert "`engmon history add FILE` adds a past post" in empty.output
    saved = tmp_path / "past.csv"
    assert runner.invoke(main, ["demo", "small-account", "--save", str(saved)]).exit_code == 0
    added = runner.invoke(main, ["history", "add", str(saved)])
    assert added.exit_code == 0, added.output
    assert added.output.startswith("kept past (2026-03-10 14:00Z")
    posts = list_posts(homes)
    assert posts.height == 1 and posts["followers"].to_list() == [2000]
    listed = runner.invoke(main, ["history"])
    assert "2026-03-10 14:00Z" in listed.output and "2,000 followers" in listed.output
    assert f"clicks {posts['clicks'][0]:,.0f}" in listed.output
    refused = runner.invoke(main, ["history", "clear"], input="n\n")
    assert refused.exit_code == 1 and list_posts(homes).height == 1
    cleared = runner.invoke(main, ["history", "clear", "--yes"])
    assert cleared.output.strip() == "forgot 1 past post"
    assert list_posts(homes).is_empty()


def test_add_needs_a_post_time_and_an_audience(homes: Path) -> None:
    runner = CliRunner()
    no_time = runner.invoke(main, ["history", "add", str(CASCADE)])
    assert no_time.exit_code == 2 and "post time unknown" in no_time.stderr
    dated = runner.invoke(
        main, ["history", "add", str(CASCADE), "--post-time", "2026-01-01T10:00:00Z"]
    )
    assert dated.exit_code == 0, dated.output
    assert list_posts(homes)["reposts"].to_list() == [2273.0]
