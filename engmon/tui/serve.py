"""`engmon serve`: the dashboard in a web browser, through textual-serve.

Each browser tab that opens the page starts its own `engmon watch` (campaign file) or
`engmon replay` (any other file) with Textual's web driver; keys typed in the page reach that
dashboard, and closing the tab ends it. textual-serve ships xterm.js, its CSS and the font
inside its wheel; engmon serves its own page template (`web/app_index.html`) because the stock
one asks a web-font service for the font, and nothing here may need the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp_jinja2
from aiohttp import web
from aiohttp.web_runner import GracefulExit
from textual_serve.server import Server

from engmon.errors import InputError

TEMPLATES: Final = Path(__file__).parent / "web"
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")


def dashboard_command(target: Path, extra: Sequence[str] = ()) -> str:
    """The shell command each browser tab runs: `watch` for a campaign file, else `replay`.

    textual-serve starts it through a shell, so every part is quoted.
    """
    verb = "watch" if target.suffix.lower() == ".toml" else "replay"
    return shlex.join([sys.executable, "-m", "engmon", verb, str(target), *extra])


def page_url(host: str, port: int) -> str:
    """The address to open; a wildcard bind is shown as this machine's name."""
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = socket.gethostname()
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


class DashboardServer(Server):
    """textual-serve's server with engmon's offline page, a chosen socket and a quiet log."""

    def __init__(self, command: str, *, host: str, port: int, title: str) -> None:
        super().__init__(command, host=host, port=port, title=title, templates_path=TEMPLATES)

    def initialize_logging(self) -> None:
        """Warnings only: the stock server logs every connection at INFO."""
        logging.basicConfig(level=logging.WARNING, format="%(message)s")

    async def on_startup(self, app: web.Application) -> None:
        """Say where to look (the stock banner is textual-serve's, not engmon's)."""
        print(f"engmon: serving {self.title} on {page_url(self.host, self.port)}", flush=True)
        if self.host not in LOOPBACK:
            print("engmon: anyone who can reach this address can see and drive it", flush=True)
        print("engmon: press Ctrl+C to stop", flush=True)

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """The page; its websocket address is the one the browser used to reach us, so a
        page opened through another name or address (`--host 0.0.0.0`) still connects."""
        ws_scheme = "wss" if request.scheme == "https" else "ws"
        base = f"{request.scheme}://{request.host}"
        try:
            font_size = int(request.query.get("fontsize", "16"))
        except ValueError:
            font_size = 16
        return {
            "font_size": max(6, min(font_size, 48)),
            "app_websocket_url": f"{ws_scheme}://{request.host}/ws",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
        }

    def serve(self, debug: bool = False) -> None:
        """Serve until Ctrl+C or SIGTERM. Port 0 picks a free port (the printed URL has it)."""
        self.debug = debug
        self.initialize_logging()
        try:
            listener = socket.create_server(
                (self.host, self.port),
                family=socket.AF_INET6 if ":" in self.host else socket.AF_INET,
            )
        except OSError as exc:
            what = exc.strerror or type(exc).__name__
            raise InputError(
                f"--host {self.host} --port {self.port}: cannot listen: {what}"
            ) from None
        self.port = int(listener.getsockname()[1])
        self.public_url = page_url(self.host, self.port).rstrip("/")
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # a background job starts with SIGINT ignored: install the handlers explicitly
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, self.request_exit)
        with contextlib.suppress(GracefulExit):
            web.run_app(
                self._make_app(), sock=listener, handle_signals=False, loop=loop, print=None
            )


def serve_dashboard(
    target: Path,
    extra: Sequence[str] = (),
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> None:
    """Serve the dashboard of `target` (campaign file or replayable file) until stopped."""
    command = dashboard_command(target, extra)
    DashboardServer(command, host=host, port=port, title=f"engmon {target.name}").serve()
