"""`engmon demo --live`: a campaign whose web server access log is being written right now.

A generator thread appends nginx `combined` lines to `access.log` in a folder (a temporary
one for the demo) the way a web server would while a shared link takes off: clicks on the
link from X, LinkedIn, Hacker News and direct visits, plus the noise a real log has (other
pages, static assets, link-preview bots, a 404 now and then) that the access-log source must
leave out. Beside it, `campaign.toml` is an ordinary campaign file with one `access-log`
source, so the demo runs the same watch as `engmon watch` does: polling, recording, alerts.
Nothing leaves the machine.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, TextIO

import numpy as np

LINK: Final = "https://example.com/blog/launch"
LINK_PATH: Final = "/blog/launch"
FOLLOWERS: Final = 15_000
POSTED_AGO: Final = timedelta(minutes=5)
"""The post went out this long before the demo starts: the first poll reads that backlog."""
PEAK_PER_MIN: Final = 150.0
PEAK_MINUTE: Final = 8.0
SPIKE_PER_MIN: Final = 15
"""The demo's spike alert: crossed within seconds of the start."""
TICK_S: Final = 0.5

_REFERRERS: Final = (
    ("https://t.co/x1Yz", 0.5),
    ("-", 0.2),
    ("https://www.linkedin.com/", 0.12),
    ("https://news.ycombinator.com/", 0.1),
    ("https://l.facebook.com/", 0.08),
)
# first octets of networks the bundled geo database places in US, GB, DE, FR, IN, BR, JP
_NETWORKS: Final = ("8.8", "81.2", "85.214", "90.84", "49.36", "177.32", "126.0")
_AGENTS: Final = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36",
        0.45,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        0.35,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Mobile Safari/537.36",
        0.15,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        0.05,
    ),
)
_NOISE: Final = (
    ("/", 200, _AGENTS[0][0]),
    ("/static/site.css", 200, _AGENTS[1][0]),
    ("/favicon.ico", 200, _AGENTS[0][0]),
    (LINK_PATH, 200, "Twitterbot/1.0"),
    (LINK_PATH, 200, "facebookexternalhit/1.1"),
    ("/blog/launch-old", 404, _AGENTS[2][0]),
)
NOISE_SHARE: Final = 0.2
"""One written line in five is something the source must not count."""


def clicks_per_minute(minute: float) -> float:
    """The demo's click rate `minute` minutes after the post: a rise to a peak at minute 8,
    then the slow power-law fade of a shared post."""
    if minute <= 0:
        return 0.0
    if minute <= PEAK_MINUTE:
        return PEAK_PER_MIN * (minute / PEAK_MINUTE) ** 2
    return PEAK_PER_MIN * float((minute / PEAK_MINUTE) ** -1.2)


def expected_clicks(start_min: float, end_min: float) -> float:
    """Clicks expected between two minutes after the post (the rate's integral)."""
    steps = max(1, math.ceil((end_min - start_min) * 20))
    width = (end_min - start_min) / steps
    return width * sum(clicks_per_minute(start_min + (i + 0.5) * width) for i in range(steps))


CAMPAIGN_TOML: Final = """\
# Written by `engmon demo --live`: an ordinary campaign file. `access.log` beside it is
# appended to while the demo runs; `engmon watch` on this file would watch it the same way.
[campaign]
name = "Live demo"
link = "{link}"
posted_at = "{posted_at}"
followers = {followers}
record = "recording.ndjson"

[[sources]]
kind = "access-log"
path = "access.log"
interval = 1

[alerts]
spike_per_min = {spike}
flat_minutes = 10
"""


def _line(rng: np.random.Generator, at: datetime, path: str, status: int, agent: str) -> str:
    network = _NETWORKS[int(rng.integers(len(_NETWORKS)))]
    ip = f"{network}.{int(rng.integers(1, 255))}.{int(rng.integers(1, 255))}"
    refs = [r for r, _ in _REFERRERS]
    referrer = refs[int(rng.choice(len(refs), p=[p for _, p in _REFERRERS]))]
    stamp = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    size = int(rng.integers(900, 40_000))
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "{referrer}" "{agent}"\n'


@dataclass
class LiveLog:
    """Writes the demo's access log: the backlog since the post, then new lines every tick.

    Thread-safe start/stop; `written` counts lines and `clicks` the ones the source should
    count (link hits by people, answered 200).
    """

    path: Path
    post_time: datetime
    seed: int = 7
    written: int = 0
    clicks: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def write_span(self, out: TextIO, start: datetime, end: datetime) -> None:
        """Append the hits of `[start, end)`, in time order."""
        begin = (start - self.post_time).total_seconds() / 60
        finish = (end - self.post_time).total_seconds() / 60
        if finish <= begin:
            return
        rng = self._rng
        people = int(rng.poisson(expected_clicks(begin, finish)))
        noise = int(rng.binomial(people + 2, NOISE_SHARE))
        span_s = (end - start).total_seconds()
        agents = [a for a, _ in _AGENTS]
        weights = [w for _, w in _AGENTS]
        lines: list[tuple[float, str, int, str]] = []
        for offset in rng.uniform(0, span_s, people):
            agent = agents[int(rng.choice(len(agents), p=weights))]
            lines.append((float(offset), LINK_PATH, 200, agent))
        for offset in rng.uniform(0, span_s, noise):
            path, status, agent = _NOISE[int(rng.integers(len(_NOISE)))]
            lines.append((float(offset), path, status, agent))
        for offset, path, status, agent in sorted(lines):
            out.write(_line(rng, start + timedelta(seconds=offset), path, status, agent))
        self.written += len(lines)
        self.clicks += people
        out.flush()

    def write_backlog(self, out: TextIO, end: datetime) -> None:
        """Append every hit from the post to `end`, in 10-second slices (so the backlog has
        the rate's shape, not a flat average)."""
        at = self.post_time
        while at < end:
            step = min(end, at + timedelta(seconds=10))
            self.write_span(out, at, step)
            at = step

    def start(self, now: datetime) -> None:
        """Write the backlog up to `now`, then keep appending on a daemon thread."""
        with self.path.open("a", encoding="utf-8") as out:
            self.write_backlog(out, now)
        self._thread = threading.Thread(
            target=self._run, args=(now,), name="engmon-live-demo-log", daemon=True
        )
        self._thread.start()

    def _run(self, since: datetime) -> None:
        last = since
        with self.path.open("a", encoding="utf-8") as out:
            while not self._stop.wait(TICK_S):
                now = datetime.now(last.tzinfo)
                self.write_span(out, last, now)
                last = now

    def stop(self) -> None:
        """Stop appending (the file stays)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def prepare(folder: Path, now: datetime, *, seed: int = 7) -> tuple[Path, LiveLog]:
    """Write `campaign.toml` into `folder` and return it with the (not yet started) log writer.

    The post went out `POSTED_AGO` before `now`, so the first poll finds a backlog and the
    dashboard has a curve at once."""
    folder.mkdir(parents=True, exist_ok=True)
    post_time = (now - POSTED_AGO).replace(microsecond=0)
    campaign = folder / "campaign.toml"
    campaign.write_text(
        CAMPAIGN_TOML.format(
            link=LINK,
            posted_at=post_time.isoformat().replace("+00:00", "Z"),
            followers=FOLLOWERS,
            spike=SPIKE_PER_MIN,
        ),
        encoding="utf-8",
    )
    log = folder / "access.log"
    log.touch()
    return campaign, LiveLog(log, post_time, seed=seed)
