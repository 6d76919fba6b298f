"""The `clickhouse` source kind: per-minute and breakdown queries over its HTTP interface."""

from engmon.sources.clickhouse.source import SOURCE

__all__ = ["SOURCE"]
