"""No secret in any output: every source kind that takes one, with a token or password holding
CR, LF or non-ASCII characters, through `check`, the plain watch and the dashboard.

At load such a value is refused in one line naming the variable. Behind that, every error
path that can carry a request header is scrubbed: with the load check switched off, the same
values reach httpx, whose errors quote the header, and still nothing shows them.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engmon.cli import main

SECRET = "SEKRET-9f2c"
BAD_VALUES = {
    "lf": SECRET + "\n",
    "crlf": SECRET + "\r\nX-Injected: 1",
    "non-ascii": "SEKRÉT-9f2c",
}
ENV = "ENGMON_SWEEP_SECRET"
SHOWN = ("SEKRET", "SEKRÉT", "X-Injected", "É")


def tables(base: str) -> dict[str, str]:
    """One `[[sources]]` table per kind that takes a secret, its secret from ENV."""
    host = base.removeprefix("http://")
    return {
        "plausible": f'kind = "plausible"\nurl = "{base}"\nsite_id = "a.com"\nkey_env = "{ENV}"\n'
        "hourly_limit = 100000",
        "umami-key": f'kind = "umami"\napi = "{base}/api"\nwebsite_id = "w"\napi_key_env = "{ENV}"',
        "umami-login": f'kind = "umami"\napi = "{base}/api"\nwebsite_id = "w"\n'
        f'username_env = "ENGMON_SWEEP_USER"\npassword_env = "{ENV}"',
        "bitly": f'kind = "bitly"\napi = "{base}/v4"\nbitlink = "bit.ly/a"\ntoken_env = "{ENV}"',
        "http-json": f'kind = "http-json"\nurl = "{base}/feed"\nshape = "totals"\n'
        f'value = "n"\ntoken_env = "{ENV}"',
        "mastodon": f'kind = "mastodon"\nposts = ["http://{host}/@a/113000000000000001"]\n'
        f'token_env = "{ENV}"',
        "x": f'kind = "x"\nposts = ["https://x.com/a/status/1293593516040269825"]\n'
        f'api_url = "{base}"\ntoken_env = "{ENV}"',
        "x-user": f'kind = "x"\nposts = ["https://x.com/a/status/1293593516040269825"]\n'
        f'api_url = "{base}"\nuser_token_env = "{ENV}"',
        "clickhouse": f'kind = "clickhouse"\nurl = "{base}"\ntable = "t"\ntime_column = "ts"\n'
        f'link_column = "p"\npassword_env = "{ENV}"',
    }


@pytest.fixture
def listener() -> Iterator[str]:
    """A loopback server that accepts, reads a little and answers 200 `{}` (port 0)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1.0)
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def campaign(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(
        '[campaign]\nname = "sweep"\nlink = "https://example.com/launch"\n'
        f'posted_at = "2026-11-25T14:00:00Z"\n\n[[sources]]\n{table}\ninterval = 0.2\n'
        "timeout = 0.5\n",
        encoding="utf-8",
    )
    return path


def clean(text: str) -> None:
    for word in SHOWN:
        assert word not in text, text


@pytest.mark.parametrize("value", list(BAD_VALUES), ids=list(BAD_VALUES))
@pytest.mark.parametrize("kind", list(tables("http://h")))
def test_a_bad_secret_is_refused_at_load_naming_only_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: str, kind: str, value: str
) -> None:
    monkeypatch.setenv(ENV, BAD_VALUES[value])
    monkeypatch.setenv("ENGMON_SWEEP_USER", "reader")
    path = campaign(tmp_path, tables(listener)[kind])
    runner = CliRunner()
    for args in (["check", str(path)], ["watch", str(path), "--plain", "--duration", "0.5"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and ENV in result.output, result.output
        clean(result.output)


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let bad secrets through the load check, to reach every error path behind it."""
    import engmon.sources.options

    monkeypatch.setattr(engmon.sources.options, "secret_flaw", lambda value: None)


@pytest.mark.parametrize("value", list(BAD_VALUES), ids=list(BAD_VALUES))
@pytest.mark.usefixtures("unchecked")
def test_errors_behind_the_load_check_never_show_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: str, value: str
) -> None:
    monkeypatch.setenv(ENV, BAD_VALUES[value])
    monkeypatch.setenv("ENGMON_SWEEP_USER", "reader")
    every = "\n\n[[sources]]\n".join(
        f'{table}\nname = "{kind}"' for kind, table in tables(listener).items()
    )
    path = campaign(tmp_path, every)
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(path)])
    assert checked.exit_code == 2 and checked.output.count("FAIL ") >= 8, checked.output
    record = tmp_path / "sweep.ndjson"
    watched = runner.invoke(
        main, ["watch", str(path), "--plain", "--record", str(record), "--duration", "1"]
    )
    assert watched.exit_code == 0, watched.output
    for text in (checked.output, watched.output, record.read_text(encoding="utf-8")):
        clean(text)


@pytest.mark.parametrize("value", list(BAD_VALUES), ids=list(BAD_VALUES))
@pytest.mark.usefixtures("unchecked")
async def test_the_dashboard_never_shows_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: str, value: str
) -> None:
    from engmon.config import load_campaign
    from engmon.tui.app import EngmonApp
    from engmon.watch.session import Session

    monkeypatch.setenv(ENV, BAD_VALUES[value])
    monkeypatch.setenv("ENGMON_SWEEP_USER", "reader")
    every = "\n\n[[sources]]\n".join(
        f'{table}\nname = "{kind}"' for kind, table in tables(listener).items()
    )
    watch = Session.open(load_campaign(campaign(tmp_path, every)), tmp_path / "d.ndjson")
    app = EngmonApp(watch)
    shown: list[str] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        shown.append(f"{kwargs.get('title', '')}: {message}")
        original(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=(140, 44)) as pilot:
        for _ in range(300):
            if all(p.status.errors or p.status.polls for p in app.pollers.values()):
                break
            await pilot.pause(0.02)
        assert all(p.status.errors for p in app.pollers.values()), [
            (p.status.name, p.status.state) for p in app.pollers.values()
        ]
        await pilot.pause(0.2)
        svg = app.export_screenshot()
        errors = [p.status.last_error or "" for p in app.pollers.values()]
    watch.close()
    assert shown  # the failures were notified
    for text in (svg, "\n".join(shown), "\n".join(errors)):
        clean(text)
