"""Files of past posts: observation tables (CSV, NDJSON, Parquet), cascades, recordings, logs.

`load_observations(FileSpec(...))` is the one way in; see `engmon.sources.files.spec` for the
ways a file is read.
"""

from engmon.sources.files.load import load_observations
from engmon.sources.files.spec import (
    FILE_FORMATS,
    TIME_UNITS,
    FileSpec,
    LoadedFile,
    detect_format,
    parse_post_time,
)

__all__ = [
    "FILE_FORMATS",
    "TIME_UNITS",
    "FileSpec",
    "LoadedFile",
    "detect_format",
    "load_observations",
    "parse_post_time",
]
