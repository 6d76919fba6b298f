"""The curve's bottom row reads as an axis: a bucket shorter than one row is a low bar there
(still visible), a zero bucket leaves it empty, and tall bars stand on it whole."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from engmon.tui.viewmodel import Curve
from engmon.tui.widgets.curve import BASELINE_BAR, FULL_BLOCK, CurvePlot, thin_baseline

# one bucket per minute: a tall peak, small counts around it, two zeros
VALUES = [0.0, 1.0, 2.0, 1.0, 120.0, 80.0, 3.0, 1.0, 0.0, 1.0]


class CurveApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CurvePlot()


def plot_rows(text: str) -> tuple[str, str]:
    """The bottom plot row and the row above it (above the frame's `└`)."""
    lines = text.splitlines()
    frame = next(i for i, line in enumerate(lines) if "└" in line)
    return lines[frame - 1], lines[frame - 2]


def test_thin_baseline_swaps_only_one_row_bars_and_keeps_the_colours() -> None:
    above = "│  █      │"
    base = "┤█ █  █   │"
    top = "┌─────────┐"
    text = Text("\n".join([top, above, base, "└─────────┘"]))
    first = len(top) + 1 + len(above) + 1 + 1
    text.stylize("red", first, first + 1)  # the first bar cell of the bottom row
    thinned = thin_baseline(text, min_rows=2)
    assert thinned.plain.splitlines()[2] == f"┤{BASELINE_BAR} {FULL_BLOCK}  {BASELINE_BAR}   │"
    assert thinned.spans == text.spans
    # a short plot keeps its one-row bars: there a row is a large share of the scale
    assert thin_baseline(text).plain == text.plain
    assert thin_baseline(Text("no plot here")).plain == "no plot here"


async def test_small_buckets_show_as_low_bars_on_an_axis_like_bottom_row() -> None:
    curve = Curve(
        metric="clicks",
        width=1,
        auto_width=False,
        unit="min",
        x=[m + 0.5 for m in range(len(VALUES))],
        values=VALUES,
        cumulative=None,
        end_minute=len(VALUES),
    )
    app = CurveApp()
    async with app.run_test(size=(60, 16)) as pilot:
        plot = app.query_one(CurvePlot)
        plot.show(curve)
        plot.flush()
        await pilot.pause()
        rendered = plot.render()
        assert isinstance(rendered, Text)
        base, above = plot_rows(rendered.plain)
    # small counts are visible, as low bars; the two tall buckets stand on the row whole
    assert BASELINE_BAR in base
    tall = [i for i, char in enumerate(above) if char == FULL_BLOCK]
    assert tall and all(base[i] == FULL_BLOCK for i in tall)
    assert [i for i, char in enumerate(base) if char == FULL_BLOCK] == tall
    # zero buckets leave gaps: the row is not one solid line
    inside = base[base.index("┤") + 1 : base.rindex("│")] if "┤" in base else base
    assert " " in inside
