"""Reading files into observation frames: formats, mapping options, and every bad input."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from engmon.core.campaign import RELATIVE_ANCHOR, Campaign
from engmon.core.recording import RecordingWriter
from engmon.core.schema import OBSERVATION_SCHEMA, conform
from engmon.core.store import ObservationStore
from engmon.errors import ConfigError, EmptyInputError, EngmonError, FileFormatError, InputError
from engmon.sources import files
from engmon.sources.files import FileSpec, load_observations
from engmon.sources.files import chunks as _chunks

POST = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
OBS_CSV = (
    "ts,metric,value,reach,referrer\n"
    "2026-03-10T14:02:00Z,clicks,1,,https://t.co/abc\n"
    "2026-03-10T16:01:30+02:00,reposts,1,530,\n"
    "2026-03-10T14:00:05.250Z,clicks,2,,\n"
)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def load(path: Path, **options: Any) -> files.LoadedFile:
    return load_observations(FileSpec.from_cli(path, **options))


def one_line_error(kind: type[EngmonError], call: Callable[[], object], *parts: str) -> str:
    with pytest.raises(kind) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message
    return message


# --- formats ---------------------------------------------------------------------------------


def test_csv_in_the_observation_schema(tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", OBS_CSV)
    loaded = load(path)
    frame = loaded.frame
    assert frame.schema == OBSERVATION_SCHEMA
    assert frame.get_column("ts").to_list() == [
        datetime(2026, 3, 10, 14, 0, 5, 250_000, tzinfo=UTC),
        datetime(2026, 3, 10, 14, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 10, 14, 2, tzinfo=UTC),
    ]
    assert frame.get_column("id").to_list() == ["l4", "l3", "l2"]
    assert set(frame.get_column("source")) == {"obs.csv"}
    assert frame.get_column("reach").to_list() == [None, 530, None]
    assert frame.get_column("value").to_list() == [2.0, 1.0, 1.0]
    assert loaded.campaign == Campaign("obs", None, frame.get_column("ts").min(), None)  # type: ignore[arg-type]


def test_ndjson_and_parquet_read_the_same(tmp_path: Path) -> None:
    csv_frame = load(write(tmp_path, "a.csv", OBS_CSV)).frame
    ndjson = write(
        tmp_path,
        "a.ndjson",
        '{"ts": "2026-03-10T14:02:00Z", "metric": "clicks", "value": 1, "referrer": "https://t.co/abc"}\n'
        '{"ts": "2026-03-10T16:01:30+02:00", "metric": "reposts", "value": 1, "reach": 530}\n'
        "\n"
        '{"ts": "2026-03-10T14:00:05.250Z", "metric": "clicks", "value": 2.0}\n',
    )
    nd = load(ndjson).frame
    assert nd.drop("id", "source").equals(csv_frame.drop("id", "source"))
    assert nd.get_column("id").to_list() == ["l4", "l2", "l1"]  # blank line 3 keeps numbering
    parquet = tmp_path / "a.parquet"
    csv_frame.drop("id", "source").write_parquet(parquet)
    pq = load(parquet).frame
    assert pq.drop("id", "source").equals(csv_frame.drop("id", "source"))
    assert pq.get_column("id").to_list() == ["r1", "r2", "r3"]


def test_epoch_seconds_are_absolute(tmp_path: Path) -> None:
    stamp = int(POST.timestamp())
    path = write(tmp_path, "e.csv", f"ts,metric,value\n{stamp},clicks,1\n{stamp + 60},likes,1\n")
    frame = load(path).frame
    assert frame.get_column("ts").to_list() == [POST, datetime(2026, 3, 10, 14, 1, tzinfo=UTC)]


def test_foreign_file_through_the_mapping_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "export.csv",
        "elapsed_ms,who_follows,cc,kind_of\n0,10,DE,share\n90000,2500,US,share\n",
    )
    loaded = load(
        path,
        time_column="elapsed_ms",
        time_unit="ms",
        relative=True,
        post_time="2026-03-10T15:00:00+01:00",
        metric_name="reposts",
        reach_column="who_follows",
        dimensions=("country=cc",),
        followers=1200,
    )
    frame = loaded.frame
    assert frame.get_column("ts").to_list() == [POST, datetime(2026, 3, 10, 14, 1, 30, tzinfo=UTC)]
    assert frame.get_column("metric").to_list() == ["reposts", "reposts"]
    assert frame.get_column("value").to_list() == [1.0, 1.0]
    assert frame.get_column("reach").to_list() == [10, 2500]
    assert frame.get_column("country").to_list() == ["DE", "US"]
    assert loaded.campaign.post_time == POST and loaded.campaign.followers == 1200


def test_metric_and_value_columns_and_hours(tmp_path: Path) -> None:
    path = write(tmp_path, "h.tsv", "hours\twhat\tn\n0.5\tclicks\t3\n1\tlikes\t2\n")
    frame = load(
        path, time_column="hours", time_unit="h", metric_column="what", value_column="n"
    ).frame
    assert frame.get_column("metric").to_list() == ["clicks", "likes"]
    assert frame.get_column("value").to_list() == [3.0, 2.0]
    offsets = (frame.get_column("ts") - RELATIVE_ANCHOR).dt.total_seconds().to_list()
    assert offsets == [1800, 3600]


def test_cascade_without_header_and_followers_override(tmp_path: Path) -> None:
    path = write(tmp_path, "c.txt", "0 500\n12 40\n30 7\n")
    loaded = load(path, followers=9000)
    assert loaded.campaign.followers == 9000
    assert loaded.frame.get_column("reach").to_list() == [40, 7]
    assert loaded.frame.get_column("id").to_list() == ["l2", "l3"]
    assert load(path).campaign.followers == 500


def test_recording_with_a_cut_off_last_line_is_read_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "watch.ndjson"
    writer = RecordingWriter(path, Campaign("launch", "https://example.com", POST, 1200), POST)
    writer.append(pl.DataFrame({"ts": [POST], "metric": ["clicks"], "value": [1.0], "id": ["x"]}))
    writer.close()
    with path.open("a") as handle:
        handle.write('{"ts": "2026-03-10T14:0')
    loaded = load(path)
    assert loaded.frame.height == 1
    assert loaded.campaign.followers == 1200 and loaded.campaign.link == "https://example.com"
    assert loaded.notes and "cut-off" in loaded.notes[0]


def test_the_same_file_twice_counts_once(tmp_path: Path) -> None:
    path = write(tmp_path, "obs.csv", OBS_CSV)
    store = ObservationStore(post_time=POST)
    store.merge(load(path).frame)
    store.merge(load(path).frame)
    assert store.minutes().get_column("value").sum() == 4.0


def test_large_file_reports_progress_and_lines_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files.chunks, "CHUNK_BYTES", 256)
    rows = "".join(f"2026-03-10T14:{i // 60:02d}:{i % 60:02d}Z,clicks,1\n" for i in range(200))
    path = write(tmp_path, "big.csv", "ts,metric,value\n" + rows)
    seen: list[float] = []
    frame = load_observations(FileSpec.from_cli(path), progress=seen.append).frame
    assert frame.height == 200
    assert len(seen) > 10 and seen == sorted(seen) and seen[-1] == 1.0
    assert frame.get_column("id").to_list()[-1] == "l201"
    broken = write(tmp_path, "big.csv", "ts,metric,value\n" + rows + "yesterday,clicks,1\n")
    one_line_error(FileFormatError, lambda: load(broken), "line 202", "'yesterday'")


def test_quoted_newlines_survive_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        files.chunks, "CHUNK_BYTES", 64
    )  # smaller than one record: every cut is tested
    texts = ['a "quoted"\nreferrer\non three lines', "plain", '""', "x,\ny"]
    rows = "".join(
        f'2026-03-10T14:00:{i:02d}Z,clicks,1,"{texts[i % 4].replace(chr(34), chr(34) * 2)}"\n'
        for i in range(40)
    )
    path = write(tmp_path, "quoted.csv", "ts,metric,value,referrer\n" + rows)
    frame = load_observations(FileSpec.from_cli(path)).frame
    assert frame.height == 40
    assert frame.get_column("referrer").to_list()[:4] == [t or None for t in texts]


def test_a_stray_quote_across_chunks_is_an_error_not_a_runaway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files.chunks, "CHUNK_BYTES", 64)
    rows = "".join(f"2026-03-10T14:00:{i % 60:02d}Z,clicks,1,/p\n" for i in range(300))
    path = write(
        tmp_path, "stray.csv", 'ts,metric,value,path\n2026-03-10T14:00:00Z,clicks,1,/a"b\n' + rows
    )
    with pytest.raises(FileFormatError, match=r"stray\.csv"):
        load(path)


def test_access_logs_go_to_the_access_log_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = '1.2.3.4 - - [10/Mar/2026:14:00:00 +0000] "GET /blog/launch HTTP/1.1" 200 5 "-" "curl"\n'
    path = write(tmp_path, "access", line)
    calls: list[Path] = []

    def read_access_log(path: Path, **kwargs: Any) -> types.SimpleNamespace:
        calls.append(path)
        assert kwargs["link"] is None
        rows = pl.DataFrame({"ts": [POST], "metric": ["clicks"], "value": [1.0]})
        return types.SimpleNamespace(frame=conform(rows).collect(), notes=[])

    fake = types.ModuleType("engmon.sources.accesslog.reader")
    fake.read_access_log = read_access_log  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engmon.sources.accesslog.reader", fake)
    loaded = load(path)
    assert calls == [path] and loaded.frame.height == 1
    monkeypatch.setitem(sys.modules, "engmon.sources.accesslog.reader", None)
    one_line_error(FileFormatError, lambda: load(path), "access", "not installed")


# --- bad input: one line naming the file (and the line) --------------------------------------


def test_missing_file_and_directory(tmp_path: Path) -> None:
    one_line_error(InputError, lambda: load(tmp_path / "nope.csv"), "nope.csv", "no such file")
    one_line_error(InputError, lambda: load(tmp_path), str(tmp_path), "directory")


def test_unknown_format(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.xyz", "hello there\nnothing to see\n")
    one_line_error(FileFormatError, lambda: load(path), "notes.xyz", "unknown format")


def test_missing_or_misnamed_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "time,metric,count\n2026-03-10T14:00:00Z,clicks,1\n")
    message = one_line_error(FileFormatError, lambda: load(path), "m.csv", "'ts'")
    assert "columns present: time, metric, count" in message
    path = write(tmp_path, "v.csv", "ts,metric\n2026-03-10T14:00:00Z,clicks\n")
    one_line_error(FileFormatError, lambda: load(path), "'value'", "--value-column")
    one_line_error(
        FileFormatError, lambda: load(path, dimensions=("country=cc",)), "'cc'", "country=cc"
    )


def test_unparsable_timestamp_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", OBS_CSV + "last tuesday,clicks,1,,\n")
    one_line_error(FileFormatError, lambda: load(path), "t.csv", "line 5", "'last tuesday'")


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    one_line_error(EmptyInputError, lambda: load(write(tmp_path, "e.csv", "")), "e.csv", "empty")
    one_line_error(EmptyInputError, lambda: load(write(tmp_path, "e.txt", "\n\n")), "e.txt")
    header = write(tmp_path, "h.csv", "ts,metric,value\n")
    one_line_error(EmptyInputError, lambda: load(header), "h.csv", "header")


def test_binary_junk(tmp_path: Path) -> None:
    junk = bytes(range(256)) * 8
    one_line_error(FileFormatError, lambda: load(write(tmp_path, "j.bin", junk)), "j.bin", "binary")
    one_line_error(FileFormatError, lambda: load(write(tmp_path, "j.csv", junk)), "j.csv", "binary")
    bad_parquet = write(tmp_path, "j.parquet", b"PAR1" + junk)
    one_line_error(FileFormatError, lambda: load(bad_parquet), "j.parquet", "Parquet")


def test_text_in_another_encoding_names_the_line(tmp_path: Path) -> None:
    latin1 = OBS_CSV.replace("https://t.co/abc", "https://café.fr/").encode("latin-1")
    one_line_error(
        FileFormatError,
        lambda: load(write(tmp_path, "l.csv", latin1)),
        "l.csv",
        "line 2",
        "not UTF-8",
        "0xE9",
    )
    rows = "".join(f"2026-03-10T14:{n % 60:02d}:00Z,clicks,1,,ref{n}\n" for n in range(3000))
    deep = (OBS_CSV + rows).encode() + "2026-03-10T14:03:00Z,clicks,1,,café\n".encode("latin-1")
    one_line_error(
        FileFormatError, lambda: load(write(tmp_path, "d.csv", deep)), "line 3005", "not UTF-8"
    )


def test_parquet_text_stored_as_bytes_reads_when_utf8_and_names_the_row_when_not(
    tmp_path: Path,
) -> None:
    from engmon.sources.files.parquet import scan_parquet_observations

    when = datetime(2026, 3, 10, 14, tzinfo=UTC)
    ok = tmp_path / "b.parquet"
    rows = {"ts": [when, when], "metric": ["clicks"] * 2, "value": [1.0, 1.0]}
    pl.DataFrame({**rows, "referrer": [b"https://t.co/abc", None]}).write_parquet(ok)
    assert load(ok).frame.get_column("referrer").to_list() == ["https://t.co/abc", None]
    # the lazy scan would only meet the bytes when counting: such files take the full loader
    assert scan_parquet_observations(FileSpec.from_cli(ok)) is None
    bad = tmp_path / "x.parquet"
    pl.DataFrame({**rows, "referrer": [b"ok", b"caf\xe9"]}).write_parquet(bad)
    one_line_error(FileFormatError, lambda: load(bad), "x.parquet", "row 2", "not UTF-8")
    spans = tmp_path / "s.parquet"
    pl.DataFrame({**rows, "reach": [timedelta(seconds=5)] * 2}).write_parquet(spans)
    assert scan_parquet_observations(FileSpec.from_cli(spans)) is None
    one_line_error(FileFormatError, lambda: load(spans), "s.parquet", "'reach'", "durations")


def test_gzip_tables_read_like_plain_ones(tmp_path: Path) -> None:
    import gzip

    plain = load(write(tmp_path, "spring.csv", OBS_CSV))
    packed = load(write(tmp_path, "spring.csv.gz", gzip.compress(OBS_CSV.encode())))
    assert packed.frame.drop("source").equals(plain.frame.drop("source"))
    assert packed.campaign.name == "spring"
    rows = '{"ts": "2026-03-10T14:02:00Z", "metric": "clicks", "value": 3}\n'
    for name in ("rows.ndjson.gz", "rows.gz"):
        loaded = load(write(tmp_path, name, gzip.compress(rows.encode())))
        assert loaded.frame.get_column("value").to_list() == [3.0]
    data = gzip.compress(("ts,metric,value\n" + "2026-03-10T14:02:00Z,clicks,1\n" * 5000).encode())
    cut = write(tmp_path, "cut.csv.gz", data[: len(data) // 2])
    one_line_error(FileFormatError, lambda: load(cut), "cut.csv.gz", "damaged gzip")


def test_a_line_without_end_is_refused_before_it_fills_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(_chunks, "MAX_LINE_BYTES", 4096)
    endless = write(tmp_path, "x.csv", "ts,metric,value\n" + "9" * 20_000)
    one_line_error(FileFormatError, lambda: load(endless), "x.csv", "line 2", "longer than")


def test_negative_counts_and_nan(tmp_path: Path) -> None:
    negative = write(tmp_path, "n.csv", OBS_CSV + "2026-03-10T14:03:00Z,clicks,-2,,\n")
    one_line_error(FileFormatError, lambda: load(negative), "n.csv", "line 5", "negative")
    for bad in ("NaN", "inf"):
        path = write(tmp_path, "f.csv", OBS_CSV + f"2026-03-10T14:03:00Z,clicks,{bad},,\n")
        one_line_error(FileFormatError, lambda p=path: load(p), "line 5", "NaN or infinite")  # type: ignore[misc]
    words = write(tmp_path, "w.csv", OBS_CSV + "2026-03-10T14:03:00Z,clicks,many,,\n")
    one_line_error(FileFormatError, lambda: load(words), "line 5", "not a number")
    reach = write(tmp_path, "r.csv", OBS_CSV + "2026-03-10T14:03:00Z,reposts,1,-5,\n")
    one_line_error(FileFormatError, lambda: load(reach), "line 5", "negative follower")
    cascade = write(tmp_path, "c.txt", "0 10\n5 -3\n")
    one_line_error(FileFormatError, lambda: load(cascade), "c.txt", "line 2", "negative")


def test_cut_off_last_line(tmp_path: Path) -> None:
    csv_cut = write(tmp_path, "cut.csv", OBS_CSV + "2026-03-10T14:03:00Z,cli")
    one_line_error(FileFormatError, lambda: load(csv_cut), "cut.csv", "line 5", "cut off")
    nd_cut = write(
        tmp_path,
        "cut.ndjson",
        '{"ts": "2026-03-10T14:02:00Z", "metric": "clicks", "value": 1}\n{"ts": "2026-03-',
    )
    one_line_error(FileFormatError, lambda: load(nd_cut), "cut.ndjson", "line 2", "cut off")
    cascade_cut = write(tmp_path, "cut.txt", "2 1.5\n0 10\n5 3\n6")
    one_line_error(FileFormatError, lambda: load(cascade_cut), "cut.txt", "line 4", "cut off")
    # a complete last line without a final newline is fine
    assert load(write(tmp_path, "ok.csv", OBS_CSV.rstrip("\n"))).frame.height == 3


def test_bad_json_line_and_bad_kind(tmp_path: Path) -> None:
    path = write(
        tmp_path, "b.ndjson", '{"ts": "2026-03-10T14:02:00Z", "metric": "x", "value": 1}\n[1,2]\n'
    )
    one_line_error(FileFormatError, lambda: load(path), "b.ndjson", "line 2")
    kind = write(
        tmp_path, "k.csv", "ts,metric,value,kind\n2026-03-10T14:02:00Z,clicks,1,sometimes\n"
    )
    one_line_error(FileFormatError, lambda: load(kind), "line 2", "'kind'")


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    one_line_error(
        ConfigError, lambda: FileSpec.from_cli(path, dimensions=("country",)), "NAME=COLUMN"
    )
    one_line_error(
        ConfigError, lambda: FileSpec.from_cli(path, dimensions=("city=c",)), "'city'", "referrer"
    )
    one_line_error(
        ConfigError, lambda: FileSpec.from_cli(path, post_time="soon"), "--post-time", "'soon'"
    )
    one_line_error(
        ConfigError, lambda: FileSpec.from_cli(path, metric_name="a", metric_column="b"), "--metric"
    )
