"""The trend words on real retweet cascades: how often they change, and contradictions.

Walks each cascade minute by minute through its first two hours exactly as `engmon report --at
T` judges it (the file's standing at T, the forecast made at T, your past posts: none, the
public reference engmon ships when present) and counts:

- changes of the trend words (`verdict.trend`) between consecutive minutes (goal: at most 3
  on average over the first 2 hours);
- contradictions between the trend words, the comparison and the forecast sentence
  (`engmon.core.judge.contradictions`; goal: 0).

Development cascades: ../shared/data/cascades/train/ (72 large TiDeH cascades and a sample of
the small evently ones); the three evaluation cascades in ../shared/data/cascades/ are
printed separately (never tuned on). Without /work/shared the benchmark says so and stops.

    python -m bench verdict            # --minutes 120 --small 150
"""

from __future__ import annotations

import argparse
import csv
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from engmon.core.judge import contradictions, judge, public_rank_function
from engmon.core.outlook import outlook_at
from engmon.core.schema import REPOSTS, UTC_US, conform
from engmon.core.standing import standing_at
from engmon.core.store import ObservationStore

SHARED: Final = Path("/work/shared/data/cascades")
POST: Final = datetime(2026, 1, 1, tzinfo=UTC)


def cascade_frame(times_s: np.ndarray, followers: np.ndarray) -> pl.DataFrame:
    """Reshares as observation rows (what `--read-as cascade` reads), the post excluded."""
    frame = pl.DataFrame(
        {
            "ts": [POST + timedelta(seconds=float(t)) for t in times_s],
            "metric": REPOSTS,
            "value": 1.0,
            "reach": followers.astype(np.int64),
            "id": [f"l{i}" for i in range(len(times_s))],
        }
    ).with_columns(pl.col("ts").cast(UTC_US), source=pl.lit("cascade"), kind=pl.lit("event"))
    return conform(frame.lazy()).collect()


def tideh(path: Path, hours: bool = False) -> tuple[str, int, pl.DataFrame]:
    """One TiDeH/SEISMIC file: name, the poster's followers, the reshares."""
    rows = np.loadtxt(path, skiprows=1, ndmin=2)
    times = rows[:, 0] * (3600.0 if hours else 1.0)
    return path.stem, int(rows[0, 1]), cascade_frame(times[1:], rows[1:, 1])


def evently(path: Path, count: int) -> Iterator[tuple[str, int, pl.DataFrame]]:
    """`count` evently cascades with at least 10 reshares, every k-th by id (deterministic)."""
    by_id: dict[str, list[tuple[float, float]]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            by_id.setdefault(row["cascade"], []).append(
                (float(row["time_s"]), float(row["followers"]))
            )
    usable = sorted((k for k, v in by_id.items() if len(v) > 10), key=int)
    step = max(1, len(usable) // max(count, 1))
    for key in usable[::step][:count]:
        rows = np.array(sorted(by_id[key]))
        yield f"evently-{key}", int(rows[0, 1]), cascade_frame(rows[1:, 0], rows[1:, 1])


def walk(followers: int, frame: pl.DataFrame, minutes: int) -> tuple[list[str], list[str]]:
    """The trend words at each minute 1..minutes and every contradiction found."""
    store = ObservationStore(POST)
    store.merge(frame)
    per_minute, levels, deltas = store.minutes(), store.levels(), store.deltas()
    rank = public_rank_function()
    words: list[str] = []
    problems: list[str] = []
    for minute in range(1, minutes + 1):
        at_s = minute * 60.0
        numbers = standing_at(
            per_minute, levels, post_time=POST, elapsed_s=at_s, followers=followers
        )
        outlook = outlook_at(deltas, per_minute, POST, followers, at_s, numbers.headline, None)
        verdict = judge(numbers, outlook=outlook, public_rank=rank)
        words.append(verdict.trend)
        problems.extend(f"+{minute}m: {p}" for p in contradictions(verdict, numbers.headline))
    return words, problems


def report(title: str, cascades: list[tuple[str, int, pl.DataFrame]], minutes: int) -> None:
    """Print the figures of one set of cascades."""
    started = time.perf_counter()
    changes: list[int] = []
    problems: list[str] = []
    at: dict[int, Counter[str]] = {m: Counter() for m in (10, 30, 60, minutes)}
    for name, followers, frame in cascades:
        words, found = walk(followers, frame, minutes)
        changes.append(sum(a != b for a, b in itertools.pairwise(words)))
        problems.extend(f"{name} {p}" for p in found)
        for m, counter in at.items():
            if m <= len(words):
                counter[words[m - 1]] += 1
    mean = float(np.mean(changes)) if changes else 0.0
    print(
        f"   {title}: {len(cascades)} cascades, trend changes in the first {minutes} min: "
        f"mean {mean:.2f} (goal <= 3), max {max(changes, default=0)}; "
        f"contradictions {len(problems)} (goal 0)  [{time.perf_counter() - started:.0f} s]"
    )
    for m, counter in at.items():
        shown = ", ".join(f"{word} {n}" for word, n in counter.most_common())
        print(f"     words at +{m}m: {shown}")
    for problem in problems[:5]:
        print(f"     contradiction: {problem}")


def main(argv: list[str] | None = None) -> None:
    """Print the trend-word figures on the training cascades, then on the evaluation ones."""
    parser = argparse.ArgumentParser(prog="python -m bench verdict")
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--small", type=int, default=150, help="evently cascades to sample")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"   {SHARED} is not here: no real cascades to walk (the figures need them)")
        return
    print("   compared with: public posts from accounts the same size (engmon.core.reference)")
    train = SHARED / "train"
    large = [tideh(path) for path in sorted(train.glob("tideh_RT*.txt"))]
    report("train, large (TiDeH)", large, args.minutes)
    small = list(evently(train / "evently_auspol_train.csv", args.small))
    report("train, small (evently, >10 reshares)", small, args.minutes)
    evaluation = [
        tideh(SHARED / "tideh_RT1_seconds.txt"),
        tideh(SHARED / "tideh_RT2_seconds.txt"),
        tideh(SHARED / "tideh_sample_hours.txt", hours=True),
    ]
    report("evaluation (the three shared cascades)", evaluation, args.minutes)


if __name__ == "__main__":
    main()
