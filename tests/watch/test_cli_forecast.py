"""`engmon report --forecast FILE --at 1h`: the forecast at that offset beside the actual size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from engmon.cli import main
from engmon.core.forecast_model import reshare_forecast

CASCADES = Path(__file__).parent.parent / "data" / "cascades"


def _cascade(name: str, scale: float = 1.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Poster followers, reshare times (s) and followers, read with plain Python."""
    rows = [line.split() for line in (CASCADES / name).read_text().splitlines()[1:] if line]
    times = np.array([float(r[0]) * scale for r in rows])
    followers = np.array([float(r[1]) for r in rows])
    return float(followers[0]), times[1:], followers[1:]


def test_report_forecast_json_matches_the_model() -> None:
    path = str(CASCADES / "tideh_RT1_seconds.txt")
    args = ["report", "--forecast", path, "--at", "1h", "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["forecast"]
    poster, times, followers = _cascade("tideh_RT1_seconds.txt")
    expected = reshare_forecast(times, followers, poster, 3600.0)
    assert got["model"] == "reshare model learned from public cascades"
    assert got["state"] == "forecast" and got["level"] == 0.9
    assert got["actual"] == times.size == 4963
    assert got["observed"] == expected.observed == int((times <= 3600).sum())
    assert got["predicted"] == expected.predicted
    assert got["low"] == expected.low and got["high"] == expected.high
    assert got["relative_error"] == abs(expected.predicted - 4963) / 4963  # type: ignore[operator]


def test_report_forecast_text_in_hours_file() -> None:
    path = CASCADES / "tideh_sample_hours.txt"
    result = CliRunner().invoke(
        main, ["report", "--forecast", str(path), "--time-unit", "h", "--at", "30m"]
    )
    assert result.exit_code == 0, result.output
    poster, times, followers = _cascade("tideh_sample_hours.txt", 3600.0)
    expected = reshare_forecast(times, followers, poster, 1800.0)
    assert expected.predicted is not None
    model = "reshare model learned from public cascades"
    assert f"forecast at +30m ({model}): ~{expected.predicted:.0f} reshares" in result.output
    assert f"actual final size: {times.size} reshares" in result.output


def test_report_forecast_defaults_to_one_hour() -> None:
    result = CliRunner().invoke(
        main, ["report", "--forecast", str(CASCADES / "tideh_RT2_seconds.txt"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["forecast"]["at_s"] == 3600.0
