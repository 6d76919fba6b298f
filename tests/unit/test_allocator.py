"""engmon sets polars' allocator up before polars loads, and leaves a user's own setting."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW = "import engmon, polars, os; print(os.environ['_RJEM_MALLOC_CONF'])"


def _conf(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    done = subprocess.run(
        [sys.executable, "-c", SHOW], env=clean | env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_freed_pages_go_back_as_soon_as_they_decay() -> None:
    # polars puts its defaults first and ours after them: jemalloc takes the last one
    assert _conf().split(",")[-1] == "muzzy_decay_ms:0"


def test_a_users_allocator_setting_is_kept() -> None:
    conf = _conf(_RJEM_MALLOC_CONF="narenas:2")
    assert conf.split(",")[-1] == "narenas:2" and "muzzy_decay_ms:0" not in conf
