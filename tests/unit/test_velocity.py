"""Velocity divides by the time its window really covered, not by the window's length."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from engmon.core import metrics
from engmon.core.schema import UTC_US

POST = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now_minute", "elapsed_s", "expected"),
    [
        (1, 35.0, 1.0),  # 35 s in: at least a minute, never a 60/min first click
        (3, 150.0, 2.5),  # early: only 2.5 minutes have passed
        (13, 750.0, 4.5),  # window [8, 13) holds 4.5 minutes at +12m30s
        (13, None, 5.0),  # no clock given: the whole window
    ],
)
def test_velocity_span(now_minute: int, elapsed_s: float | None, expected: float) -> None:
    assert metrics.velocity_span(now_minute, 5, elapsed_s) == pytest.approx(expected)


def test_summary_velocity_uses_elapsed_time() -> None:
    minutes = pl.DataFrame(
        {"metric": ["clicks", "clicks"], "minute": [0, 1], "value": [30.0, 15.0], "reach": [0, 0]}
    ).with_columns(first_ts=pl.lit(POST, dtype=UTC_US))
    early = metrics.summary(minutes.lazy(), now_minute=2, elapsed_s=90.0).collect()
    assert early.item(0, "velocity") == pytest.approx(45.0 / 1.5)
    plain = metrics.summary(minutes.lazy(), now_minute=2).collect()
    assert plain.item(0, "velocity") == pytest.approx(45.0 / 5)
