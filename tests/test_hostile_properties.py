"""Generated garbage thrown at every reader and at the config loader.

Each must end in one of two ways: a clean result (every row within `engmon.core.bounds`) or
one `EngmonError` whose message is a single line. Anything else (a traceback from polars, an
OverflowError, a RecursionError, a hang) is a bug the corpus in tests/data/hostile/ missed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engmon.config import load_campaign
from engmon.core import bounds
from engmon.errors import EngmonError, SourceError
from engmon.sources.files import FileSpec, load_observations
from engmon.sources.httpjson import HttpJsonSource

SETTINGS = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

# --- pieces of hostile input --------------------------------------------------------------

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "[@click=app.quit]",
            "[/]oops[link=",
            "\x1b]52;c;aGFjaw==\x07",
            "\x9b2J",
            "\u202e",
            "=cmd|' /C calc'!A0",
            "",
            "nan",
            "-inf",
            "1e308",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-14:00",
            "2026-11-25T14:00:00Z",
            "true",
        ]
    ),
)
nasty_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, -1, 1e15, -1e15, 1e308, 2**63, 1.7e9, 1_764_079_200]),
)
cell = st.one_of(nasty_text, nasty_number.map(str))
times = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat()),
    nasty_number.map(str),
    nasty_text,
)


def ends_cleanly(read: Callable[[], Any]) -> Any:
    """Run `read`; accept a result or one single-line EngmonError, nothing else."""
    try:
        return read()
    except EngmonError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip(), message
        return None


def accepted_rows_are_sane(frame: pl.DataFrame) -> None:
    """Whatever a reader lets through lies inside engmon.core.bounds."""
    assert bounds.first_problem(frame) is None


def read_file(name: str, data: bytes, **options: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        loaded = ends_cleanly(lambda: load_observations(FileSpec.from_cli(path, **options)))
        if loaded is not None:
            accepted_rows_are_sane(loaded.frame)


# --- readers --------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.tuples(times, cell, cell, cell), min_size=0, max_size=8))
def test_csv_reader(rows: list[tuple[str, str, str, str]]) -> None:
    lines = ["ts,metric,value,reach"] + [
        ",".join(json.dumps(part) if "," in part or '"' in part else part for part in row)
        for row in rows
    ]
    read_file("garbage.csv", ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), nasty_number, nasty_text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {"ts": st.one_of(times, json_value), "metric": json_value, "value": json_value},
            optional={"reach": json_value, "kind": json_value, "width_s": json_value},
        ),
        max_size=6,
    )
)
def test_ndjson_reader(rows: list[dict[str, Any]]) -> None:
    text = "\n".join(json.dumps(row, allow_nan=True) for row in rows) + "\n"
    read_file("garbage.ndjson", text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_as_every_format(data: bytes) -> None:
    for name, read_as in (
        ("garbage.csv", "auto"),
        ("garbage.ndjson", "observations"),
        ("garbage.txt", "cascade"),
        ("garbage.log", "access-log"),
        ("garbage.ndjson", "recording"),
        ("garbage.parquet", "auto"),
    ):
        read_file(name, data, file_format=read_as)


@SETTINGS
@given(st.lists(st.tuples(nasty_number, nasty_number), min_size=1, max_size=6))
def test_cascade_reader(pairs: list[tuple[float, float]]) -> None:
    text = "\n".join(f"{time} {followers}" for time, followers in pairs) + "\n"
    read_file("cascade.txt", text.encode(), file_format="cascade")


@SETTINGS
@given(
    json_value,
    st.lists(
        st.dictionaries(
            st.sampled_from(["ts", "kind", "metric", "value", "reach", "width_s"]), json_value
        ),
        max_size=4,
    ),
)
def test_recording_reader(campaign: Any, rows: list[dict[str, Any]]) -> None:
    head = {"engmon": "recording", "version": 1, "campaign": campaign, "started": None}
    text = "\n".join(json.dumps(line, allow_nan=True) for line in [head, *rows]) + "\n"
    read_file("rec.ndjson", text.encode("utf-8", "surrogatepass"))


parquet_column = st.one_of(
    st.lists(nasty_number, min_size=2, max_size=2),
    st.lists(nasty_text, min_size=2, max_size=2),
    st.lists(st.none() | st.booleans(), min_size=2, max_size=2),
    st.lists(st.lists(st.integers(-5, 5), max_size=2), min_size=2, max_size=2),
    st.lists(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        min_size=2,
        max_size=2,
    ),
)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["ts", "metric", "value", "reach", "kind", "width_s", "referrer"]),
        parquet_column,
        min_size=1,
    )
)
def test_parquet_reader(columns: dict[str, list[Any]]) -> None:
    try:
        frame = pl.DataFrame(columns, strict=False)
    except (pl.exceptions.PolarsError, OverflowError, TypeError, ValueError):
        return  # not a table polars can even write
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "garbage.parquet"
        try:
            frame.write_parquet(path)
        except (pl.exceptions.PolarsError, OverflowError):
            return
        loaded = ends_cleanly(lambda: load_observations(FileSpec.from_cli(path)))
        if loaded is not None:
            accepted_rows_are_sane(loaded.frame)


# --- the config loader ----------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A TOML literal for a generated value (strings through JSON escapes, nan/inf as TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=True)


toml_scalar = st.one_of(st.booleans(), nasty_number, nasty_text)
toml_any = st.one_of(toml_scalar, st.lists(toml_scalar, max_size=3))
campaign_keys = st.sampled_from(["name", "link", "posted_at", "followers", "record", "bogus"])
source_keys = st.sampled_from(
    ["kind", "name", "interval", "timeout", "url", "shape", "time", "value", "width_s", "path"]
)
kinds = st.sampled_from(["http-json", "access-log", "umami", "bitly", "mastodon", "nope", ""])


@SETTINGS
@given(
    st.dictionaries(campaign_keys, toml_any, max_size=5),
    st.lists(st.tuples(kinds, st.dictionaries(source_keys, toml_any, max_size=6)), max_size=2),
    st.dictionaries(st.sampled_from(["spike_per_min", "flat_minutes", "cooldown_s"]), toml_any),
)
def test_config_loader(
    campaign: dict[str, Any], sources: list[tuple[str, dict[str, Any]]], alerts: dict[str, Any]
) -> None:
    lines = ["[campaign]"] + [f"{key} = {toml_value(value)}" for key, value in campaign.items()]
    for kind, table in sources:
        lines.append("[[sources]]")
        lines.append(f"kind = {toml_value(kind)}")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in table.items() if k != "kind")
    if alerts:
        lines.append("[alerts]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in alerts.items())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "campaign.toml"
        path.write_text("\n".join(lines) + "\n")
        config = ends_cleanly(lambda: load_campaign(path))
        if config is not None:
            post_time = config.campaign.post_time
            assert post_time is None or bounds.time_problem(post_time) is None
            for source in config.sources:
                assert 0 < source.interval <= 86_400 and 0 < source.timeout <= 600


# --- a live feed ----------------------------------------------------------------------------


@SETTINGS
@given(st.lists(json_value, max_size=5))
def test_http_json_rows(items: list[Any]) -> None:
    source = HttpJsonSource(
        "feed", url="http://127.0.0.1:9/x", shape="buckets", time_field="t", value_field="v"
    )
    wrapped = [{"t": item, "v": item} if not isinstance(item, dict) else item for item in items]
    now = datetime(2026, 11, 25, 14, tzinfo=UTC)
    try:
        frame = source.rows(wrapped, now)
    except SourceError as exc:
        assert "\n" not in str(exc).strip()
        return
    accepted_rows_are_sane(frame)


@pytest.mark.parametrize("value", [math.nan, math.inf, "nan", "Infinity", -5, 1e300, True])
def test_http_json_refuses_a_count_it_could_not_show_honestly(value: Any) -> None:
    # shown as "clicks nan" and recorded as something else before: now the poll fails, named
    source = HttpJsonSource(
        "feed", url="http://127.0.0.1:9/x", shape="buckets", time_field="t", value_field="v"
    )
    answer = [{"t": "2026-11-25T14:00:00Z", "v": value}]
    with pytest.raises(SourceError, match="item 0"):
        source.rows(answer, datetime(2026, 11, 25, 14, 5, tzinfo=UTC))
