"""SIGINT and SIGTERM end a watch cleanly however it was started: recording complete and
closed, exit 0, no traceback.

A background job started from a script begins with SIGINT ignored (the shell does that when
job control is off) and Python keeps it ignored; these tests start engmon exactly so.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from vendor_server import TOKEN, VendorServer, campaign_toml, source_tables

from engmon.core.recording import read_recording


@pytest.fixture
def server() -> Iterator[VendorServer]:
    vendor = VendorServer(timeout_sleep=1.0).start()
    yield vendor
    vendor.stop()


def ignore_sigint() -> None:
    """What a non-interactive shell does to a job started with `&`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def assert_recording_complete(record: Path, clicks: int) -> None:
    """Every line whole (the last one ends the file), and the clicks all there."""
    data = record.read_bytes()
    assert data.endswith(b"\n")
    recording = read_recording(record)
    assert recording.frame.height > 0
    bitly = recording.frame.filter(recording.frame["metric"] == "clicks")
    assert bitly.get_column("value").max() == clicks


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_plain_watch_stops_cleanly_on_a_signal_even_started_with_sigint_ignored(
    signum: signal.Signals, server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 9)
    path = campaign_toml(tmp_path, source_tables(server.base)["bitly"])
    record = tmp_path / "stopped.ndjson"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engmon", "watch", "--plain", "--record", str(record), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint,
    )
    guard = threading.Timer(30, proc.kill)  # never hang the suite
    guard.start()
    try:
        assert proc.stdout is not None
        ok_lines = 0
        while ok_lines < 3:
            line = proc.stdout.readline()
            assert line, "watch ended early"
            ok_lines += " ok " in line
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=20)
    finally:
        guard.cancel()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert_recording_complete(record, 9)


def _read_all(fd: int, into: bytearray) -> None:
    """Drain the terminal's output (a full pty would block the app)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into.extend(chunk)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_dashboard_stops_cleanly_on_a_signal_even_started_with_sigint_ignored(
    signum: signal.Signals, server: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server.add(datetime.now(UTC), 9)
    path = campaign_toml(tmp_path, source_tables(server.base)["bitly"])
    record = tmp_path / "dashboard.ndjson"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "engmon", "watch", "--record", str(record), str(path)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color"},
        preexec_fn=ignore_sigint,
        start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()
    reader = threading.Thread(target=_read_all, args=(master, screen), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"LIVE" not in screen:
            time.sleep(0.05)
        while time.monotonic() < deadline and (
            not record.exists() or b'"clicks"' not in record.read_bytes()
        ):
            time.sleep(0.05)
        assert b"LIVE" in screen, bytes(screen[-2000:])
        time.sleep(0.3)
        proc.send_signal(signum)
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        os.close(master)
    text = screen.decode(errors="replace")
    assert code == 0, text[-2000:]
    assert "Traceback" not in text
    assert f"recorded to {record}" in text
    assert_recording_complete(record, 9)
