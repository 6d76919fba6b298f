"""`engmon serve` in a real browser: headless Chromium loads the page from 127.0.0.1, the
dashboard renders, and a key typed into the page reaches it (the help screen opens).

Chromium is driven over the DevTools protocol on a loopback websocket. The page's own
websocket traffic is recorded by a hook installed before the page's scripts run, so the test
reads what the dashboard sent to the browser's terminal. Without Chromium the test skips,
except under CI=true where `.ci/install-system-packages` must have installed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engmon.sources import scenarios

RECORD_FRAMES = """
(() => {
  window.__engmonText = [];
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string") return;
      const bytes = event.data instanceof ArrayBuffer ? event.data : null;
      if (bytes) window.__engmonText.push(new TextDecoder().decode(bytes));
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();
"""
"""Keep the text of every binary frame the page receives (the dashboard's terminal output)."""

SEEN_TEXT = "window.__engmonText.join('').replace(/\\x1b\\[[0-9;?]*[A-Za-z]/g, '')"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def chromium() -> str:
    found = _chromium()
    if found is None:
        reason = "chromium is not installed (.ci/install-system-packages installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def _read_until(stream: Any, pattern: str, process: subprocess.Popen[str]) -> re.Match[str]:
    lines = []
    for line in stream:
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    process.kill()
    raise AssertionError(f"never printed {pattern!r}: {''.join(lines)[-2000:]}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`engmon serve` on a demo file, port 0; yields the printed URL."""
    path = tmp_path / "launch.parquet"
    scenarios.save(scenarios.build("small-account", seed=7), path)
    process = subprocess.Popen(
        [sys.executable, "-m", "engmon", "serve", str(path), "--port", "0", "--speed", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "ENGMON_HISTORY_DIR": str(tmp_path / "history")},
    )
    try:
        match = _read_until(process.stdout, r"on (http://127\.0\.0\.1:\d+/)", process)
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class DevTools:
    """A minimal DevTools protocol client over one websocket (flattened page session)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.session: str | None = None
        self.requests: list[str] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        await self.socket.send_json(message)
        while True:
            reply = await self.socket.receive_json(timeout=30)
            if reply.get("method") == "Network.requestWillBeSent":
                self.requests.append(reply["params"]["request"]["url"])
            if reply.get("id") == ident:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply["result"].get("value")

    async def wait_for_text(self, text: str, timeout: float = 40) -> str:
        seen = ""
        for _ in range(int(timeout * 4)):
            seen = str(await self.evaluate(SEEN_TEXT) or "")
            if text in seen:
                return seen
            await asyncio.sleep(0.25)
        raise AssertionError(f"{text!r} never reached the page; it shows: {seen[-1500:]!r}")

    async def press(self, key: str) -> None:
        await self.call("Input.dispatchKeyEvent", type="keyDown", key=key, text=key)
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=key)


@contextlib.asynccontextmanager
async def browser(executable: str) -> AsyncIterator[DevTools]:
    """Headless Chromium with DevTools on a loopback port, one blank page attached."""
    profile = tempfile.mkdtemp(prefix="engmon-chromium-")
    process = await asyncio.create_subprocess_exec(
        executable,
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",  # a small /dev/shm in containers crashes tabs
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        address = ""
        while not address:
            line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
            assert line, "chromium ended before it opened DevTools"
            if line.startswith("DevTools listening on "):
                address = line.split(" on ", 1)[1].strip()
        assert address.startswith("ws://127.0.0.1:")
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(address, max_msg_size=0) as socket,
        ):
            tools = DevTools(socket)
            target = await tools.call("Target.createTarget", url="about:blank")
            attached = await tools.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            tools.session = attached["sessionId"]
            yield tools
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def test_dashboard_renders_in_chromium_and_takes_keys(chromium: str, served: str) -> None:
    async with browser(chromium) as page:
        await page.call("Network.enable")
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_FRAMES)
        await page.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        await page.call("Page.navigate", url=served)
        # the dashboard's own words arrive through the page's websocket
        await page.wait_for_text("verdict")
        assert await page.evaluate("document.body.classList.contains('-first-byte')")
        await page.call("Runtime.evaluate", expression="document.querySelector('textarea').focus()")
        await page.press("?")
        await page.wait_for_text("Seek back one bucket")  # the help screen lists the keys
        # every request the page made went to the engmon server, nowhere else
        assert page.requests, "the page made no request"
        outside = [url for url in page.requests if not url.startswith(served.rstrip("/"))]
        assert outside == []
