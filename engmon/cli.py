"""The `engmon` command: demo, replay, report, watch, check, sources, history.

Heavy imports (textual, httpx sources) happen inside the commands so `engmon --help` and
`engmon report` stay fast. Every `EngmonError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from engmon import __version__
from engmon.core.printable import printable
from engmon.core.words import span_text
from engmon.errors import EngmonError

P = ParamSpec("P")
R = TypeVar("R")

USER_ERROR = 2


class FiniteFloat(click.ParamType):  # type: ignore[type-arg]
    """A number from `low` to `high`: click's FloatRange lets nan and inf through."""

    name = "number"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """The value as a float, or a usage error naming the option (exit 2, one line)."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(f"{value!r} is not a number from {self.low:g} to {self.high:g}", param, ctx)
        return number


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an EngmonError into `engmon: <message>` and exit code 2, without a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EngmonError as exc:
            from engmon.core.printable import printable

            # one line: names from files and feeds may hold newlines or terminal escapes
            click.echo(f"engmon: {printable(str(exc))}", err=True)
            sys.exit(USER_ERROR)

    return wrapper


class EngmonGroup(click.Group):
    """The `engmon` group: a usage mistake (a bad option value, an unknown option) is one line
    on stderr and exit code 2, like every other user error (click prints a usage block)."""

    def main(  # type: ignore[override]
        self, args: Any = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        """Run the command line; see the class docstring for how mistakes are shown."""
        if extra.get("standalone_mode", True) is False:
            return super().main(args, prog_name, **extra)
        extra["standalone_mode"] = False
        try:
            code = super().main(args, prog_name, **extra)
        except click.ClickException as exc:
            where = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else ""
            hint = f" (see `{where} --help`)" if where else ""
            message = printable(exc.format_message())
            click.echo(f"engmon: {message}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        if isinstance(code, int) and code:
            sys.exit(code)
        return code


@click.group(cls=EngmonGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="engmon")
def main() -> None:
    """engmon: is the link you just shared working?

    Watch one shared link live (analytics, social posts, access logs) or replay a past post,
    and see the engagement curve, honest numbers per 1k followers, a forecast and a verdict.
    """


# --- replay / report / demo (files and scenarios) -------------------------------------------

FILE_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option(
        "--read-as",
        "file_format",
        type=click.Choice(["auto", "observations", "cascade", "access-log", "recording"]),
        default="auto",
        show_default=True,
        help="How to read FILE (auto: by extension and content).",
    ),
    click.option("--time-column", help="Column holding the time of each row (foreign files)."),
    click.option(
        "--time-unit",
        type=click.Choice(["s", "ms", "h", "iso"]),
        help="Unit of the time column: seconds, milliseconds, hours or ISO 8601 text.",
    ),
    click.option(
        "--relative/--absolute",
        default=None,
        help="Times are offsets from the post (default for numeric times) or absolute.",
    ),
    click.option("--post-time", help="When the post went out (ISO 8601); default: inferred."),
    click.option("--metric", "metric_name", help="Metric of every row (e.g. reposts)."),
    click.option("--metric-column", help="Column naming each row's metric."),
    click.option("--value-column", help="Column holding each row's count (default 1)."),
    click.option("--reach-column", help="Column holding the actor's followers."),
    click.option(
        "--dimension",
        "dimensions",
        multiple=True,
        metavar="NAME=COLUMN",
        help="Map a column to a dimension (referrer, country, device, post, path, utm,"
        " browser, os). Repeatable.",
    ),
    click.option(
        "--followers",
        type=click.IntRange(min=1, max=10**11),
        help="Followers of the poster (per-1k rates).",
    ),
    click.option(
        "--link",
        help="The campaign link (URL or path); access logs count only its hits (default: all).",
    ),
    click.option(
        "--log-format",
        help="Access logs: combined, common, vhost_combined, json, caddy, traefik, "
        "or an nginx log_format string (default: auto, from the first lines).",
    ),
    click.option("--include-bots", is_flag=True, help="Access logs: count crawlers and bots too."),
    click.option(
        "--goal",
        help="Access logs: path of the page that means converted (e.g. /thanks); counted once"
        " per visitor who clicked the link before.",
    ),
    click.option(
        "--keep-spam", is_flag=True, help="Access logs: keep referrer-spam hits (left out)."
    ),
]


def file_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Attach the options that say how to read a foreign file."""
    for option in reversed(FILE_OPTIONS):
        func = option(func)
    return func


TZ_OPTION = click.option(
    "--tz",
    metavar="ZONE",
    help="Show times in this IANA time zone (e.g. Europe/Paris; default: [campaign] tz or"
    " UTC). Stored times stay UTC.",
)


def _show_zone(tz: str | None, campaign_tz: str | None = None, where: str = "--tz") -> None:
    """Times on screen and in reports from here on: --tz, else the campaign file's tz, else UTC."""
    from engmon.core.zone import set_display_zone

    set_display_zone(tz if tz is not None else campaign_tz, where)


def _file_spec(path: Path, **options: Any) -> Any:
    from engmon.sources.files import FileSpec

    return FileSpec.from_cli(path, **options)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--speed", type=FiniteFloat(0.01, 1e6), default=60.0, show_default=True)
@click.option("--start", default="0", help="Start at this offset after the post (90s, 15m, 1h).")
@click.option("--paused", is_flag=True, help="Open paused.")
@TZ_OPTION
@file_options
@user_errors
def replay(
    file: Path, speed: float, start: str, paused: bool, tz: str | None, **options: Any
) -> None:
    """Replay FILE in the dashboard as if it were live."""
    from engmon.tui.launch import run_replay

    _show_zone(tz)

    run_replay(_file_spec(file, **options), speed=speed, start=start, paused=paused)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "csv", "html"]),
    default="text",
    show_default=True,
    help="html: one self-contained page (curve, numbers, verdict, tables) to send or open.",
)
@click.option("--bucket", default="1m", show_default=True, help="Bucket width: 1m, 5m, 1h...")
@click.option("--at", "at", default=None, help="As it stood at this offset after the post.")
@click.option("--forecast", is_flag=True, help="Also forecast the final size from --at.")
@click.option(
    "--breakdown",
    "breakdowns",
    multiple=True,
    metavar="TABLE",
    help="Also a breakdown table: utm, browser, os, referrer, country, device, post, path"
    " or all (JSON key `breakdowns`; with --format csv only the table). Repeatable.",
)
@TZ_OPTION
@file_options
@user_errors
def report(
    file: Path,
    output_format: str,
    bucket: str,
    at: str | None,
    forecast: bool,
    breakdowns: tuple[str, ...],
    tz: str | None,
    **options: Any,
) -> None:
    """Print FILE's engagement metrics, headless (text, JSON, CSV or an HTML page)."""
    from engmon.core.printable import printable
    from engmon.watch.report import run_report

    _show_zone(tz)

    notes: list[str] = []
    text = run_report(
        _file_spec(file, **options),
        output_format=output_format,
        bucket=bucket,
        at=at,
        forecast=forecast,
        notes=notes,
        breakdowns=breakdowns,
    )
    click.echo(text, nl=False)
    for note in notes:  # stderr: the output stays pure data, the note is still seen
        click.echo(f"note: {printable(note)}", err=True)


@main.command()
@click.argument("scenario", required=False, default="small-account")
@click.option("--speed", type=FiniteFloat(0.01, 1e6), default=60.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--save", type=click.Path(path_type=Path), help="Write the scenario to a file.")
@click.option(
    "--live",
    is_flag=True,
    help="Watch live instead: an access log written right now, followed by the real watch.",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="--live: write the campaign, log and recording here and keep them (default: a "
    "temporary folder, removed on exit).",
)
@click.option("--plain", is_flag=True, help="--live: one line per poll instead of the dashboard.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0.1),
    help="--live --plain: stop after this many seconds.",
)
@TZ_OPTION
@user_errors
def demo(
    scenario: str,
    speed: float,
    seed: int,
    list_only: bool,
    save: Path | None,
    live: bool,
    folder: Path | None,
    plain: bool,
    duration: float | None,
    tz: str | None,
) -> None:
    """Replay a generated scenario (no data needed): big-account, small-account, ...

    With --live, watch a campaign whose access log is being written right now: the same
    pipeline as `engmon watch` (polling, recording, alerts), all on this machine.
    """
    from engmon.errors import ConfigError
    from engmon.sources import scenarios

    _show_zone(tz)

    if list_only:
        for name, about in scenarios.SCENARIOS.items():
            click.echo(f"{name:16} {about}")
        click.echo(f"{'--live':16} an access log written as you watch, followed by the real watch")
        return
    if live:
        run_live_demo(folder, seed=seed, plain=plain, duration=duration)
        return
    if folder is not None or plain or duration is not None:
        raise ConfigError("--dir, --plain and --duration go with --live")
    if save is not None:
        written = scenarios.save(scenarios.build(scenario, seed=seed), save)
        click.echo(f"wrote {written} observations to {printable(save)}")
        return
    from engmon.tui.launch import run_scenario

    run_scenario(scenario, seed=seed, speed=speed)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("target", type=click.Path(path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 shares the dashboard with your network.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@TZ_OPTION
@click.argument("dashboard_options", nargs=-1, type=click.UNPROCESSED)
@user_errors
def serve(
    target: Path, host: str, port: int, tz: str | None, dashboard_options: tuple[str, ...]
) -> None:
    """Serve the dashboard of TARGET (campaign .toml or a file) in a web browser.

    Each browser tab runs its own dashboard: `engmon watch TARGET` for a campaign file,
    `engmon replay TARGET` otherwise; options after TARGET (--speed, --time-column ...) go to
    that command.
    """
    from engmon.errors import ConfigError, InputError

    if not target.is_file():
        raise InputError(f"{target}: no such file")
    if target.suffix.lower() == ".toml":
        from engmon.config import load_campaign

        if dashboard_options:
            raise ConfigError(f"{' '.join(dashboard_options)}: a campaign file takes no options")
        if not load_campaign(target).sources:  # a mistake shows here, not in each browser tab
            raise ConfigError(f"{target}: no [[sources]] to watch; add one (see `engmon sources`)")
    else:
        try:  # the same options as `engmon replay`, checked once here
            replay.make_context("replay", [str(target), *dashboard_options])
        except click.UsageError as exc:
            raise ConfigError(f"serve {target}: {exc.format_message()}") from None
    from engmon.tui.serve import serve_dashboard

    if tz is not None:  # checked here once; each browser tab's dashboard shows that zone
        _show_zone(tz)
        dashboard_options = (*dashboard_options, "--tz", tz)
    serve_dashboard(target, dashboard_options, host=host, port=port)


def run_live_demo(folder: Path | None, *, seed: int, plain: bool, duration: float | None) -> None:
    """`engmon demo --live`: write a campaign and its growing access log, then watch it."""
    import contextlib
    import tempfile
    from datetime import UTC, datetime

    from engmon.watch import livedemo
    from engmon.watch.recordings import open_config
    from engmon.watch.session import Session

    with contextlib.ExitStack() as stack:
        where = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="engmon-")))
        campaign_file, log = livedemo.prepare(where, datetime.now(UTC), seed=seed)
        config, record_path = open_config(campaign_file, None)
        log.start(datetime.now(UTC))
        stack.callback(log.stop)
        # the demo's post is not yours: no expected band from, and nothing kept in, your history
        session = Session.open(config, record_path, history_dir=None)
        stack.callback(session.close)
        if plain:
            from engmon.watch.plain import run_plain_watch

            click.echo(f"live demo: following {log.path} (campaign {campaign_file})", err=True)
            run_plain_watch(session, duration=duration)
        else:
            from engmon.tui.launch import run_dashboard_watch

            run_dashboard_watch(session, export_dir=config.export.dir)
    if folder is not None:
        click.echo(f"kept {campaign_file}, {log.path} and {record_path}", err=True)


# --- live: watch / check / sources / history -------------------------------------------------


@main.command()
@click.argument("campaign_file", type=click.Path(path_type=Path))
@click.option("--plain", is_flag=True, help="One line per poll instead of the dashboard.")
@click.option("--record", type=click.Path(path_type=Path), help="Record to PATH (continues it).")
@click.option(
    "--duration", type=FiniteFloat(0.1, 1e9), help="Stop after this many seconds (--plain)."
)
@TZ_OPTION
@user_errors
def watch(
    campaign_file: Path, plain: bool, record: Path | None, duration: float | None, tz: str | None
) -> None:
    """Watch CAMPAIGN_FILE's sources live (every watch is recorded).

    SIGINT and SIGTERM end it cleanly (recording closed, exit 0), however it was started.
    """

    from engmon.core.history import default_history_dir
    from engmon.errors import ConfigError
    from engmon.watch.plain import run_plain_watch
    from engmon.watch.recordings import open_config
    from engmon.watch.session import Session

    config, record_path = open_config(campaign_file, record)
    _show_zone(tz, config.campaign.tz)
    if not config.sources:
        raise ConfigError(
            f"{campaign_file}: no [[sources]] to watch; add one (see `engmon sources`)"
        )
    session = Session.open(config, record_path, history_dir=default_history_dir())
    try:
        if not plain:
            from engmon.tui.launch import run_dashboard_watch

            run_dashboard_watch(session, export_dir=config.export.dir)
            click.echo(f"recorded to {printable(record_path)}", err=True)
            return
        click.echo(f"recording to {printable(record_path)}", err=True)
        run_plain_watch(session, duration=duration)
    finally:
        session.close()


@main.command()
@click.argument("campaign_file", type=click.Path(path_type=Path))
@user_errors
def check(campaign_file: Path) -> None:
    """Validate CAMPAIGN_FILE and poll each source once (exit 2 if one fails)."""
    import asyncio

    from engmon.config import load_campaign
    from engmon.core.printable import printable
    from engmon.core.words import plural
    from engmon.errors import ConfigError
    from engmon.watch.check import check_sources

    config = load_campaign(campaign_file)
    if not config.sources:
        raise ConfigError(
            f"{campaign_file}: no [[sources]] to check; add one (see `engmon sources`)"
        )
    name = printable(config.campaign.name)
    count = plural(len(config.sources), "source")
    click.echo(f"{printable(campaign_file)}: campaign {name!r}, {count}")
    if asyncio.run(check_sources(config, sys.stdout)):
        sys.exit(USER_ERROR)


@main.command()
def sources() -> None:
    """List every source kind with its config keys and what it measures."""
    from engmon.sources.options import COMMON_KEYS
    from engmon.sources.registry import available_kinds, load_kind

    click.echo("Keys every [[sources]] table takes:")
    for key, about in COMMON_KEYS.items():
        click.echo(f"  {key:16} {about}")
    for kind in available_kinds():
        try:
            source_kind = load_kind(kind)
        except ImportError:
            continue
        click.echo(f"\n{kind}: {source_kind.summary}")
        for key, about in source_kind.keys().items():
            click.echo(f"  {key:16} {about}")


@main.group(invoke_without_command=True)
@click.option("--dir", "folder", type=click.Path(path_type=Path), help="Recordings folder.")
@click.pass_context
@user_errors
def history(ctx: click.Context, folder: Path | None) -> None:
    """Your recorded watches, and the past posts your expected band is drawn from.

    Without a subcommand: list both. `history add FILE` keeps a past post's file among the
    band's posts; `history clear` empties the band's posts (recordings stay).
    """
    if ctx.invoked_subcommand is not None:
        return
    from engmon.core.history import default_history_dir, list_posts
    from engmon.core.printable import printable
    from engmon.watch.recordings import list_recordings, recordings_dir

    infos = list_recordings(folder)
    click.echo(f"Recordings ({printable(folder or recordings_dir())}):")
    if not infos:
        click.echo("  none yet: every `engmon watch` records one")
    for info in infos:
        started = f"{info.started:%Y-%m-%d %H:%M}Z" if info.started else "?"
        minutes = span_text(info.duration_s) if info.duration_s is not None else "?"
        totals = ", ".join(f"{m} {v:,.0f}" for m, v in info.totals.items()) or "no engagement"
        line = f"  {started}  {minutes:>8}  {info.campaign}: {totals}  ({info.path})"
        click.echo(printable(line))  # campaign and metric names come from the files
    posts = list_posts()
    click.echo(f"\nPast posts for the expected band ({default_history_dir()}):")
    if posts.is_empty():
        click.echo(
            "  none yet: watches and replays of your files are kept here when you quit;"
            " `engmon history add FILE` adds a past post"
        )
    metrics_shown = [
        c for c in posts.columns if c not in ("post", "post_time", "followers", "minutes")
    ]
    for row in posts.iter_rows(named=True):
        totals = ", ".join(
            f"{m} {row[m]:,.0f}" for m in metrics_shown if row[m] is not None and row[m] > 0
        )
        click.echo(
            f"  {row['post_time']:%Y-%m-%d %H:%M}Z  {span_text(row['minutes'] * 60):>6}  "
            f"{row['followers']:,} followers: {totals or 'no engagement'}  ({row['post']})"
        )


@history.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@file_options
@user_errors
def history_add(file: Path, **options: Any) -> None:
    """Keep FILE, a past post, among the posts the expected band is drawn from."""
    from engmon.core.campaign import RELATIVE_ANCHOR
    from engmon.core.history import default_history_dir, post_curve, save_post
    from engmon.core.store import ObservationStore
    from engmon.errors import ConfigError
    from engmon.sources.files import load_observations

    loaded = load_observations(_file_spec(file, **options))
    campaign = loaded.campaign
    if campaign.post_time is None or campaign.post_time == RELATIVE_ANCHOR:
        raise ConfigError(
            f"{file}: post time unknown (the band places posts in time); give --post-time"
        )
    if not campaign.followers:
        raise ConfigError(
            f"{file}: the poster's followers are unknown (the band is per 1k followers);"
            " give --followers"
        )
    store = ObservationStore(campaign.post_time)
    store.merge(loaded.frame)
    name = campaign.name or file.stem
    curve = post_curve(store.minutes(), name, campaign.post_time, campaign.followers)
    saved = save_post(curve, default_history_dir())
    if saved is None:
        raise ConfigError(f"{file}: nothing after the post time to keep")
    minutes = curve.height // max(1, curve.get_column("metric").n_unique())
    length = span_text(minutes * 60)
    click.echo(f"kept {name} ({campaign.post_time:%Y-%m-%d %H:%M}Z, {length}) in {saved}")


@history.command("clear")
@click.option("--yes", is_flag=True, help="Do not ask.")
@user_errors
def history_clear(yes: bool) -> None:
    """Forget the past posts the expected band is drawn from (recordings stay)."""
    from engmon.core.history import clear_history, default_history_dir, list_posts
    from engmon.core.words import plural

    count = list_posts().height
    if count == 0:
        click.echo(f"no past posts in {default_history_dir()}")
        return
    if not yes:
        click.confirm(
            f"forget {plural(count, 'past post')} in {default_history_dir()}?", abort=True
        )
    click.echo(f"forgot {plural(clear_history(), 'past post')}")


# --- clickhouse: a past post out of a ClickHouse table --------------------------------------


@main.command("clickhouse-export")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--start", required=True, help="Window start, ISO 8601 (UTC if no zone): the post.")
@click.option("--span", default="24h", show_default=True, help="Window length (90m, 6h, 2d).")
@click.option("--source", "source_name", help="Name of the clickhouse source (default: first).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help=".parquet/.ndjson")
@user_errors
def clickhouse_export(
    config: Path, start: str, span: str, source_name: str | None, out: Path
) -> None:
    """Run CONFIG's ClickHouse queries over a past post; write a file for replay/report."""

    from engmon.config import read_campaign_file
    from engmon.core.bounds import parse_iso
    from engmon.core.metrics import parse_offset
    from engmon.errors import ConfigError
    from engmon.sources.clickhouse.source import clickhouse_table, export_past_post

    try:
        begin = parse_iso(start)
    except ValueError as exc:
        raise ConfigError(f"--start {start!r} {exc}") from None
    try:
        length = parse_offset(span)
    except ValueError:
        raise ConfigError(f"--span {span!r} is not a duration like 90m, 6h or 2d") from None
    from engmon.core.bounds import offset_problem

    if problem := offset_problem(length, begin):
        raise ConfigError(f"--start {start!r} + --span {span!r}: {problem}")
    end = begin + length
    read = read_campaign_file(config, need_post_time=False)  # the window comes from --start
    table, where = clickhouse_table(read.source_tables, config, source_name)
    rows = export_past_post(table, where, read.campaign, begin, end, out)
    click.echo(f"wrote {rows} observations to {printable(out)}")
