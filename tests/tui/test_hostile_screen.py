"""Feed text never acts on the terminal: every widget drawn with hostile values.

Metric names, dimension values, source names, errors, the campaign name and link, the find
box and notifications all carry markup (`[@click=app.quit]`, a broken `[/]oops[link=`), OSC 8
/ 52 / 0 sequences, CSI, C1 controls, bidi overrides, 10k-character and wide-character text.
What the screen would write is checked segment by segment: no control character, no link or
click action, and the markup shown as the characters it is.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from posts import POST_TIME, frozen_clock
from rich.segment import Segment
from screen import redraw, screen_text

from engmon.core.campaign import Campaign
from engmon.core.printable import UNSAFE_CHARACTERS
from engmon.core.schema import conform
from engmon.core.store import ObservationStore
from engmon.sources.playback import ReplaySource
from engmon.tui.app import EngmonApp, run_dashboard
from engmon.tui.messages import SourceStatusChanged
from engmon.tui.widgets.breakdown import BreakdownPanel
from engmon.watch.poller import SourceStatus
from engmon.watch.session import Session

MARKUP = "[@click=app.quit]quit[/]"
BROKEN = "[/]oops[link="
OSC8 = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
OSC52 = "\x1b]52;c;aGFjaw==\x07"
OSC0 = "\x1b]0;pwned\x07"
CSI = "\x1b[2J\x1b[31m"
C1 = "\x9b31m\x9d0;t\x9c"
BIDI = "\u202eevil\u202c"
LONG = "x" * 10_000
WIDE = "宽" * 50 + "😀"
HOSTILE = (MARKUP, BROKEN, OSC8, OSC52, OSC0, CSI, C1, BIDI, LONG, WIDE)
ALL_IN_ONE = MARKUP + BROKEN + OSC8 + OSC52 + OSC0 + CSI + C1 + BIDI
SIZE = (160, 50)


def hostile_app() -> EngmonApp:
    """A replay whose every string comes from a hostile feed."""
    rows = []
    for index in range(60):
        text = HOSTILE[index % len(HOSTILE)]
        rows.append(
            {
                "ts": POST_TIME + timedelta(seconds=20 * index),
                "source": ALL_IN_ONE,
                "metric": MARKUP if index % 2 else BROKEN + OSC52,
                "value": 1.0,
                "id": f"e{index}",
                "referrer": text,
                "country": OSC0 + "DE",
                "device": CSI + WIDE,
                "post": LONG,
                "path": OSC8,
                "actor": C1 + BIDI,
            }
        )
    frame = conform(pl.DataFrame(rows)).collect()
    campaign = Campaign(ALL_IN_ONE, OSC52 + "https://example.com/" + MARKUP, POST_TIME, 2100)
    store = ObservationStore(post_time=POST_TIME)
    source = ReplaySource(frame, name=OSC0 + MARKUP)
    clock = frozen_clock(25)
    store.merge(source.take_until(clock.now()))
    return EngmonApp(Session(campaign, [source], clock, store=store, monotonic=lambda: 0.0))


def unsafe_segments(app: EngmonApp) -> list[str]:
    """Every drawn segment that would act on the terminal: a control character in its text,
    a control segment, a hyperlink or a click action in its style."""
    problems: list[str] = []
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            assert isinstance(segment, Segment)
            raw = {char for char in segment.text if char in UNSAFE_CHARACTERS}
            if raw:
                problems.append(f"raw {sorted(raw)!r} in {segment.text[:40]!r}")
            if segment.control:
                problems.append(f"control segment {segment.control!r}")
            style = segment.style
            if style is not None and (style.link or "@click" in (style.meta or {})):
                problems.append(f"link or action {style.link or style.meta!r}")
    return problems


async def test_every_widget_draws_hostile_text_as_text() -> None:
    app = hostile_app()
    async with app.run_test(size=SIZE) as pilot:
        await redraw(pilot)
        # a failing source whose error line is hostile: sources line and a notification
        status = SourceStatus(
            name=OSC0 + MARKUP,
            kind="replay",
            state="retrying",
            last_error="HTTP 500 " + ALL_IN_ONE,
            retry_at=30.0,
        )
        app.post_message(SourceStatusChanged(status))
        app.notify(BROKEN + OSC52, title=MARKUP)
        await redraw(pilot)
        # typing markup into a table's find box (it becomes the panel's border title)
        panel = app.screen.query(BreakdownPanel).first()
        panel.table.focus()
        await pilot.pause()
        await pilot.press("slash", "left_square_bracket", "slash", "right_square_bracket")
        await redraw(pilot)
        assert app.is_running, "hostile text stopped the dashboard"
        assert unsafe_segments(app) == []
        shown = screen_text(app)
        assert "[@click=app.quit]" in shown  # markup is shown as the characters it is
        assert "[/]oops[link=" in shown
        assert "\\x1b]52;c;aGFjaw==\\x07" in shown  # escapes are visible, not acted on
        svg = app.export_screenshot()
        assert not {char for char in svg if char in set(UNSAFE_CHARACTERS) - {"\n"}}


def test_a_dashboard_that_crashed_exits_non_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # Textual prints the traceback of a crash and returns from run(); the shell must see it
    def crash(self: EngmonApp) -> None:
        self._return_code = 1

    monkeypatch.setattr(EngmonApp, "run", crash)
    app = hostile_app()
    with pytest.raises(SystemExit) as ended:
        run_dashboard(app.session)
    assert ended.value.code == 1
