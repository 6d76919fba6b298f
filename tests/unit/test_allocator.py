"""engmon sets polars' allocator (and numpy's BLAS threads) up before they load, and leaves a
user's own setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


THREADS = (
    "import {modules}; print(next(line.split()[1] for line in open('/proc/self/status')"
    " if line.startswith('Threads:')))"
)


def _threads(modules: str, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    code = THREADS.format(modules=modules)
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(
    (os.cpu_count() or 1) < 2 or not os.path.exists("/proc/self/status"),
    reason="needs two cores and Linux's /proc",
)
def test_numpy_starts_no_blas_threads_to_spin_beside_the_scan() -> None:
    assert _threads("numpy") > 1  # what numpy does on its own: a BLAS thread per core
    assert _threads("engmon, numpy") == _threads("engmon") == 1
    # a user's own setting is kept
    assert _threads("engmon, numpy", OPENBLAS_NUM_THREADS="2") == 2
