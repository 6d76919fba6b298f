"""Feed strings made safe to show: control characters become visible escapes.

Referrers, handles, paths and post text come from strangers. An ESC in a referrer could start
a CSI sequence (colours, cursor moves), an OSC 8 hyperlink or a title change; C1 controls act
as ESC on some terminals; bidi overrides reorder what the user reads. `printable` turns each of
them into a literal escape such as `\\x1b`, so the text shows exactly what arrived and nothing
acts on the terminal. (Rich markup such as `[bold]` is harmless text here; the TUI must still
render feed strings as `rich.text.Text`, never as markup.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # `engmon --help` imports this module: polars loads with the commands
    import polars as pl

_NAMED: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_BIDI_AND_SEPARATORS: Final = (
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
UNSAFE_CHARACTERS: Final = (
    "".join(chr(code) for code in range(0x00, 0x20))
    + "\x7f"
    + "".join(chr(code) for code in range(0x80, 0xA0))
    + _BIDI_AND_SEPARATORS
)
"""C0 and C1 controls, DEL, bidi embedding/override/isolate marks and line separators."""


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_ESCAPES: Final = [_escape(char) for char in UNSAFE_CHARACTERS]
_TABLE: Final = str.maketrans(dict(zip(UNSAFE_CHARACTERS, _ESCAPES, strict=True)))


def printable(text: object, max_chars: int | None = None) -> str:
    """`text` as a string with every control character shown as an escape (`\\x1b`, `\\n`).

    None becomes ``; `max_chars` cuts long values with an ellipsis (after escaping, so an
    escape is never cut into a raw control character).
    """
    if text is None:
        return ""
    safe = str(text).translate(_TABLE)
    if max_chars is not None and len(safe) > max_chars:
        return safe[: max(0, max_chars - 1)] + "…"
    return safe


def printable_expr(expr: pl.Expr) -> pl.Expr:
    """The same neutralisation as a polars expression over a String column."""
    return expr.str.replace_many(list(UNSAFE_CHARACTERS), _ESCAPES)


FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet run a cell as a formula (OWASP CSV injection)."""
_PLAIN_NUMBER: Final = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def spreadsheet_safe(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading `= + - @`, tab or CR gets a `'`
    before it (as OWASP recommends; plain numbers such as `-5` stay numbers), then control
    characters become escapes."""
    import re

    if text.startswith(FORMULA_PREFIXES) and not re.match(_PLAIN_NUMBER, text):
        text = "'" + text
    return printable(text)


def spreadsheet_safe_column(name: str) -> pl.Expr:
    """`spreadsheet_safe` over the text column `name` (String or Categorical; nulls stay
    null), keeping its name, as String."""
    import polars as pl

    expr = pl.col(name).cast(pl.String)
    formula = expr.str.contains(r"^[=+\-@\t\r]") & ~expr.str.contains(_PLAIN_NUMBER)
    guarded = pl.when(formula).then(pl.lit("'") + expr).otherwise(expr)
    return printable_expr(guarded).alias(name)
