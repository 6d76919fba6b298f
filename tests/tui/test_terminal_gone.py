"""A dashboard whose terminal has gone away quits instead of spinning on the dead tty."""

from __future__ import annotations

import os
import pty
import sys

import pytest
from conftest import MakeApp


async def test_quits_when_the_terminal_hangs_up(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(10)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        exits: list[bool] = []
        monkeypatch.setattr(app, "exit", lambda *args, **kwargs: exits.append(True))
        app.check_terminal()  # stdin is not a terminal here either: start from a live one
        master, slave = pty.openpty()
        with os.fdopen(slave, "rb", buffering=0) as tty:
            monkeypatch.setattr(sys, "__stdin__", tty)
            exits.clear()
            app.check_terminal()
            assert exits == []  # the terminal is there
            os.close(master)  # the terminal emulator (tmux server, SSH link) is gone
            app.check_terminal()
            assert exits == [True]
