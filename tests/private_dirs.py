"""A pytest plugin for every test (`-p private_dirs`): nothing is written into the user's own
data folders."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_history(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Past posts (the expected band) live in a temporary folder: a watch or replay that keeps
    its post in the history on exit never touches `~/.local/share/engmon`."""
    folder = tmp_path_factory.mktemp("history")
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The GeoIP and user-agent caches live in one temporary folder for the whole run: shared
    between tests (built once), never `~/.cache/engmon`. Tests of the cache set their own."""
    folder = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("ENGMON_CACHE_DIR", str(folder))
    return folder
