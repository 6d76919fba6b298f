"""ClickHouse source against real servers: one node, two shards behind a Distributed table.

The servers are the Debian `clickhouse-server` binary started by the fixture on loopback with
data in a temporary directory. Without a binary the tests skip, except under CI=true where a
missing server fails the run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from clickhouse_local import (
    CLUSTER_NAME,
    EVENT_COLUMNS,
    LINK,
    LOCKED_USER,
    POST_TIME,
    READER_PASSWORD,
    READER_USER,
    READS_USER,
    LocalServer,
    find_server_binary,
    free_port,
    generate_events,
    polars_minutes,
    polars_top,
    start_cluster,
    tab_separated,
)
from polars.testing import assert_frame_equal

from engmon.core.campaign import Campaign
from engmon.core.schema import breakdown_rows
from engmon.core.store import ObservationStore
from engmon.errors import (
    ConfigError,
    SourceAuthError,
    SourceNotFound,
    SourceResponseError,
    SourceUnreachable,
)
from engmon.sources.clickhouse import source as clickhouse
from engmon.sources.options import SourceOptions
from engmon.watch.poller import SourcePoller

END = POST_TIME + timedelta(hours=3, minutes=5)
EVENT_COUNT = 20_000


def _require_server() -> None:
    if find_server_binary() is not None:
        return
    reason = "no clickhouse-server binary (apt-get install clickhouse-server)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    """The generated events every server and polars reference hold."""
    return generate_events(EVENT_COUNT)


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, events: pl.DataFrame
) -> Iterator[list[LocalServer]]:
    """Two servers: node0 holds every event; both hold half in `shard_events` (Distributed)."""
    _require_server()
    nodes = start_cluster(tmp_path_factory.mktemp("clickhouse"), 2)
    try:
        first = nodes[0]
        first.query(f"CREATE TABLE events ({EVENT_COLUMNS}) ENGINE = MergeTree ORDER BY ts")
        first.query("INSERT INTO events FORMAT TabSeparated", tab_separated(events))
        halves = (events.gather_every(2), events.gather_every(2, offset=1))
        for node, half in zip(nodes, halves, strict=True):
            node.query(
                f"CREATE TABLE shard_events ({EVENT_COLUMNS}) ENGINE = MergeTree ORDER BY ts"
            )
            node.query("INSERT INTO shard_events FORMAT TabSeparated", tab_separated(half))
        first.query(
            "CREATE TABLE events_all AS shard_events"
            f" ENGINE = Distributed({CLUSTER_NAME}, default, shard_events, rand())"
        )
        _create_plausible(first)
        first.query(
            "CREATE TABLE nginx_access (timestamp DateTime, remote_addr String, path String,"
            " referer String, status UInt16) ENGINE = MergeTree ORDER BY timestamp"
        )
        first.query(
            "INSERT INTO nginx_access SELECT ts, concat('10.0.', toString(user_id)), path,"
            " referrer, 200 FROM events"
        )
        # A view that takes ~2 s per query: the server-side timeout test reads it.
        first.query(
            "CREATE VIEW slow_events AS SELECT toDateTime('2024-05-06 14:00:00') + sleep(2) AS ts,"
            " '/launch' AS path"
        )
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _create_plausible(server: LocalServer) -> None:
    """A Plausible CE shaped events_v2 table: the link's pageviews plus rows to be ignored."""
    server.query("CREATE DATABASE plausible_events_db")
    server.query(
        "CREATE TABLE plausible_events_db.events_v2 (timestamp DateTime, name String,"
        " site_id UInt64, pathname String, referrer_source String,"
        " country_code FixedString(2), screen_size String, user_id UInt64, session_id UInt64)"
        " ENGINE = MergeTree ORDER BY (site_id, toDate(timestamp), name, user_id, timestamp)"
    )
    for site, name in ((1, "pageview"), (2, "pageview"), (1, "Signup")):
        server.query(
            "INSERT INTO plausible_events_db.events_v2 SELECT ts, "
            f"'{name}', {site}, path, referrer, toFixedString(country, 2), device, user_id,"
            " user_id * 7 FROM default.events"
        )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The shared client the app would pass to every poll."""
    async with httpx.AsyncClient() as shared:
        yield shared


def make_source(table: dict[str, Any], **campaign: Any) -> clickhouse.ClickHouseSource:
    """Build a source from a config table, as `engmon watch` would."""
    defaults: dict[str, Any] = {"name": "launch", "post_time": POST_TIME}
    return clickhouse.SOURCE.build(
        SourceOptions({"kind": "clickhouse", **table}, "campaign.toml: sources[1] (clickhouse)"),
        Campaign(**(defaults | campaign)),
    )


def plain(url: str, **extra: Any) -> dict[str, Any]:
    """A config table for the generated `events` table."""
    return {
        "url": url,
        "table": "events",
        "time_column": "ts",
        "link_column": "path",
        "referrer_column": "referrer",
        "country_column": "country",
        "device_column": "device",
        "visitor_column": "user_id",
        "link": LINK,
    } | extra


def curve(frame: pl.DataFrame) -> pl.DataFrame:
    """Observation bucket rows -> minute, clicks, visitors (same shape as polars_minutes)."""
    return (
        frame.filter(pl.col("kind") == "bucket", pl.col("width_s") == 60)
        .pivot("metric", index="ts", values="value")
        .rename({"ts": "minute"})
        .select("minute", "clicks", "visitors")
        .sort("minute")
    )


def top(frame: pl.DataFrame, dimension: str) -> pl.DataFrame:
    """Breakdown rows of one dimension -> value, clicks in the order the server ranked them."""
    return frame.filter(pl.col("source").str.ends_with(f":{dimension}")).select(
        value=pl.col(dimension).cast(pl.String), clicks=pl.col("value")
    )


# --- results equal polars --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "extra"),
    [
        ("events", {}),
        ("events_all", {}),  # Distributed table over both shards
        ("shard_events", {"cluster": CLUSTER_NAME}),  # cluster() table function, readonly=2
    ],
    ids=["single-node", "distributed", "cluster-function"],
)
async def test_curve_and_breakdowns_equal_polars(
    servers: list[LocalServer],
    events: pl.DataFrame,
    client: httpx.AsyncClient,
    table: str,
    extra: dict[str, Any],
) -> None:
    source = make_source(plain(servers[0].url, table=table, **extra))
    result = await source.poll(client, END)
    expected = polars_minutes(events, LINK, END)
    assert expected.height > 100
    assert_frame_equal(curve(result.frame), expected)
    for dimension in ("referrer", "country", "device"):
        assert_frame_equal(top(result.frame, dimension), polars_top(events, LINK, dimension, END))
    assert source.client.binding == "external"  # 18.16 has no query parameters


async def test_incremental_polls_replace_overlap_and_match_polars(
    servers: list[LocalServer], events: pl.DataFrame, client: httpx.AsyncClient
) -> None:
    source = make_source(plain(servers[0].url, overlap_minutes=2, breakdown_interval=600))
    store = ObservationStore(POST_TIME)
    moments = [POST_TIME + timedelta(minutes=m, seconds=30) for m in (3, 4, 9, 60, 185)]
    first_minutes: list[int] = []
    for moment in moments:
        result = await source.poll(client, moment)
        store.merge(result.frame)
        earliest = result.frame.filter(pl.col("width_s") == 60).select(
            (pl.col("ts").min() - POST_TIME).dt.total_minutes()
        )
        first_minutes.append(int(earliest.item()))
    # Later polls start two complete minutes before the previous poll's minute.
    assert first_minutes == [0, 1, 2, 7, 58]
    held = store.buckets().filter(pl.col("width_s") == 60)
    assert_frame_equal(
        curve(held.with_columns(kind=pl.lit("bucket"))), polars_minutes(events, LINK, END)
    )
    clicks = store.minutes().filter(pl.col("metric") == "clicks")
    assert clicks["value"].sum() == polars_minutes(events, LINK, END)["clicks"].sum()


async def test_breakdowns_run_at_their_own_cadence(
    servers: list[LocalServer], client: httpx.AsyncClient
) -> None:
    source = make_source(plain(servers[0].url, breakdown_interval=300))
    first = await source.poll(client, END)
    second = await source.poll(client, END + timedelta(seconds=10))
    third = await source.poll(client, END + timedelta(seconds=301))
    assert first.frame.filter(pl.col("width_s") == 0).height > 0
    assert second.frame.filter(pl.col("width_s") == 0).height == 0
    assert third.frame.filter(pl.col("width_s") == 0).height > 0


async def test_plausible_preset_counts_one_site_pageviews(
    servers: list[LocalServer], events: pl.DataFrame, client: httpx.AsyncClient
) -> None:
    source = make_source(
        {"url": servers[0].url, "preset": "plausible", "match": {"site_id": 1}},
        link="https://example.com/launch?utm_source=x",
    )
    result = await source.poll(client, END)
    assert_frame_equal(curve(result.frame), polars_minutes(events, LINK, END))
    countries = top(result.frame, "country")
    assert_frame_equal(countries, polars_top(events, LINK, "country", END))
    assert countries["value"].null_count() == 1  # FixedString '\0\0' is an unknown country


async def test_nginx_preset_counts_requests_and_addresses(
    servers: list[LocalServer], events: pl.DataFrame, client: httpx.AsyncClient
) -> None:
    source = make_source({"url": servers[0].url, "preset": "nginx", "link": LINK})
    result = await source.poll(client, END)
    assert_frame_equal(curve(result.frame), polars_minutes(events, LINK, END))
    assert_frame_equal(top(result.frame, "referrer"), polars_top(events, LINK, "referrer", END))
    assert top(result.frame, "country").is_empty()  # raw access logs carry no country


async def test_transfer_stays_small(servers: list[LocalServer], client: httpx.AsyncClient) -> None:
    source = make_source(plain(servers[0].url))
    result = await source.poll(client, END)
    assert 0 < result.facts["bytes_received"] < 64 * 1024


async def test_past_post_loader_runs_the_same_queries(
    servers: list[LocalServer], events: pl.DataFrame
) -> None:
    frame = await _in_thread(
        clickhouse.load_clickhouse_observations, plain(servers[0].url), POST_TIME, END
    )
    assert_frame_equal(curve(frame), polars_minutes(events, LINK, END))
    assert_frame_equal(top(frame, "referrer"), polars_top(events, LINK, "referrer", END))


async def _in_thread(func: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(func, *args)


# --- binding and safety ----------------------------------------------------------------------


async def test_query_parameters_are_refused_by_old_server_with_clear_error(
    servers: list[LocalServer], client: httpx.AsyncClient
) -> None:
    source = make_source(plain(servers[0].url, binding="parameters"))
    with pytest.raises(SourceResponseError, match="param_") as caught:
        await source.poll(client, END)
    assert "\n" not in str(caught.value)


async def test_parameters_binding_sends_values_outside_the_sql() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if b"system.settings" in request.content:
            return httpx.Response(200, content=b'{"version":"24.3.1","readonly":"0"}\n')
        return httpx.Response(200, content=b'{"minute":1714989600,"clicks":3,"visitors":2}\n')

    transport = httpx.MockTransport(answer)
    source = make_source(plain("http://ch.example:8123", binding="parameters", link="/x'\t; DROP"))
    async with httpx.AsyncClient(transport=transport) as mock:
        result = await source.poll(mock, END)
    assert dict(seen[0].url.params) == {}  # the probe sends no settings: any profile answers
    sql = seen[1].content.decode()
    assert "{link:String}" in sql and "DROP" not in sql
    assert seen[1].url.params["param_link"] == "/x'\\t; DROP"  # Escaped text format
    assert seen[1].url.params["readonly"] == "1"
    assert seen[1].url.params["max_execution_time"] == "9"
    curve = result.frame.filter(~breakdown_rows() & (pl.col("metric") == "clicks"))
    assert curve["value"].to_list() == [3.0]


async def test_hostile_link_value_is_data_not_sql(
    servers: list[LocalServer], client: httpx.AsyncClient
) -> None:
    source = make_source(plain(servers[0].url, link="/launch' OR 1=1 --"))
    result = await source.poll(client, END)
    assert result.frame.height == 0


def test_describe_shows_sql_but_never_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CH_PASSWORD", "hunter2-very-secret")
    source = make_source(plain("http://127.0.0.1:8123", password_env="CH_PASSWORD"))
    text = source.describe()
    assert "SELECT toUInt32(toStartOfMinute(`ts`)) AS minute" in text
    assert "uniqExact(`user_id`)" in text
    assert "$CH_PASSWORD" in text
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"table": "events; DROP TABLE x"}, "'table' must be a plain identifier"),
        ({"table": "events\n"}, "'table' must be a plain identifier"),
        ({"time_column": "ts`"}, "'time_column' must be a plain identifier"),
        ({"match": {"a b": 1}}, "'match.a b' must be a plain identifier"),
        ({"url": "http://u:p@host:8123"}, "must not carry credentials"),
        ({"url": "ftp://host"}, "http:// or https://"),
        ({"password_env": "ENGMON_UNSET_VARIABLE"}, "ENGMON_UNSET_VARIABLE"),
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"preset": "mysql"}, "'preset' must be one of"),
    ],
)
def test_config_errors_name_the_key(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        make_source(plain("http://127.0.0.1:8123") | extra)


def test_link_defaults_to_campaign_link_path() -> None:
    table = plain("http://127.0.0.1:8123")
    del table["link"]
    source = make_source(table, link="https://example.com/launch?ref=x")
    assert source.config.link == "/launch"


# --- faults: one clear line, visible status, never a crash -----------------------------------


async def test_server_down_is_unreachable(client: httpx.AsyncClient) -> None:
    source = make_source(plain(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(SourceUnreachable, match=r"cannot reach ClickHouse at 127\.0\.0\.1"):
        await source.poll(client, END)
    poller = SourcePoller(source)
    assert await poller.poll_once(client, END) is None
    assert poller.status.state == "retrying"
    assert "cannot reach ClickHouse" in (poller.status.last_error or "")


async def test_wrong_password_is_auth_error_without_the_secret(
    servers: list[LocalServer], client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CH_PASSWORD", "not-the-password")
    source = make_source(plain(servers[0].url, user=READER_USER, password_env="CH_PASSWORD"))
    with pytest.raises(SourceAuthError, match="rejected user 'reader'") as caught:
        await source.poll(client, END)
    assert "not-the-password" not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("user", "profile", "sent"),
    [
        ("default", 0, {"readonly", "max_execution_time", "wait_end_of_query"}),
        (READS_USER, 2, {"max_execution_time", "wait_end_of_query"}),
        (LOCKED_USER, 1, set()),
    ],
)
async def test_readonly_follows_the_profile_the_server_reports(
    servers: list[LocalServer],
    events: pl.DataFrame,
    client: httpx.AsyncClient,
    user: str,
    profile: int,
    sent: set[str],
) -> None:
    source = make_source(plain(servers[0].url, user=user))
    result = await source.poll(client, END)
    assert_frame_equal(curve(result.frame), polars_minutes(events, LINK, END))
    assert source.client.profile_readonly == profile
    assert set(source.client._settings()) == sent
    assert f"readonly={profile or 1}" in source.describe()


async def test_cluster_function_under_a_readonly_2_profile(
    servers: list[LocalServer], events: pl.DataFrame, client: httpx.AsyncClient
) -> None:
    table = plain(servers[0].url, user=READS_USER, table="shard_events", cluster=CLUSTER_NAME)
    result = await make_source(table).poll(client, END)
    assert_frame_equal(curve(result.frame), polars_minutes(events, LINK, END))


async def test_cluster_function_under_a_readonly_1_profile_says_the_fix(
    servers: list[LocalServer], client: httpx.AsyncClient
) -> None:
    table = plain(servers[0].url, user=LOCKED_USER, table="shard_events", cluster=CLUSTER_NAME)
    with pytest.raises(SourceAuthError, match=r"readonly=1 profile.*give it readonly=2") as caught:
        await make_source(table).poll(client, END)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("auth", ["headers", "basic"])
async def test_right_password_works_both_ways(
    servers: list[LocalServer],
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    auth: str,
) -> None:
    monkeypatch.setenv("CH_PASSWORD", READER_PASSWORD)
    table = plain(servers[0].url, user=READER_USER, password_env="CH_PASSWORD", auth=auth)
    result = await make_source(table).poll(client, END)
    assert result.frame.height > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"table": "no_such_table"}, "no_such_table doesn't exist; check database/table"),
        ({"database": "nodb"}, "Database nodb doesn't exist; check database/table"),
    ],
)
async def test_missing_table_or_column_is_not_found(
    servers: list[LocalServer], client: httpx.AsyncClient, extra: dict[str, Any], message: str
) -> None:
    source = make_source(plain(servers[0].url, **extra))
    with pytest.raises(SourceNotFound, match=message) as caught:
        await source.poll(client, END)
    assert "\n" not in str(caught.value)


async def test_a_missing_breakdown_column_is_said_and_the_curve_kept(
    servers: list[LocalServer], client: httpx.AsyncClient
) -> None:
    source = make_source(plain(servers[0].url, referrer_column="no_such_column"))
    result = await source.poll(client, END)
    assert curve(result.frame).height > 100
    assert isinstance(result.partial_error, SourceNotFound)
    assert "no_such_column; check the *_column keys" in str(result.partial_error)


async def test_server_side_timeout_names_max_execution_time(
    servers: list[LocalServer], client: httpx.AsyncClient
) -> None:
    table = {
        "url": servers[0].url,
        "table": "slow_events",
        "time_column": "ts",
        "link_column": "path",
        "link": LINK,
        "max_execution_time": 1,
        "timeout": 10,
    }
    with pytest.raises(SourceResponseError, match="exceeded max_execution_time=1s"):
        await make_source(table).poll(client, END)


class _SilentHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        time.sleep(1.5)  # longer than the client's timeout
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


async def test_client_timeout_is_unreachable(client: httpx.AsyncClient) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SilentHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        source = make_source(plain(url, binding="external", timeout=0.3))
        with pytest.raises(SourceUnreachable, match="no answer from ClickHouse within"):
            await source.poll(client, END)
    finally:
        server.shutdown()
        server.server_close()


async def test_non_clickhouse_error_page_is_mapped(client: httpx.AsyncClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as mock:
        source = make_source(plain("http://ch.example:8123", binding="external"))
        with pytest.raises(SourceResponseError, match="HTTP 502"):
            await source.poll(mock, END)


# --- CLI: a past post exported to an observation file ----------------------------------------


def _campaign_toml(path: Path, url: str, **extra: Any) -> Path:
    table = plain(url, **extra)
    lines = ["[campaign]", 'name = "launch"', f'link = "https://example.com{LINK}"', ""]
    lines += ["[[sources]]", 'kind = "umami"', "", "[[sources]]", 'kind = "clickhouse"']
    for key, value in table.items():
        if key != "link":
            lines.append(f"{key} = {value!r}".replace("'", '"'))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_export_writes_the_same_observations(
    servers: list[LocalServer], events: pl.DataFrame, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from engmon.cli import main

    config = _campaign_toml(tmp_path / "campaign.toml", servers[0].url)
    out = tmp_path / "launch.parquet"
    start = POST_TIME.isoformat()
    result = CliRunner().invoke(
        main,
        ["clickhouse-export", str(config), "--start", start, "--span", "3h5m", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert_frame_equal(curve(frame), polars_minutes(events, LINK, END))
    assert_frame_equal(top(frame, "device"), polars_top(events, LINK, "device", END))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "yesterday"], "--start 'yesterday' is not an ISO 8601 time"),
        (["--start", "2024-05-06T14:00", "--span", "soon"], "--span 'soon' is not a duration"),
        (["--start", "2024-05-06T14:00", "--source", "other"], "named 'other'"),
        (["--start", "2024-05-06T14:00", "--out", "x.csv"], "must end in .parquet"),
        (["--start", "2024-05-06T14:00", "--out", "no/such/x.parquet"], "does not exist"),
        (["--start", "2024-05-06T14:00", "--span", "inf"], "--span 'inf' is not a duration"),
        (["--start", "9999-12-31T23:00", "--span", "2h"], "is not between 1900 and 2999"),
        (["--start", "2999-12-31T23:00", "--span", "2h"], "--span '2h'"),
    ],
)
def test_cli_export_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    from click.testing import CliRunner

    from engmon.cli import main

    config = _campaign_toml(tmp_path / "campaign.toml", "http://127.0.0.1:1")
    out = ["--out", str(tmp_path / "x.parquet")] if "--out" not in args else []
    result = CliRunner().invoke(main, ["clickhouse-export", str(config), *args, *out])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_cli_export_server_down_is_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engmon.cli import main

    config = _campaign_toml(tmp_path / "campaign.toml", f"http://127.0.0.1:{free_port()}")
    args = ["--start", "2024-05-06T14:00", "--out", str(tmp_path / "x.parquet")]
    result = CliRunner().invoke(main, ["clickhouse-export", str(config), *args])
    assert result.exit_code == 2
    assert result.output.startswith("engmon: clickhouse: cannot reach ClickHouse")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("campaign = 5\n", "[campaign] must be a table"),
        ('[campaign]\nname = "x"\nlink = 5\n', "key 'link' must be a URL string"),
        ('[campaign]\nname = "x"\n[[sources]]\nkind = "umami"\n', "no [[sources]] table"),
        ("[campaign\n", "line 1, column"),
    ],
)
def test_cli_export_reads_the_campaign_file_like_watch(
    tmp_path: Path, text: str, message: str
) -> None:
    from click.testing import CliRunner

    from engmon.cli import main

    config = tmp_path / "campaign.toml"
    config.write_text(text)
    args = ["clickhouse-export", str(config), "--start", "2024-05-06T14:00"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.count("\n") == 1


# --- progress, summaries, exports of an exact window -----------------------------------------


async def test_summary_counts_clicks_not_breakdown_rows(
    servers: list[LocalServer], events: pl.DataFrame, client: httpx.AsyncClient
) -> None:
    result = await make_source(plain(servers[0].url)).poll(client, END)
    clicks = polars_minutes(events, LINK, END)["clicks"].sum()
    assert f", {clicks:g} clicks, breakdowns" in result.summary


async def test_a_failed_breakdown_keeps_the_buckets_and_is_asked_again() -> None:
    asked: list[str] = []
    fail = {"country"}

    def answer(request: httpx.Request) -> httpx.Response:
        sql = request.url.params.get("query", "")
        if b"system.settings" in request.content:
            return httpx.Response(200, content=b'{"version":"18.16.1","readonly":"0"}\n')
        if "AS minute" in sql:
            asked.append("buckets")
            return httpx.Response(200, content=b'{"minute":1714989600,"clicks":3,"visitors":2}\n')
        dimension = next(d for d in ("referrer", "country", "device") if f"`{d}`" in sql)
        asked.append(dimension)
        if dimension in fail:
            return httpx.Response(500, text="Code: 999, e.displayText() = DB::Exception: boom")
        return httpx.Response(200, content=b'{"value":"x","clicks":3}\n')

    source = make_source(plain("http://ch.example:8123"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as mock:
        first = await source.poll(mock, END)
        fail.clear()
        second = await source.poll(mock, END + timedelta(seconds=10))
        third = await source.poll(mock, END + timedelta(seconds=20))
    assert asked == ["buckets", "referrer", "country", "buckets", "country", "device", "buckets"]
    assert curve(first.frame)["clicks"].to_list() == [3.0]  # kept despite the failure
    assert "error 999" in str(first.partial_error) and second.partial_error is None
    assert top(first.frame, "referrer").height == 1
    assert {s.split(":")[1] for s in second.frame["source"].to_list() if ":" in s} == {
        "country",
        "device",
    }
    assert third.frame.filter(pl.col("width_s") == 0).is_empty()


def test_cli_export_off_a_whole_minute_keeps_the_exact_window(
    servers: list[LocalServer], events: pl.DataFrame, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from engmon.cli import main

    start = POST_TIME + timedelta(minutes=1, seconds=30)
    end = start + timedelta(minutes=1)
    truth = events.filter(
        (pl.col("path") == LINK) & (pl.col("ts") >= start) & (pl.col("ts") < end)
    ).height
    floored = events.filter(
        (pl.col("path") == LINK)
        & (pl.col("ts") >= POST_TIME + timedelta(minutes=1))
        & (pl.col("ts") < end)
    ).height
    assert 0 < truth < floored
    config = _campaign_toml(tmp_path / "campaign.toml", servers[0].url)
    for name in ("window.parquet", "window.ndjson"):
        out = tmp_path / name
        args = ["--start", start.isoformat(), "--span", "1m", "--out", str(out)]
        result = CliRunner().invoke(main, ["clickhouse-export", str(config), *args])
        assert result.exit_code == 0, result.output
        report = CliRunner().invoke(main, ["report", str(out), "--format", "json"])
        assert report.exit_code == 0, report.output
        document = json.loads(report.output)
        assert document["post_time"] == start.isoformat().replace("+00:00", "Z")
        assert document["metrics"]["clicks"]["count"] == truth
        assert document["buckets"]["clicks"][0]["at_s"] == 0
