"""printable(): control characters from feeds become visible escapes (issue #6)."""

from __future__ import annotations

import polars as pl
import pytest

from engmon.core.printable import UNSAFE_CHARACTERS, printable, printable_expr

HOSTILE = [
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),  # CSI colours
    (
        "\x1b]8;;https://evil.example\x07link\x1b]8;;\x07",
        "\\x1b]8;;https://evil.example\\x07link\\x1b]8;;\\x07",
    ),  # OSC 8
    ("\x1b]0;title\x1b\\", "\\x1b]0;title\\x1b\\"),  # OSC title, ST
    ("a\x9b31mb", "a\\x9b31mb"),  # C1 CSI
    ("tab\there\nnew\rline", "tab\\there\\nnew\\rline"),
    ("\x00\x08\x7f", "\\x00\\x08\\x7f"),
    ("abc\u202edef", "abc\\u202edef"),  # bidi override
    ("[bold red]x[/]", "[bold red]x[/]"),  # markup is plain text here
    ("Zürich → 東京", "Zürich → 東京"),  # printable unicode untouched
]


@pytest.mark.parametrize(("raw", "shown"), HOSTILE)
def test_printable_escapes_controls(raw: str, shown: str) -> None:
    assert printable(raw) == shown


@pytest.mark.parametrize(("raw", "shown"), HOSTILE)
def test_printable_expr_matches_printable(raw: str, shown: str) -> None:
    got = pl.DataFrame({"s": [raw]}).select(printable_expr(pl.col("s"))).item()
    assert got == shown


def test_no_unsafe_character_survives() -> None:
    everything = "".join(chr(c) for c in range(0x00, 0xA0)) + "\u202e\u2066\u2028"
    safe = printable(everything)
    assert not any(char in safe for char in UNSAFE_CHARACTERS)


def test_none_and_cutting() -> None:
    assert printable(None) == ""
    assert printable("abcdef", 4) == "abc…"
    # cut after escaping: the escape text may be cut, a raw ESC never appears
    assert "\x1b" not in printable("\x1b" * 10, 5)
