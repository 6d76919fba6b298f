"""A watch shown in another time zone: plain lines in local time, the recording still UTC."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from vendor_server import TOKEN, VendorServer, campaign_toml, source_tables

from engmon.config import load_campaign
from engmon.core.zone import set_display_zone
from engmon.watch.plain import watch_plain
from engmon.watch.session import Session

ZONE = "Asia/Kathmandu"  # +05:45: no hour of it reads like UTC


@pytest.fixture(autouse=True)
def utc_again() -> Iterator[None]:
    yield
    set_display_zone(None)


async def test_plain_watch_stamps_local_and_records_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_TEST_TOKEN", TOKEN)
    server = VendorServer().start()
    try:
        server.add(datetime.now(UTC), 3)
        path = campaign_toml(tmp_path, source_tables(server.base)["bitly"])
        path.write_text(
            path.read_text().replace("[campaign]\n", f'[campaign]\ntz = "{ZONE}"\n'), "utf-8"
        )
        config = load_campaign(path)
        assert config.campaign.tz == ZONE
        set_display_zone(config.campaign.tz)  # as `engmon watch` does
        record = tmp_path / "rec.ndjson"
        watch = Session.open(config, record)
        out = io.StringIO()
        task = asyncio.create_task(watch_plain(watch, out=out))
        for _ in range(500):
            if watch.store.minutes().filter(pl.col("metric") == "clicks").height:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        watch.close()
    finally:
        server.stop()
    line = next(line for line in out.getvalue().splitlines() if "clicks" in line)
    stamp = datetime.strptime(line[:8], "%H:%M:%S").time()
    now_local = datetime.now(ZoneInfo(ZONE))
    gap = abs(
        (datetime.combine(now_local.date(), stamp) - now_local.replace(tzinfo=None)).total_seconds()
    )
    assert min(gap, 86400 - gap) < 120  # the line's clock is Kathmandu's, not UTC's
    rows = [json.loads(raw) for raw in record.read_text().splitlines()[1:]]
    assert rows and all(row["ts"].endswith("Z") for row in rows)  # stored: UTC, as always
    first = datetime.fromisoformat(rows[0]["ts"].replace("Z", "+00:00"))
    assert abs((first - datetime.now(UTC)).total_seconds()) < 600
