"""The live `access-log` source: following a growing log through rotation and truncation."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
import pytest

from engmon.core.campaign import Campaign
from engmon.core.store import ObservationStore
from engmon.errors import ConfigError
from engmon.sources import accesslog
from engmon.sources.accesslog.tail import AccessLogSource
from engmon.sources.options import SourceOptions
from engmon.watch.poller import SourcePoller

AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0 Safari/537.36"
CAMPAIGN = Campaign("launch", link="https://www.example.com/launch")


def hit(second: int, ip: str = "81.2.69.142", target: str = "/launch") -> str:
    minute, sec = divmod(second, 60)
    return (
        f'{ip} - - [12/Mar/2025:08:{minute:02d}:{sec:02d} +0000] "GET {target} HTTP/1.1" 200 9'
        f' "https://t.co/x" "{AGENT}"\n'
    )


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def source_for(path: Path, **table: object) -> AccessLogSource:
    options = SourceOptions({"kind": "access-log", "path": str(path), **table}, "test.toml")
    return accesslog.SOURCE.build(options, CAMPAIGN)


def clicks(frame: pl.DataFrame) -> list[str]:
    return frame.filter(pl.col("metric") == "clicks").get_column("id").to_list()


def test_reads_only_new_lines_and_keeps_a_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0) + hit(1, target="/other"))
    source = source_for(log)
    first = source.poll_sync()
    assert len(clicks(first.frame)) == 1
    assert source.poll_sync().frame.is_empty()
    line = hit(2)
    append(log, line[:40])  # the server has written half a line
    assert source.poll_sync().frame.is_empty()
    append(log, line[40:] + hit(3))
    got = clicks(source.poll_sync().frame)
    assert len(got) == 2 and got[0].endswith(":3") and got[1].endswith(":4")


def test_from_start_false_skips_history(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0) + hit(1))
    source = source_for(log, from_start=False)
    assert source.poll_sync().frame.is_empty()
    append(log, hit(2))
    assert len(clicks(source.poll_sync().frame)) == 1


def test_survives_rename_rotation(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0) + hit(1))
    source = source_for(log)
    ids = clicks(source.poll_sync().frame)
    append(log, hit(2))  # written before logrotate's rename ...
    log.rename(tmp_path / "access.log.1")
    append(tmp_path / "access.log.1", hit(3))  # ... and by the server until it reopens
    assert len(clicks(source.poll_sync().frame)) == 2  # drained from the old file first
    log.write_text(hit(4, ip="81.2.69.160") + hit(5, ip="81.2.69.160"))
    new = source.poll_sync().frame
    ids += clicks(new)
    assert len(clicks(new)) == 2
    assert len(set(ids)) == len(ids) == 4
    append(log, hit(6))
    assert len(clicks(source.poll_sync().frame)) == 1


def test_survives_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0) + hit(1) + hit(2))
    source = source_for(log)
    old = clicks(source.poll_sync().frame)
    inode = os.stat(log).st_ino
    (tmp_path / "access.log.1").write_bytes(log.read_bytes())  # copy ...
    with log.open("r+") as handle:  # ... then truncate in place
        handle.truncate(0)
    append(log, hit(10))
    new = clicks(source.poll_sync().frame)
    assert os.stat(log).st_ino == inode
    assert len(new) == 1 and new[0].endswith(":1")
    assert not set(new) & set(old)  # a new generation: same line number, another id


def test_truncated_and_refilled_past_the_offset_between_polls(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0))
    source = source_for(log)
    assert len(clicks(source.poll_sync().frame)) == 1
    log.write_text(hit(20) + hit(21) + hit(22))  # truncate + rewrite, now longer than before
    assert len(clicks(source.poll_sync().frame)) == 3


def test_missing_file_waits_then_reads(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    source = source_for(log)
    assert source.poll_sync().frame.is_empty()
    log.write_text(hit(0))
    assert len(clicks(source.poll_sync().frame)) == 1


def test_visitors_are_counted_once_across_polls(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0))
    source = source_for(log)
    frames = [source.poll_sync().frame]
    append(log, hit(1) + hit(2, ip="81.2.69.160"))
    frames.append(source.poll_sync().frame)
    frame = pl.concat(frames)
    assert frame.filter(pl.col("metric") == "visitors").height == 2


def test_malformed_lines_show_in_the_poll_summary(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0) + "garbage\n")
    result = source_for(log).poll_sync()
    assert "1 malformed" in result.summary
    assert result.facts["malformed lines"] == 1.0


def test_build_options(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    source = source_for(log, link="", include_bots=True, interval=0.5, format="common")
    assert source.parser.link.path is None and source.interval == 0.5
    assert source.parser.log_format == "common"
    custom = source_for(log, log_format='$remote_addr [$time_local] "$request" $status')
    assert custom.parser.split_plan is not None and custom.parser.split_plan.columns == 3
    with pytest.raises(ConfigError, match="unknown key 'paht'"):
        source_for(log, paht="x")
    with pytest.raises(ConfigError, match="'format' must be one of"):
        source_for(log, format="apache2")
    with pytest.raises(ConfigError, match=r"\.gz"):
        source_for(tmp_path / "access.log.gz")
    with pytest.raises(ConfigError, match="geoip_db"):
        source_for(log, geoip_db=str(tmp_path / "none.mmdb"))
    with pytest.raises(ConfigError, match="utm"):
        source_for(log, utm={"source": "x"})
    with pytest.raises(ConfigError, match="'path' is required"):
        accesslog.SOURCE.build(SourceOptions({"kind": "access-log"}, "test.toml"), CAMPAIGN)


async def test_poller_and_store_see_the_curve_move(tmp_path: Path) -> None:
    """Appending to the followed log moves the per-minute curve (headless live path)."""
    log = tmp_path / "access.log"
    log.write_text(hit(0) + hit(5))
    store = ObservationStore(post_time=datetime(2025, 3, 12, 8, 0, tzinfo=UTC))
    poller = SourcePoller(source_for(log, interval=0.1))
    now = datetime(2025, 3, 12, 8, 10, tzinfo=UTC)
    async with httpx.AsyncClient(timeout=1.0) as client:
        result = await poller.poll_once(client, now)
        assert result is not None
        store.merge(result.frame)
        before = store.minutes().filter(pl.col("metric") == "clicks")
        append(log, hit(65) + hit(70) + hit(75))
        result = await poller.poll_once(client, now)
        assert result is not None
        store.merge(result.frame)
        result = await poller.poll_once(client, now)  # nothing new: nothing double-counted
        assert result is not None
        store.merge(result.frame)
    after = store.minutes().filter(pl.col("metric") == "clicks").sort("minute")
    assert before.get_column("value").to_list() == [2.0]
    assert after.select("minute", "value").rows() == [(0, 2.0), (1, 3.0)]
    assert poller.status.state == "ok"


async def test_a_poll_given_up_by_its_deadline_hands_its_rows_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading moves the file position: rows read by a poll the watch gave up are not lost."""
    import asyncio
    import time

    path = tmp_path / "access.log"
    append(path, hit(1) + hit(2, ip="81.2.69.143"))
    source = source_for(path)
    slow = source.poll_sync

    def slow_poll(now: datetime | None = None) -> object:
        time.sleep(0.3)  # a large first chunk on a busy machine
        return slow(now)

    monkeypatch.setattr(source, "poll_sync", slow_poll)
    async with httpx.AsyncClient() as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(source.poll(client, datetime.now(UTC)), 0.05)
        result = await source.poll(client, datetime.now(UTC))
        assert len(clicks(result.frame)) == 2
        again = await source.poll(client, datetime.now(UTC))
        assert again.frame.is_empty()
    assert source.timeout >= 60  # parsing a log is not a network request


def test_goal_and_visitors_now_across_polls(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0) + hit(1, ip="81.2.69.150"))
    source = source_for(log, goal="/thanks")
    first = source.poll_sync().frame
    now = first.filter(pl.col("metric") == "active").sort("ts")
    assert now.get_column("value").to_list()[0] == 2.0
    append(log, hit(130, target="/thanks") + hit(140, ip="81.2.69.160", target="/thanks"))
    second = source.poll_sync().frame
    reached = second.filter(pl.col("metric") == "conversions")
    assert reached.height == 1  # .160 never clicked the link
    append(log, hit(150, target="/thanks") + hit(170, ip="81.2.69.170"))
    third = source.poll_sync().frame
    assert third.filter(pl.col("metric") == "conversions").is_empty()  # once per visitor
    # the minute 08:02 now holds .170 and, from the first poll, the two of 08:00
    gauge = third.filter(pl.col("metric") == "active").sort("ts")
    assert gauge.get_column("ts").dt.minute().to_list()[0] == 2
    assert gauge.get_column("value").to_list()[0] == 3.0


def test_spam_options(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(hit(0))
    spam = tmp_path / "spammers.txt"
    spam.write_text("# one host per line\nt.co\n\n")
    assert source_for(log, spam_list=str(spam)).poll_sync().frame.is_empty()
    assert not source_for(log).poll_sync().frame.is_empty()
    with pytest.raises(ConfigError, match="spam_list"):
        source_for(log, spam_list=str(tmp_path / "missing.txt"))
    kept = source_for(log, spam_list=str(spam), spam_referrers=False).poll_sync()
    assert not kept.frame.is_empty()
