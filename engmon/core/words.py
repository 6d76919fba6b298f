"""Counts in words: `1 source`, `2 sources`, `1 reply`, `3 replies`."""

from __future__ import annotations


def plural(count: float, noun: str, many: str | None = None) -> str:
    """`count` and `noun`, the noun in its plural form unless the count is exactly one
    (`many` overrides the regular `-s` / `-ies` plural)."""
    number = f"{count:,.0f}" if float(count).is_integer() else f"{count:g}"
    if count == 1:
        return f"{number} {noun}"
    if many is None:
        many = (
            noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
        )
    return f"{number} {many}"


def singular(noun: str) -> str:
    """The singular of a metric name: `replies` -> `reply`, `reposts` -> `repost`."""
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    return noun.removesuffix("s")
