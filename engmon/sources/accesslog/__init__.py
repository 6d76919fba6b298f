"""The `access-log` source kind: web server access logs read from a file or followed live."""

from engmon.sources.accesslog.parse import KIND
from engmon.sources.accesslog.tail import KEYS, SUMMARY, build

__all__ = ["KEYS", "KIND", "SUMMARY", "build"]
