"""Start throwaway ClickHouse servers on loopback (tests, benchmarks, trying the source out).

The Debian package's service may not start in a container, so this runs the server binary
directly with a generated config: free ports on 127.0.0.1, data and logs in a directory of
the caller's choosing, a passwordless `default` user and a password-protected `reader`.
`start_cluster` starts several servers that share a `remote_servers` entry, so a
`Distributed` table over them can be queried through any node (no ZooKeeper needed without
replication). `generate_events` makes the deterministic click events that the tests and
`bench/clickhouse.py` load into both ClickHouse and polars.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import numpy as np
import polars as pl

SERVER_CANDIDATES = (
    "clickhouse-server",
    "/usr/sbin/clickhouse-server",
    "/usr/bin/clickhouse-server",
    "/usr/bin/clickhouse",
)
READER_USER = "reader"
READER_PASSWORD = "reader-secret"  # a test-only credential of a throwaway local server
LOCKED_USER = "locked"  # profile readonly=1: may not change any setting per query
READS_USER = "reads"  # profile readonly=2: reads and settings, but `readonly` itself is fixed
CLUSTER_NAME = "engmon_shards"


def find_server_binary() -> list[str] | None:
    """The command that runs a ClickHouse server here, or None when none is installed."""
    override = os.environ.get("ENGMON_CLICKHOUSE_SERVER")
    if override:  # a path to use instead, or e.g. "none" to act as if nothing were installed
        found = shutil.which(override)
        return [found] if found else None
    for candidate in SERVER_CANDIDATES:
        path = shutil.which(candidate)
        if path is None:
            continue
        # The single `clickhouse` binary of upstream builds needs the `server` subcommand.
        return [path, "server"] if Path(path).name == "clickhouse" else [path]
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalServer:
    """One running server process: its HTTP URL, ports and directory."""

    directory: Path
    http_port: int
    tcp_port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Base URL of the HTTP interface."""
        return f"http://127.0.0.1:{self.http_port}"

    def query(self, sql: str, data: bytes | None = None, *, timeout: float = 60.0) -> str:
        """Run one statement as the `default` user (setup only: DDL, inserts); the body text."""
        if data is None:
            response = httpx.post(self.url, content=sql.encode(), timeout=timeout)
        else:
            response = httpx.post(self.url, params={"query": sql}, content=data, timeout=timeout)
        if response.status_code != 200:
            raise RuntimeError(f"ClickHouse setup query failed: {response.text.strip()[:300]}")
        return response.text

    def stop(self) -> None:
        """Terminate the process (then kill it if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _config(server: LocalServer, shards: list[tuple[int, int]]) -> str:
    base = escape(str(server.directory))
    remote = "".join(
        f"<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>"
        for _http, tcp in shards
    )
    return f"""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{base}/server.log</log>
    <errorlog>{base}/server.err.log</errorlog><console>0</console></logger>
  <http_port>{server.http_port}</http_port>
  <tcp_port>{server.tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{base}/data/</path>
  <tmp_path>{base}/tmp/</tmp_path>
  <user_files_path>{base}/user_files/</user_files_path>
  <format_schema_path>{base}/format_schemas/</format_schema_path>
  <users_config>{base}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <timezone>UTC</timezone>
  <remote_servers><{CLUSTER_NAME}>{remote}</{CLUSTER_NAME}></remote_servers>
</yandex>
"""


USERS_XML = f"""<?xml version="1.0"?>
<yandex>
  <profiles><default/><locked><readonly>1</readonly></locked>
    <reads><readonly>2</readonly></reads></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <{READER_USER}><password>{READER_PASSWORD}</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></{READER_USER}>
    <{LOCKED_USER}><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>locked</profile><quota>default</quota></{LOCKED_USER}>
    <{READS_USER}><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>reads</profile><quota>default</quota></{READS_USER}>
  </users>
  <quotas><default/></quotas>
</yandex>
"""


def _launch(command: list[str], server: LocalServer, shards: list[tuple[int, int]]) -> None:
    server.directory.mkdir(parents=True, exist_ok=True)
    config = server.directory / "config.xml"
    config.write_text(_config(server, shards))
    (server.directory / "users.xml").write_text(USERS_XML)
    log = (server.directory / "stdout.log").open("wb")
    server.process = subprocess.Popen(
        [*command, f"--config-file={config}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=server.directory,
    )
    log.close()


def _wait_ready(server: LocalServer, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            log = (server.directory / "stdout.log").read_text(errors="replace")[-500:]
            raise RuntimeError(f"ClickHouse server exited at start: {log.strip()}")
        try:
            if httpx.get(f"{server.url}/ping", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"ClickHouse server on port {server.http_port} did not answer in time")


def start_cluster(directory: Path, count: int = 1, *, wait: float = 30.0) -> list[LocalServer]:
    """Start `count` servers under `directory` (one subdirectory each) and wait until all answer.

    Every server knows the cluster `engmon_shards` made of all of them (one shard each).
    Raises RuntimeError when no binary is installed or a server does not come up.
    """
    command = find_server_binary()
    if command is None:
        raise RuntimeError("no clickhouse-server binary found (apt-get install clickhouse-server)")
    servers = [LocalServer(directory / f"node{i}", free_port(), free_port()) for i in range(count)]
    shards = [(s.http_port, s.tcp_port) for s in servers]
    try:
        for server in servers:
            _launch(command, server, shards)
        deadline = time.monotonic() + wait
        for server in servers:
            _wait_ready(server, deadline)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


# --- generated click events (deterministic), shared by tests and bench ----------------


POST_TIME = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
LINK = "/launch"
PATHS = (LINK, "/", "/pricing", "/blog/launch")
REFERRERS = (
    "",
    "Twitter",
    "Hacker News",
    "Google",
    "Mastodon",
    "Bluesky",
    "Reddit",
    "LinkedIn",
    "Newsletter",
    "GitHub",
    "DuckDuckGo",
    "Lobsters",
    "Facebook",
)
COUNTRIES = ("US", "DE", "GB", "FR", "JP", "BR", "IN", "")
DEVICES = ("Desktop", "Mobile", "Tablet", "Laptop")
EVENT_COLUMNS = (
    "ts DateTime, path String, referrer String, country String, device String, user_id UInt64"
)


def _pick(rng: np.random.Generator, values: tuple[str, ...], count: int, p: Any) -> pl.Series:
    codes = rng.choice(len(values), count, p=p).astype(np.uint32)
    return pl.Series(codes).replace_strict(range(len(values)), values, return_dtype=pl.Enum(values))


def generate_events(count: int, *, seed: int = 7, span_s: int = 3 * 3600) -> pl.DataFrame:
    """`count` events after POST_TIME, decaying like a shared post; whole-second timestamps.

    String columns are Enums so 10M rows fit in a few hundred MB.
    """
    rng = np.random.default_rng(seed)
    offsets = np.minimum(rng.exponential(span_s / 4, count), span_s - 1).astype(np.int64)
    ref_weights = 1.0 / np.arange(1, len(REFERRERS) + 1)
    ref_weights /= ref_weights.sum()
    start = int(POST_TIME.timestamp())
    return pl.DataFrame(
        {
            "ts": pl.from_epoch(pl.Series(start + offsets), time_unit="s").dt.replace_time_zone(
                "UTC"
            ),
            "path": _pick(rng, PATHS, count, [0.7, 0.1, 0.1, 0.1]),
            "referrer": _pick(rng, REFERRERS, count, ref_weights),
            "country": _pick(rng, COUNTRIES, count, None),
            "device": _pick(rng, DEVICES, count, None),
            "user_id": rng.integers(1, max(2, count // 3), count, dtype=np.uint64),
        }
    )


def tab_separated(events: pl.DataFrame) -> bytes:
    """The events as ClickHouse TabSeparated rows (no header) matching EVENT_COLUMNS."""
    text = events.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(
        separator="\t", include_header=False, quote_style="never"
    )
    return text.encode()


def polars_minutes(events: pl.DataFrame, link: str, end: datetime) -> pl.DataFrame:
    """The per-minute curve computed by polars: minute, clicks, visitors (the reference)."""
    return (
        events.lazy()
        .filter((pl.col("path") == link) & (pl.col("ts") >= POST_TIME) & (pl.col("ts") < end))
        .group_by(minute=pl.col("ts").dt.truncate("1m"))
        .agg(clicks=pl.len().cast(pl.Float64), visitors=pl.col("user_id").n_unique())
        .with_columns(pl.col("visitors").cast(pl.Float64))
        .sort("minute")
        .collect()
    )


def polars_top(
    events: pl.DataFrame, link: str, column: str, end: datetime, top: int = 10
) -> pl.DataFrame:
    """Top `top` values of `column` by clicks, ties by value; '' shown as null (unknown)."""
    return (
        events.lazy()
        .filter((pl.col("path") == link) & (pl.col("ts") >= POST_TIME) & (pl.col("ts") < end))
        .group_by(value=pl.col(column).cast(pl.String))
        .agg(clicks=pl.len().cast(pl.Float64))
        .sort(["clicks", "value"], descending=[True, False])
        .head(top)
        .with_columns(value=pl.when(pl.col("value") != "").then(pl.col("value")))
        .collect()
    )
