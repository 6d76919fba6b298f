"""The plain live watch end to end against a real loopback server: each source family, faults,
crash-safe recording and restart, and no secret anywhere.

The server (`vendor_server.VendorServer`) runs on 127.0.0.1 port 0 in a thread; engmon polls it
through its one shared httpx client exactly as it would poll the vendor.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from vendor_server import TOKEN, VendorServer, campaign_toml, closed_port, source_tables

from engmon.cli import main
from engmon.config import load_campaign
from engmon.core.recording import RecordingWriter, read_recording
from engmon.core.store import ObservationStore
from engmon.watch.plain import watch_plain
from engmon.watch.poller import SourcePoller
from engmon.watch.recordings import list_recordings
from engmon.watch.session import Session


@pytest.fixture
def server() -> Iterator[VendorServer]:
    vendor = VendorServer(timeout_sleep=1.0).start()
    yield vendor
    vendor.stop()


async def run_until(
    watch: Session, done: Callable[[], bool], out: io.StringIO, limit: float = 20.0
) -> None:
    """Run the plain watch until `done()` holds (or `limit` seconds: then the test fails)."""
    task = asyncio.create_task(watch_plain(watch, out=out))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not done() and loop.time() < deadline and not task.done():
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert done(), f"watch did not get there; log:\n{out.getvalue()}"


def first_poller(watch: Session) -> SourcePoller:
    return next(iter(watch.pollers.values()))


def total(watch: Session, metric: str = "clicks") -> float:
    minutes = watch.store.minutes().filter(pl.col("metric") == metric)
    return float(minutes.get_column("value").sum())


@pytest.mark.parametrize("family", ["plausible", "umami", "bitly", "http-json"])
async def test_each_source_family_end_to_end(
    family: str, server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    now = datetime.now(UTC)
    server.add(now, 4)
    if family != "plausible":  # Plausible only sees the minutes it watches live
        server.add(now - timedelta(minutes=2), 3)
    config = load_campaign(campaign_toml(tmp_path, source_tables(server.base)[family]))
    record = tmp_path / "rec.ndjson"
    watch = Session.open(config, record)
    out = io.StringIO()
    expected = 4.0 if family == "plausible" else 7.0
    await run_until(watch, lambda: total(watch) == expected, out)
    # a late click for the current minute and re-polls must replace, never add
    server.add(datetime.now(UTC), 1)
    polls = first_poller(watch).status.polls
    await run_until(
        watch,
        lambda: total(watch) == expected + 1 and first_poller(watch).status.polls > polls,
        out,
    )
    watch.close()
    recording = read_recording(record)
    assert recording.campaign.name == "Launch day"
    again = Session.open(load_campaign(config.path), record)
    assert total(again) == expected + 1  # the recording replays to the same curve
    again.close()
    lines = out.getvalue().splitlines()
    assert any("ok" in line and "clicks" in line for line in lines)


async def test_faults_in_turn_keep_the_watch_running_and_every_good_poll_recorded(
    server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 5)
    tables = source_tables(server.base)
    path = campaign_toml(
        tmp_path,
        tables["http-json"].replace("interval = 0.05", "interval = 0.05\ntimeout = 0.4")
        + tables["bitly"].replace("interval = 0.05", "interval = 0.2"),
    )
    config = load_campaign(path)
    record = tmp_path / "faults.ndjson"
    watch = Session.open(config, record)
    for poller in watch.pollers.values():
        poller.max_backoff = 0.3  # keep the test quick; the backoff itself is tested elsewhere
        poller.auth_retry = 0.3
    server.fault_prefix = "/feed"
    accepted: list[int] = []
    original_accept = watch.accept

    def counting_accept(result):  # type: ignore[no-untyped-def]
        accepted.append(result.frame.height)
        return original_accept(result)

    watch.accept = counting_accept  # type: ignore[method-assign]
    out = io.StringIO()
    feed = first_poller(watch)
    await run_until(watch, lambda: feed.status.polls >= 1, out)

    async def fault_then_recover(fault: str) -> None:
        errors = feed.status.errors
        server.faults.append(fault)
        await run_until(watch, lambda: feed.status.errors > errors, out)
        message = feed.status.last_error or ""
        assert feed.status.state in ("retrying", "failed"), message
        assert TOKEN not in message
        polls = feed.status.polls
        await run_until(watch, lambda: feed.status.polls > polls and feed.status.state == "ok", out)

    for fault in ("500", "timeout", "badjson", "shape", "401", "403", "429"):
        await fault_then_recover(fault)
    # connection refused: the server goes away, then comes back on the same port
    errors = feed.status.errors
    server.stop()
    await run_until(watch, lambda: feed.status.errors > errors, out)
    assert "cannot connect" in (feed.status.last_error or "")
    server.start()
    polls = feed.status.polls
    await run_until(watch, lambda: feed.status.polls > polls, out)
    watch.close()

    log = out.getvalue()
    for expected in (
        "HTTP 500",
        "no answer within",
        "is not JSON",
        "unexpected response shape",
        "HTTP 401",
        "HTTP 403",
        "rate limited; retry in 1s",
        "cannot connect",
    ):
        assert expected in log, expected
    assert list(watch.pollers.values())[1].status.polls >= 1  # the other source went on
    recording = read_recording(record)
    assert recording.frame.height == sum(accepted) > 0


async def test_dns_failure_is_a_status_not_a_crash(tmp_path: Path) -> None:
    path = campaign_toml(
        tmp_path,
        """
[[sources]]
kind = "http-json"
url = "http://nonexistent.invalid/feed"
shape = "events"
time = "t"
interval = 0.05
""",
    )
    watch = Session.open(load_campaign(path), tmp_path / "dns.ndjson")
    poller = first_poller(watch)
    poller.max_backoff = 0.1
    out = io.StringIO()
    await run_until(watch, lambda: poller.status.errors >= 2, out)
    watch.close()
    assert poller.status.state == "retrying"
    assert "cannot connect" in (poller.status.last_error or "")


async def test_restart_continues_the_recording_without_recounting(
    server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 6)
    path = campaign_toml(tmp_path, source_tables(server.base)["umami"], posted_at="now")
    record = tmp_path / "restart.ndjson"
    from engmon.watch.recordings import open_config

    config, target = open_config(path, record)
    first = Session.open(config, target)
    out = io.StringIO()
    await run_until(first, lambda: total(first) == 6, out)
    first.close()
    # simulate kill -9 in the middle of writing a row
    with record.open("ab") as handle:
        handle.write(b'{"ts":"2026-11-25T14:0')
    config2, _ = open_config(path, record)
    assert config2.campaign.post_time == config.campaign.post_time  # "now" kept from the file
    second = Session.open(config2, record)
    assert second.reloaded_rows > 0 and total(second) == 6
    server.add(datetime.now(UTC), 1)
    await run_until(second, lambda: total(second) == 7, out)
    second.close()
    assert "continuing" in out.getvalue()
    info = list_recordings(tmp_path)
    assert [i.campaign for i in info] == ["Launch day"]
    assert info[0].totals["clicks"] == 7


def test_no_secret_in_check_output_logs_or_recordings(
    server: VendorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)  # httpx/httpcore log every request at this level
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 2)
    tables = source_tables(server.base)
    path = campaign_toml(tmp_path, "".join(tables.values()))
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(path)])
    assert checked.exit_code == 0, checked.output
    assert checked.output.count("\nok ") == 4
    record = tmp_path / "secret.ndjson"
    watched = runner.invoke(
        main, ["watch", str(path), "--plain", "--record", str(record), "--duration", "1"]
    )
    assert watched.exit_code == 0, watched.output
    assert "clicks" in watched.output
    server.faults.extend(["401"] * 8)  # errors name the host, never the token
    failed = runner.invoke(main, ["check", str(path)])
    assert failed.exit_code == 2 and "HTTP 401" in failed.output
    assert "HTTP Request" in caplog.text  # the logs were captured
    for text in (checked.output, watched.output, failed.output, record.read_text(), caplog.text):
        assert TOKEN not in text
        assert "SECRET" not in text


def test_check_fails_with_exit_2_on_a_refused_source(tmp_path: Path) -> None:
    path = campaign_toml(
        tmp_path,
        f"""
[[sources]]
kind = "http-json"
url = "http://127.0.0.1:{closed_port()}/feed"
shape = "events"
time = "t"
timeout = 1
""",
    )
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert "FAIL http-json" in result.output and "cannot connect" in result.output


def test_kill_9_loses_at_most_the_poll_in_flight(
    server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys
    import threading

    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 9)
    path = campaign_toml(tmp_path, source_tables(server.base)["bitly"])
    record = tmp_path / "killed.ndjson"
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "engmon", "watch", "--plain", "--record", str(record), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    guard = threading.Timer(30, proc.kill)  # never hang the suite
    guard.start()
    try:
        assert proc.stdout is not None
        ok_lines = 0
        while ok_lines < 5:
            line = proc.stdout.readline()
            assert line, "watch ended early"
            ok_lines += " ok " in line
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait()
    finally:
        guard.cancel()
    recording = read_recording(record)
    assert recording.frame.height >= 4  # every printed poll was on disk before its line
    again = Session.open(load_campaign(path), record)
    assert total(again) == 9  # and replays to the same curve, nothing counted twice
    again.close()


def test_default_recording_dir_and_history(
    server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    server.add(datetime.now(UTC), 3)
    path = campaign_toml(tmp_path, source_tables(server.base)["umami"])
    runner = CliRunner()
    empty = runner.invoke(main, ["history"])
    assert empty.exit_code == 0 and "none yet: every `engmon watch` records one" in empty.output
    watched = runner.invoke(main, ["watch", "--plain", "--duration", "0.5", str(path)])
    assert watched.exit_code == 0, watched.output
    recordings = list((tmp_path / "data" / "engmon" / "recordings").glob("*.ndjson"))
    assert [p.name.startswith("launch-day-") for p in recordings] == [True]
    listed = runner.invoke(main, ["history"])
    assert listed.exit_code == 0
    assert "Launch day: clicks 3" in listed.output


def test_watch_opens_the_dashboard_on_the_reloaded_store_and_recording(
    server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engmon.tui.app

    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 2)
    path = campaign_toml(tmp_path, source_tables(server.base)["bitly"])
    record = tmp_path / "tui.ndjson"
    assert (
        CliRunner()
        .invoke(main, ["watch", "--plain", "--record", str(record), "--duration", "0.5", str(path)])
        .exit_code
        == 0
    )
    opened: list[dict[str, object]] = []

    def fake_dashboard(session, **kwargs):  # type: ignore[no-untyped-def]
        opened.append({"session": session, **kwargs})

    monkeypatch.setattr(engmon.tui.app, "run_dashboard", fake_dashboard)
    result = CliRunner().invoke(main, ["watch", "--record", str(record), str(path)])
    assert result.exit_code == 0, result.output
    [call] = opened
    session = call["session"]
    assert isinstance(session, Session)
    store = session.store
    assert isinstance(store, ObservationStore) and store.rows > 0  # reloaded before polling
    recorder = session.recorder
    assert isinstance(recorder, RecordingWriter) and recorder.path == record
    assert session.clock.live


@pytest.mark.parametrize(
    ("clicks", "rules", "kind"),
    [(10, "spike_per_min = 1", "spike"), (0, "flat_minutes = 2", "flat")],
)
async def test_plain_watch_alerts_once_and_runs_the_command(
    clicks: int,
    rules: str,
    kind: str,
    server: VendorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    if clicks:
        server.add(datetime.now(UTC) - timedelta(seconds=30), clicks)
    fired = tmp_path / "fired.txt"
    script = (
        "import os; open(os.environ['OUT'], 'a').write(os.environ['ENGMON_ALERT_KIND'] + '\\n')"
    )
    monkeypatch.setenv("OUT", str(fired))
    alerts = f"[alerts]\n{rules}\ncommand = [{json.dumps(sys.executable)}, '-c', {script!r}]\n"
    table = source_tables(server.base)["http-json"]
    config = load_campaign(campaign_toml(tmp_path, table + "\n" + alerts))
    watch = Session.open(config, tmp_path / "rec.ndjson")
    out = io.StringIO()
    await run_until(watch, lambda: first_poller(watch).status.polls >= 4 and fired.exists(), out)
    watch.close()
    log = out.getvalue()
    assert log.count(" ALERT ") == 1, log  # debounced: the later polls stay quiet
    assert f"ALERT {kind}:" in log
    assert fired.read_text() == f"{kind}\n"


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ('["/nonexistent/hook"]', "alert command '/nonexistent/hook' did not start"),
        (f"[{json.dumps(sys.executable)}, '-c', 'raise SystemExit(3)']", "exited 3"),
    ],
)
async def test_plain_watch_says_when_the_alert_command_fails(
    command: str,
    problem: str,
    server: VendorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    alerts = f"[alerts]\nflat_minutes = 2\ncommand = {command}\n"
    table = source_tables(server.base)["http-json"]
    config = load_campaign(campaign_toml(tmp_path, table + "\n" + alerts))
    watch = Session.open(config, tmp_path / "rec.ndjson")
    out = io.StringIO()
    await run_until(watch, lambda: problem in out.getvalue(), out)
    watch.close()
    assert "ALERT flat:" in out.getvalue()


@pytest.mark.parametrize("family", ["plausible", "umami"])
async def test_utm_conversions_and_visitors_now_over_loopback(
    family: str, server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vendor's utm, browser and OS breakdowns, its goal and its realtime visitors arrive,
    show in the plain watch line and replay from the recording."""
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 6)
    config = load_campaign(campaign_toml(tmp_path, source_tables(server.base)[family]))
    record = tmp_path / "rec.ndjson"
    watch = Session.open(config, record)
    out = io.StringIO()

    def arrived(store: ObservationStore) -> bool:
        deltas = store.deltas()
        sources = set(deltas.get_column("source").to_list())
        return {f"{family}:utm", f"{family}:browser", f"{family}:os"} <= sources and {
            "conversions",
            "active",
        } <= set(deltas.get_column("metric").to_list())

    await run_until(watch, lambda: arrived(watch.store), out)
    watch.close()
    deltas = watch.store.deltas()
    tagged = deltas.filter(pl.col("source") == f"{family}:utm").get_column("utm").to_list()
    campaign = "utm_campaign=launch" if family == "umami" else ""
    assert any(tag and tag.startswith("utm_source=mastodon") and campaign in tag for tag in tagged)
    assert deltas.filter(pl.col("metric") == "conversions").get_column("value").sum() == 2
    assert "conversions 2" in out.getvalue() and "visitors now" in out.getvalue()
    again = Session.open(load_campaign(config.path), record)
    assert arrived(again.store)  # replayed from the recording
    again.close()
