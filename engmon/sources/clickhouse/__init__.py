"""The `clickhouse` source kind: per-minute and breakdown queries over its HTTP interface."""

from engmon.sources.clickhouse.source import KEYS, KIND, SUMMARY, build

__all__ = ["KEYS", "KIND", "SUMMARY", "build"]
