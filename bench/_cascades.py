"""Reading the public retweet cascades the forecast is fitted and checked on.

Origin and licence (see /work/shared/data/PROVENANCE.md):
- `cascades/train/tideh_RT<N>.txt` and `cascades/tideh_*.txt`: MIT, NII-Kobayashi/TiDeH commit
  23bc22f8 (`data/training/RT<N>.txt`, `data/example/sample_file.txt`), extracted from the data
  set of Zhao et al., "SEISMIC", KDD 2015. Line 1 `<count> <start>`, then `<time> <followers>`,
  the time-0 line being the original post; times in seconds (hours for `*hours*` files).
- `cascades/train/evently_auspol_train.csv`: MIT, behavioral-ds/evently commit d3e6a693
  (`data/auspol.rda`), flattened to `cascade,time_s,followers`; per cascade the time-0 row is the
  post. Its cascades of 50 events or more were kept out (for evaluation).

Read only when a benchmark or the fit is run by hand; tests never read these files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

SHARED = Path("/work/shared/data/cascades")
TRAIN = SHARED / "train"


@dataclass(frozen=True)
class Cascade:
    """One cascade: the post's author followers, then each reshare's time and followers."""

    name: str
    poster_followers: float
    times_s: np.ndarray
    followers: np.ndarray
    group: str = "shared"

    @property
    def final(self) -> float:
        """Reshares in the whole file (the post itself not counted)."""
        return float(self.times_s.size)


def read_cascade(path: Path, group: str = "shared") -> Cascade:
    """Read a TiDeH/SEISMIC cascade file (times in hours when the name says so)."""
    rows = [line.split() for line in path.read_text().splitlines()[1:] if line.strip()]
    data = np.array([[float(r[0]), float(r[1])] for r in rows], dtype=np.float64)
    scale = 3600.0 if "hours" in path.name else 1.0
    times = (data[:, 0] - data[0, 0]) * scale
    order = np.argsort(times[1:], kind="stable")
    return Cascade(path.name, float(data[0, 1]), times[1:][order], data[1:, 1][order], group)


def read_flat(path: Path, group: str) -> list[Cascade]:
    """Read `cascade,time_s,followers` rows: one cascade per id, its first time-0 row the post."""
    frame = pl.read_csv(path).sort("cascade", "time_s", maintain_order=True)
    cascades = []
    for (key,), part in frame.group_by("cascade", maintain_order=True):
        times = part.get_column("time_s").to_numpy().astype(np.float64)
        followers = part.get_column("followers").to_numpy().astype(np.float64)
        cascades.append(
            Cascade(f"{path.stem}#{key}", followers[0], times[1:], followers[1:], group)
        )
    return cascades


def training_cascades() -> list[Cascade]:
    """The 72 large TiDeH cascades and the 3,320 small evently ones (never the shared three)."""
    large = [read_cascade(p, "large") for p in sorted(TRAIN.glob("tideh_RT*.txt"))]
    small = read_flat(TRAIN / "evently_auspol_train.csv", "small")
    return large + small


def evaluation_cascades() -> list[Cascade]:
    """The three shared cascades kept out of every fit."""
    return [read_cascade(p) for p in sorted(SHARED.glob("*.txt"))]
