"""Drilldown for the dashboard app: filters, breakdown tables, time cursor, compare, export.

`DrilldownApp` is the base of `EngmonApp`: it holds the filter stack and the other drilldown
state, and the dashboard's render path calls three hooks:

- `drill_key()` joins the view's cache key (a filter change redraws at once);
- `view_inputs()` gives `compute_view` the filtered minutes and levels when filters are on
  (the unfiltered dashboard keeps using the store's incremental aggregate);
- `show_drilldown(screen, view)` fills the breakdown tables, the breadcrumb, the cursor
  numbers and the comparison overlay.

Everything is reachable by keyboard (keys in `engmon.tui.keys`), in the command palette and
with the mouse (click a row, click the curve then use the keys).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rich.text import Text
from textual.app import App, SystemCommand
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer

from engmon.core.printable import printable
from engmon.core.words import offset_text
from engmon.core.zone import local, zone_label
from engmon.errors import EngmonError, InputError
from engmon.tui.screens.opening import OpeningScreen

# what computes with polars (and the widgets that show it) loads after the first frame: the
# dashboard imports it once its session exists, and these methods only run from then on
if TYPE_CHECKING:
    import polars as pl

    from engmon.core.breakdown import FilterStack
    from engmon.core.campaign import Campaign
    from engmon.core.compare import Comparison
    from engmon.core.drill import Drilldown, DrilldownTables
    from engmon.core.store import ObservationStore
    from engmon.tui.screens.compare import CompareChoice
    from engmon.tui.viewmodel import DashboardView
    from engmon.tui.widgets.breakdown import FilterChosen, SortChanged
    from engmon.tui.widgets.drillcurve import BucketOpened, CursorMoved

DEFAULT_EXPORT_DIR: Final = Path("exports")
"""Where `e` writes unless the campaign config says (`[export] dir`); core.export's default."""


TABLES_EVERY_S = 0.5
"""While only new data arrives, the breakdown tables (a scan of the whole store) refresh at
most this often; the curve, KPIs and verdict still follow every tick, a filter, sort, cursor
or metric change refreshes them at once."""


TABLE_ACTION_MISSES: Final = {
    "expand": "no platform highlighted: tab to the referrer table and pick a platform row",
    "collapse": "no platform's hosts are shown: → on a platform row shows them",
}
"""What the palette says when a table command had nothing to act on."""


def bucket_offset(minute: int) -> str:
    """A bucket edge as time since the post: `+0m`, `+45m`, `+7h30m`, `+2d04h`."""
    return offset_text(minute * 60) if minute else "+0m"


def cursor_numbers(minutes: pl.DataFrame, start: int, width: int) -> str:
    """`+9m–10m: clicks 4 · replies 1`: every metric's count in one bucket."""
    import polars as pl

    rows = (
        minutes.filter((pl.col("minute") >= start) & (pl.col("minute") < start + width))
        .group_by("metric")
        .agg(pl.col("value").sum())
        .sort("metric")
    )
    counts = " · ".join(f"{m} {v:,.0f}" for m, v in rows.iter_rows() if v)
    span = f"{bucket_offset(start)}–{bucket_offset(start + width)}"
    return f"cursor {span}: {counts or 'nothing'}"


def tail_text(text: str, limit: int) -> str:
    """Feed text made printable and cut from the left (`…/post/3kaaa`): URLs end distinctly."""
    safe = printable(text)
    return safe if len(safe) <= limit else "…" + safe[-(limit - 1) :]


class DrilldownApp(App[None]):
    """Drilldown state and actions; `EngmonApp` provides the store, campaign and view."""

    if TYPE_CHECKING:
        view: DashboardView | None

        @property
        def store(self) -> ObservationStore: ...

        @property
        def campaign(self) -> Campaign: ...

        def refresh_dashboard(self) -> None: ...

    @property
    def dashboard_screen(self) -> Screen[Any] | None:
        """The screen the dashboard draws on: the bottom of the stack, or the one above an
        opening's frame (which stays below it); dialogs and help go on top."""
        stack = self.screen_stack
        if len(stack) > 1 and isinstance(stack[0], OpeningScreen):
            return stack[1]
        return stack[0] if stack else None

    export_dir: Path = DEFAULT_EXPORT_DIR
    """Where `e` writes (the campaign config's `[export] dir` when given)."""
    export_format: str = "csv"
    """Format of `e`; the command palette offers the others."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification of the app (widgets' `notify` lands here too) as literal text.

        Messages carry feed errors, alert text and file names: never markup (a `[/]` would
        raise MarkupError and kill the dashboard), never a raw control character.
        """
        super().notify(
            printable(message, 2000),
            title=printable(title, 200),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def __init__(self) -> None:
        super().__init__()
        self._filter_stack: FilterStack | None = None
        self.sorts: dict[str, tuple[str, bool]] = {}
        self.comparison: Comparison | None = None
        self.cursor_start: int | None = None
        self.drill_tables: DrilldownTables | None = None
        self._drill: Drilldown | None = None
        self._tables_key: object = None
        self._tables_at = float("-inf")
        self._tables_revision = -1
        self._tables_due: Timer | None = None
        self._first_frame = True  # until the dashboard's first frame is on the screen

    @property
    def filters(self) -> FilterStack:
        """The filters on, most recent last (made on first use: it needs polars)."""
        if self._filter_stack is None:
            from engmon.core.breakdown import FilterStack

            self._filter_stack = FilterStack()
        return self._filter_stack

    @filters.setter
    def filters(self, stack: FilterStack) -> None:
        self._filter_stack = stack

    # --- hooks for the dashboard's render path -------------------------------------------------
    @property
    def drilldown(self) -> Drilldown:
        """The core drilldown over the app's store (made on first use)."""
        from engmon.core.drill import Drilldown

        if self._drill is None or self._drill.store is not self.store:
            self._drill = Drilldown(self.store)
        return self._drill

    def drill_key(self) -> object:
        """Part of the view's cache key: what the drilldown changes on screen."""
        sorts = tuple(sorted(self.sorts.items()))
        label = self.comparison.label if self.comparison else None
        return (self.filters, sorts, label, self.cursor_start)

    def view_inputs(self) -> dict[str, Any]:
        """Keyword arguments for `compute_view`: filtered minutes and levels, when filtered."""
        if not self.filters:
            return {}
        return {
            "minutes": self.drilldown.minutes(self.filters),
            "levels": self.drilldown.levels(self.filters).select(self.store.levels().columns),
        }

    def show_drilldown(self, screen: Screen[Any], view: DashboardView) -> None:
        """Fill the breakdown tables, breadcrumb, cursor numbers and overlay on `screen`."""
        import polars as pl

        from engmon.core.breakdown import CHILDREN
        from engmon.core.compare import overlay
        from engmon.tui.widgets.breadcrumb import FilterBreadcrumb
        from engmon.tui.widgets.breakdown import BreakdownPanel
        from engmon.tui.widgets.drillcurve import DrillCurve, Overlay

        try:
            panels = list(screen.query(BreakdownPanel))
            crumb = screen.query_one(FilterBreadcrumb)
            curve = screen.query_one(DrillCurve)
        except NoMatches:
            return
        if self._first_frame:
            # the tables scan the whole store: the first frame goes out without them and
            # they fill in right after it
            crumb.show(self.filters)
            self.call_after_refresh(self._after_first_frame)
            return
        metric = view.curve.metric
        key: tuple[object, ...] = (
            self.drill_key(),
            metric,
            view.followers,
            view.curve.width,
            view.curve.end_minute,
        )
        key += (
            round(view.standing.velocity_span, 1),
            id(self.store),
            tuple(frozenset(panel.table.expanded) for panel in panels),
        )
        revision = self.store.revision
        if key == self._tables_key and revision == self._tables_revision:
            return  # neither the data nor what is asked changed: the tables stand
        since = time.monotonic() - self._tables_at
        if key == self._tables_key and since < TABLES_EVERY_S:
            if self._tables_due is None:  # catch up with the data once the pause is over
                self._tables_due = self.set_timer(TABLES_EVERY_S - since, self._tables_catch_up)
            return
        self._tables_key, self._tables_at = key, time.monotonic()
        self._tables_revision = revision
        tables = self.drilldown.tables(
            self.filters,
            now_minute=view.now_minute,
            velocity_span=view.standing.velocity_span,
            metric_names=[metric],
            followers=view.followers,
            sort=self.sorts,
            only=[
                *(panel.dimension for panel in panels),
                *(CHILDREN[p.dimension] for p in panels if p.table.expanded),
            ],
        )
        self.drill_tables = tables
        for panel in panels:
            frame = tables.tables[panel.dimension]
            child = CHILDREN.get(panel.dimension)
            panel.table.show(frame, tables.tables.get(child) if child else None)
            panel.refresh_title()
        extra = ""
        if self.cursor_start is not None:
            extra = cursor_numbers(tables.minutes, self.cursor_start, view.curve.width)
        if self.comparison is not None:
            shown = overlay(
                tables.minutes,
                self.comparison,
                metric=metric,
                width=view.curve.width,
                end_minute=view.curve.end_minute,
            )
            values = shown.get_column("other").fill_null(0.0).to_list()
            label = f"vs {tail_text(self.comparison.label, 30)}"
            curve.set_overlay(Overlay(label, values))
            if self.cursor_start is None:
                extra = label
            else:
                at = shown.filter(pl.col("bucket") == self.cursor_start)
                if at.height:
                    extra += f" · {label}: {at.get_column('other').fill_null(0).item():,.0f}"
        else:
            curve.set_overlay(None)
        # the cursor's numbers sit under the curve they describe (a Text: labels are no markup)
        curve.border_subtitle = Text(extra)
        crumb.show(self.filters)

    def _after_first_frame(self) -> None:
        if self._first_frame:
            self._first_frame = False
            self._tables_catch_up()

    def _tables_catch_up(self) -> None:
        """Redraw the tables with the data that arrived during their pause."""
        self._tables_due = None
        screen = self.dashboard_screen
        if screen is not None and self.view is not None:
            self._tables_at = float("-inf")
            self.show_drilldown(screen, self.view)

    # --- filters -----------------------------------------------------------------------------
    def push_filter(self, dimension: str, value: str | None) -> None:
        """Filter the whole dashboard to `dimension` = `value` (stacks on the current filters)."""
        from engmon.core.breakdown import Filter

        self.filters = self.filters.push(Filter(dimension, value))
        self.refresh_dashboard()

    def on_filter_chosen(self, event: FilterChosen) -> None:
        self.push_filter(event.dimension, event.value)

    def on_sort_changed(self, event: SortChanged) -> None:
        from engmon.core.breakdown import CHILDREN

        self.sorts[event.dimension] = (event.sort_by, event.descending)
        if event.dimension in CHILDREN:
            self.sorts[CHILDREN[event.dimension]] = (event.sort_by, event.descending)
        self.refresh_dashboard()

    def action_pop_filter(self) -> None:
        """Remove the most recent filter (`backspace`, `escape`)."""
        if not self.filters:
            self.notify("no filter to remove", timeout=2)
            return
        self.filters = self.filters.pop()
        self.refresh_dashboard()

    def action_clear_filters(self) -> None:
        """Remove every filter."""
        self._filter_stack = None
        self.refresh_dashboard()

    def action_find(self) -> None:
        """`/`: text-filter the focused breakdown table (the referrer table otherwise)."""
        from engmon.core.breakdown import BREAKDOWNS
        from engmon.tui.widgets.breakdown import BreakdownPanel, BreakdownTable

        focused = self.focused
        panel: BreakdownPanel | None = None
        if isinstance(focused, BreakdownTable) and isinstance(focused.parent, BreakdownPanel):
            panel = focused.parent
        else:
            try:
                panel = self.screen.query_one(f"#breakdown-{BREAKDOWNS[0]}", BreakdownPanel)
            except NoMatches:
                return
        panel.action_find()

    def action_focus_tables(self) -> None:
        """Move the focus to the breakdown tables (`t`), or back to the curve."""
        from engmon.tui.widgets.breakdown import BreakdownTable
        from engmon.tui.widgets.drillcurve import DrillCurve

        try:
            tables = list(self.screen.query(BreakdownTable))
            curve = self.screen.query_one(DrillCurve)
        except NoMatches:
            return
        if isinstance(self.focused, BreakdownTable):
            curve.focus()
        elif tables:
            tables[0].focus()

    # --- time cursor -------------------------------------------------------------------------
    def on_cursor_moved(self, event: CursorMoved) -> None:
        self.cursor_start = event.start
        self.refresh_dashboard()

    def on_bucket_opened(self, event: BucketOpened) -> None:
        self.open_bucket(event.start, event.width)

    def open_bucket(self, start: int, width: int) -> None:
        """Show the filtered observations of bucket [start, start + width) in a table."""
        from engmon.tui.screens.observations import ObservationsScreen

        rows = self.drilldown.bucket(self.filters, start, width)
        post_time = self.drilldown.post_time()
        begin = local(post_time + timedelta(minutes=start))
        end = begin + timedelta(minutes=width)
        span = f"{begin:%H:%M}–{end:%H:%M} {zone_label(begin)}"
        where = f" · {self.filters.breadcrumb()}" if self.filters else ""
        title = f"bucket {bucket_offset(start)} ({span}){where}"
        self.push_screen(ObservationsScreen(rows, title))

    def action_drill(self) -> None:
        """The palette's Drill: filter by the focused table's row, or open the curve's bucket;
        without either focused, say how (a command that does nothing must say so)."""
        from engmon.tui.widgets.breakdown import BreakdownTable
        from engmon.tui.widgets.drillcurve import DrillCurve

        focused = self.focused
        if isinstance(focused, BreakdownTable) and focused.target() is not None:
            focused.action_select_cursor()
        elif isinstance(focused, DrillCurve):
            focused.action_open_bucket()
        else:
            self.notify(
                "Drill: tab to a table (⏎ filters by its row) or to the curve (⏎ opens a bucket)"
            )

    def action_cursor_bucket(self) -> None:
        """Focus the curve and show the time cursor on the latest bucket."""
        from engmon.tui.widgets.drillcurve import DrillCurve

        try:
            curve = self.screen.query_one(DrillCurve)
        except NoMatches:
            return
        curve.focus()
        if curve.cursor is None:
            curve.action_cursor(0)

    # --- compare -----------------------------------------------------------------------------
    def action_compare(self) -> None:
        """Pick another post or a past recording to overlay on the curve (`v` again: stop)."""
        from engmon.core.compare import post_starts
        from engmon.tui.screens.compare import CompareScreen

        if self.comparison is not None:
            self.action_stop_compare()
            self.notify("comparison removed", timeout=2)
            return
        starts = post_starts(self.drilldown.sync().lazy()).collect()
        posts = starts.get_column("post").to_list()
        # the post on screen is no "other post": the filtered one, or the campaign's only one
        current = next((f.value for f in self.filters.filters if f.dimension == "post"), None)
        if current is None and len(posts) == 1:
            current = posts[0]
        self.push_screen(CompareScreen(posts, current), self._compare_chosen)

    def _compare_chosen(self, choice: CompareChoice | None) -> None:
        from engmon.core.compare import compare_post

        if choice is None:
            return
        try:
            if choice.post is not None:
                self.comparison = compare_post(self.drilldown.sync(), choice.post)
            elif choice.path is not None:
                self.comparison = load_comparison(Path(choice.path).expanduser())
        except EngmonError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        if self.comparison is not None:
            self.notify(f"comparing with {tail_text(self.comparison.label, 50)}", timeout=3)
        self.refresh_dashboard()

    def action_stop_compare(self) -> None:
        """Remove the comparison overlay."""
        self.comparison = None
        self.refresh_dashboard()

    # --- export ------------------------------------------------------------------------------
    def action_export(self, fmt: str | None = None) -> None:
        """Write the filtered observations on screen and an SVG screenshot; notify where."""
        from engmon.core.export import ExportError, export_observations

        chosen = fmt or self.export_format
        now = self.view.now if self.view is not None else None
        followers = self.view.followers if self.view is not None else self.campaign.followers
        rows = self.drilldown.observations(self.filters, until=now, followers=followers)
        label = self.filters.breadcrumb(separator="-") if self.filters else ""
        try:
            paths = export_observations(
                rows,
                self.export_dir,
                campaign=self.campaign.name,
                formats=(chosen,),
                label=label,
            )
            stem = paths[0].stem
            screenshot = self.save_screenshot(filename=f"{stem}.svg", path=str(self.export_dir))
        except ExportError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        except OSError as exc:
            self.notify(f"cannot write the screenshot: {exc}", severity="error", timeout=10)
            return
        self.notify(
            f"exported {rows.height:,} observations to {paths[0]} and the screen to {screenshot}",
            title="export",
            timeout=8,
        )

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from engmon.core.export import EXPORT_FORMATS

        yield from super().get_system_commands(screen)
        for fmt in EXPORT_FORMATS:
            yield SystemCommand(
                f"Export as {fmt.upper()}",
                f"Write the filtered observations as {fmt} and an SVG screenshot",
                lambda fmt=fmt: self.action_export(fmt),
            )
        yield SystemCommand("Clear all filters", "Remove every filter", self.action_clear_filters)
        yield SystemCommand("Stop comparing", "Remove the comparison", self.action_stop_compare)
        yield SystemCommand(
            "Time cursor", "Focus the curve and show the cursor", self.action_cursor_bucket
        )
        yield SystemCommand(
            "Open the cursor bucket's observations",
            "The observations of the bucket under the time cursor",
            self.action_open_cursor_bucket,
        )
        yield SystemCommand(
            "Sort the table by the next column",
            "The focused breakdown table (else the referrer table)",
            lambda: self._table_action("cycle_sort"),
        )
        yield SystemCommand(
            "Show the hosts of the platform",
            "Expand the highlighted platform of the referrer table",
            lambda: self._table_action("expand", "platform"),
        )
        yield SystemCommand(
            "Hide the hosts of the platform",
            "Collapse the highlighted platform of the referrer table",
            lambda: self._table_action("collapse", "platform"),
        )

    def _table_action(self, action: str, dimension: str | None = None) -> None:
        """Run a table action on the focused table, or on `dimension`'s table; say so when
        it had nothing to act on."""
        from engmon.core.breakdown import BREAKDOWNS
        from engmon.tui.widgets.breakdown import BreakdownTable

        table = self.focused if isinstance(self.focused, BreakdownTable) else None
        if table is None or (dimension and table.dimension != dimension):
            try:
                table = self.screen.query_one(
                    f"#table-{dimension or BREAKDOWNS[0]}", BreakdownTable
                )
            except NoMatches:
                return
        if getattr(table, f"action_{action}")() is False:
            self.notify(TABLE_ACTION_MISSES.get(action, "nothing to do here"), timeout=4)

    def action_open_cursor_bucket(self) -> None:
        """Open the observations of the cursor's bucket (the latest bucket without a cursor)."""
        from engmon.tui.widgets.drillcurve import DrillCurve

        try:
            curve = self.screen.query_one(DrillCurve)
        except NoMatches:
            return
        curve.action_open_bucket()


def load_comparison(path: Path) -> Comparison:
    """A past recording or observation file as a comparison (errors name the file)."""
    from engmon.core.compare import compare_observations, compare_recording

    if not path.is_file():
        raise InputError(f"{path}: no such file (give the path of a recording or observation file)")
    try:
        from engmon.sources.files import FileSpec, load_observations
    except ImportError:  # the file readers are not installed: recordings still work
        return compare_recording(path)
    loaded = load_observations(FileSpec(path=path))
    campaign = loaded.campaign
    return compare_observations(
        loaded.frame,
        campaign.name or path.stem,
        post_time=campaign.post_time,
        followers=campaign.followers,
    )
