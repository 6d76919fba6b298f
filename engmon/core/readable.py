"""Refuse anything that is not a regular file before reading it.

Opening a FIFO for reading blocks until something writes to it, and a character device
(`/dev/zero`) never ends: `engmon check` or `watch --duration` would hang forever. Files in
`/proc` look regular but cannot be read as data (`/proc/self/mem` fails with EIO); callers
catch that `OSError` where they read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engmon.errors import EngmonError, InputError


def check_regular_file(
    path: Path, what: str = "a file", error: type[EngmonError] = InputError
) -> None:
    """Raise `error` naming `path` unless it is an existing, readable regular file.

    Only `stat` is used, so a FIFO or a device is never opened (opening may block).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{path}: no such {what.split(' ', 1)[-1]}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise error(f"{path}: is a directory, not {what}")
    if not stat.S_ISREG(mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise error(f"{path}: is {kind}; engmon reads only regular files")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: cannot read (permission denied)")
