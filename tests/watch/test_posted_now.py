"""`posted_at = "now"`: hits logged before the post are not the campaign's, and a restart
continues the same recording with the first start's post time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engmon.config import load_campaign
from engmon.core.campaign import Campaign
from engmon.sources import accesslog
from engmon.sources.options import SourceOptions
from engmon.watch.recordings import default_recording_path, open_config
from engmon.watch.session import Session

POST = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def hit(at: datetime, ip: int) -> str:
    when = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'81.2.69.{ip} - - [{when}] "GET /launch HTTP/1.1" 200 512 "-" "{AGENT}"\n'


def test_hits_before_the_post_are_left_out(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        hit(POST - timedelta(minutes=2), 1)
        + hit(POST - timedelta(seconds=5), 2)
        + hit(POST + timedelta(minutes=1), 3)
    )
    campaign = Campaign("launch", "https://example.com/launch", POST, 1000)
    options = SourceOptions({"kind": "access-log", "path": str(log)}, "test")
    source = accesslog.SOURCE.build(options, campaign)
    result = source.poll_sync()
    clicks = result.frame.filter(result.frame["metric"] == "clicks")
    assert clicks["ts"].to_list() == [POST + timedelta(minutes=1)]
    assert result.summary == "3 new lines, 1 hit (2 hits before the post left out)"


def test_visitors_now_from_the_first_seconds_of_a_post_made_mid_minute(tmp_path: Path) -> None:
    posted = POST + timedelta(seconds=20)
    log = tmp_path / "access.log"
    log.write_text(
        hit(posted - timedelta(seconds=10), 2)  # before the post: not the campaign's visitor
        + hit(posted + timedelta(seconds=5), 3)
        + hit(posted + timedelta(seconds=20), 4)
    )
    campaign = Campaign("launch", "https://example.com/launch", posted, 1000)
    options = SourceOptions({"kind": "access-log", "path": str(log)}, "test")
    source = accesslog.SOURCE.build(options, campaign)
    now = posted + timedelta(seconds=25)
    frame = source.poll_sync(now).frame
    gauge = frame.filter(frame["metric"] == "active")
    assert gauge["ts"].to_list() == [POST] and gauge["value"].to_list() == [2.0]
    session = Session(campaign, [source])
    session.store.merge(frame)
    standing = session.standing(now)
    assert standing is not None and standing.visitors_now == 2


def campaign_file(folder: Path, log: Path) -> Path:
    path = folder / "c.toml"
    path.write_text(
        f'[campaign]\nname = "Launch"\nlink = "https://example.com/launch"\nposted_at = "now"\n'
        f'[[sources]]\nkind = "access-log"\npath = "{log.name}"\n',
        encoding="utf-8",
    )
    return path


def test_a_restarted_now_campaign_continues_its_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    log = tmp_path / "access.log"
    log.write_text(hit(datetime.now(UTC) - timedelta(minutes=3), 1))
    path = campaign_file(tmp_path, log)
    config, record = open_config(path, None)
    assert record.name == "launch-now.ndjson"
    assert default_recording_path(load_campaign(path)) == record  # the same on every start
    first_post = config.campaign.post_time
    watch = Session.open(config, record)
    (source,) = watch.sources
    assert isinstance(source, accesslog.tail.AccessLogSource)
    watch.accept(source.poll_sync())
    watch.close()
    assert watch.store.rows == 0  # the hit three minutes before the start
    again, record_again = open_config(path, None)
    assert record_again == record and again.campaign.post_time == first_post
