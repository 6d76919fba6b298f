"""Expected band of past posts, the standing against it, and the history files behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engmon.core import band, history


def _curves(rows: dict[str, list[float]]) -> pl.DataFrame:
    """Per-minute values per 1k followers for each named past post, from minute 0."""
    return pl.DataFrame(
        {
            "post": [name for name, values in rows.items() for _ in values],
            "minute": [m for values in rows.values() for m in range(len(values))],
            "value": [v for values in rows.values() for v in values],
        }
    )


def test_band_percentiles_by_minute() -> None:
    curves = _curves({f"p{i}": [float(i), float(10 * i)] for i in range(1, 11)})
    out = band.expected_band(curves)
    # values 1..10 at minute 0: linear p10 = 1.9, p50 = 5.5, p90 = 9.1
    expected = pl.DataFrame(
        {
            "minute": [0, 1],
            "posts": pl.Series([10, 10], dtype=pl.UInt32),
            "p10": [1.9, 19.0],
            "p50": [5.5, 55.0],
            "p90": [9.1, 91.0],
        }
    )
    assert_frame_equal(out, expected)


def test_band_cumulative_and_sparse_minutes() -> None:
    curves = _curves({"a": [1.0, 1.0, 5.0], "b": [2.0, 2.0], "c": [3.0, 0.0]})
    out = band.expected_band(curves, cumulative=True)
    # minute 2 was reached by one post only: no band there
    assert out.get_column("minute").to_list() == [0, 1]
    assert out.get_column("p50").to_list() == [2.0, 3.0]  # totals at minute 1: 2, 4, 3


def test_band_empty_and_scaled() -> None:
    assert band.expected_band(_curves({})).is_empty()
    scaled = band.scaled_band(
        band.expected_band(_curves({"a": [1.0], "b": [2.0], "c": [3.0]})), 2000
    )
    assert scaled.get_column("p50").to_list() == [4.0]


def test_standing_behind_nine_of_ten() -> None:
    curves = _curves({f"p{i}": [1.0] * 21 for i in range(9)} | {"low": [0.0] * 21})
    result = band.standing(curves, current_per_1k=0.5, minute=20)
    assert result is not None
    assert result.position == "behind"
    assert result.text == "behind 9 of your last 10 posts at minute 20"


def test_standing_ahead_on_track_flat_and_unknown() -> None:
    curves = _curves({f"p{i}": [float(i)] * 5 for i in range(1, 11)})
    ahead = band.standing(curves, 100.0, 4)
    assert ahead is not None and ahead.position == "ahead"
    assert ahead.text == "ahead of 10 of your last 10 posts at minute 4"
    middle = band.standing(curves, 5.0 * 5, 4)
    assert middle is not None and middle.position == "on track"
    flat = band.standing(curves, 0.0, 4)
    assert flat is not None and flat.position == "flat"
    assert band.standing(curves, 1.0, 9) is None  # no past post reached minute 9
    assert band.standing(_curves({"a": [1.0]}), 1.0, 0) is None  # one post is not a band


POST = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _minutes(values: dict[int, float], metric: str = "clicks") -> pl.DataFrame:
    return pl.DataFrame(
        {"metric": [metric] * len(values), "minute": list(values), "value": list(values.values())},
        schema={"metric": pl.String, "minute": pl.Int64, "value": pl.Float64},
    )


def test_history_round_trip(tmp_path: Path) -> None:
    for day, followers in enumerate((1000, 2000, 4000)):
        curve = history.post_curve(
            _minutes({0: 2.0, 3: 4.0, -1: 9.0}), f"post{day}", POST + timedelta(days=day), followers
        )
        assert history.save_post(curve, tmp_path) is not None
    (tmp_path / "broken.parquet").write_text("not parquet")
    loaded = history.load_history("clicks", tmp_path)
    assert loaded.get_column("post").n_unique() == 3
    first = loaded.filter(pl.col("post") == loaded.get_column("post")[0])
    # dense minutes 0..3 (minute -1 dropped), per 1k followers of a 1000-follower post
    assert first.get_column("minute").to_list() == [0, 1, 2, 3]
    assert first.get_column("value").to_list() == [2.0, 0.0, 0.0, 4.0]
    recent = history.load_history("clicks", tmp_path, last=2, before=POST + timedelta(days=5))
    assert recent.get_column("value").max() == pytest.approx(2.0)  # 2k and 4k followers
    assert history.load_history("clicks", tmp_path, before=POST).is_empty()
    assert history.load_history("replies", tmp_path).is_empty()


def test_history_save_replaces_same_post(tmp_path: Path) -> None:
    for value in (1.0, 3.0):
        history.save_post(history.post_curve(_minutes({0: value}), "same", POST, 1000), tmp_path)
    assert len(list(tmp_path.glob("*.parquet"))) == 1
    assert history.load_history("clicks", tmp_path).get_column("value").to_list() == [3.0]
    assert history.save_post(history.post_curve(_minutes({}), "x", POST, 10), tmp_path) is None


def test_history_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(tmp_path))
    assert history.default_history_dir() == tmp_path
    monkeypatch.delenv("ENGMON_HISTORY_DIR")
    assert history.default_history_dir().parts[-2:] == ("engmon", "history")
