"""Pick what to compare the curve with: another post of the campaign, or a past file.

A modal list: the campaign's other posts (by their first observation), then a path field for
a past recording or observation file. `enter` picks, `escape` cancels; the app turns the
choice into a `Comparison` aligned at post time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from engmon.core.printable import printable


@dataclass(frozen=True)
class CompareChoice:
    """What the user picked: a post of the campaign, or a file path."""

    post: str | None = None
    path: str | None = None


class CompareScreen(ModalScreen[CompareChoice | None]):
    """Posts to compare with, and a path field for a past recording or file."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        # ↓ past the last post reaches the path field, ↑ from it goes back (a form, not a trap)
        Binding("down", "move(1)", "next", show=False, priority=True),
        Binding("up", "move(-1)", "previous", show=False, priority=True),
    ]

    def __init__(self, posts: list[str], current: str | None = None) -> None:
        super().__init__(id="compare")
        self.posts = [post for post in posts if post != current]  # never the post on screen
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-box"):
            yield Static("compare with… (aligned at each post's own post time)", id="compare-title")
            options = [
                Option(Text(printable(post, 70)), id=f"post-{index}")
                for index, post in enumerate(self.posts)
            ]
            if not options:
                options = [Option(Text("no other posts in this campaign", style="dim"), id="none")]
            yield OptionList(*options, id="compare-posts")
            yield Input(
                placeholder="or a past recording / observation file: path + enter",
                id="compare-path",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        options.highlighted = 0

    def action_move(self, step: int) -> None:
        """Move through the posts, then on to the path field and back."""
        options = self.query_one(OptionList)
        field = self.query_one(Input)
        last = options.option_count - 1
        if field.has_focus:
            if step < 0:
                options.focus()
                options.highlighted = last
            return
        at = options.highlighted if options.highlighted is not None else -1
        if step > 0 and (at >= last or not self.posts):
            field.focus()
        elif step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        if option_id.startswith("post-"):
            self.dismiss(CompareChoice(post=self.posts[int(option_id.removeprefix("post-"))]))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(CompareChoice(path=event.value.strip()))

    def action_cancel(self) -> None:
        """Close without choosing."""
        self.dismiss(None)
