"""Tables engmon keeps between runs so one-off work is done once: the GeoIP networks (plain
arrays), and what ua-parser said about each user agent already read (the agent text, never an IP).

They live in `ENGMON_CACHE_DIR` or the user's cache folder; a missing, unreadable or
read-only cache only costs redoing the work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import numpy.typing as npt


def cache_dir() -> Path:
    """Where the cached tables live."""
    import platformdirs

    return Path(os.environ.get("ENGMON_CACHE_DIR") or platformdirs.user_cache_dir("engmon"))


def read_cached(name: str) -> pl.DataFrame | None:
    """The cached table `name`, None when absent or unreadable."""
    path = cache_dir() / name
    if not path.exists():
        return None
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError):
        return None


def write_cached(name: str, table: pl.DataFrame) -> None:
    """Store `table` as `name` (atomically: readers never see half a file)."""
    _store(name, table.write_parquet)


def _store(name: str, write: Callable[[Path], object]) -> None:
    """Have `write` fill a file of its own, then put it in place as `name` in one step."""
    folder = cache_dir()
    path = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        write(partial)
        partial.replace(path)
    except OSError:
        pass  # a read-only cache directory only costs the work next time


def read_cached_arrays(name: str, names: Iterable[str]) -> dict[str, npt.NDArray[Any]] | None:
    """The cached arrays `name` (a plain .npz), None when absent, unreadable or not holding
    every one of `names`."""
    import zipfile

    import numpy as np

    path = cache_dir() / name
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in names}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def write_cached_arrays(name: str, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    """Store `arrays` as `name` (uncompressed, so reading them back is a copy)."""
    import numpy as np

    def write(partial: Path) -> None:
        with partial.open("wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)

    _store(name, write)
