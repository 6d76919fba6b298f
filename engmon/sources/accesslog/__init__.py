"""The `access-log` source kind: web server access logs read from a file or followed live."""

from engmon.sources.accesslog.tail import SOURCE

__all__ = ["SOURCE"]
