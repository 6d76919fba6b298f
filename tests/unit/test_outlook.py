"""The outlook: which model the store gets, and how forecast and standing are phrased."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from engmon.core import outlook
from engmon.core.forecast import Forecast
from engmon.core.forecast_model import count_forecast, reshare_forecast
from engmon.core.store import ObservationStore

POST = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def _store(metric: str, seconds: list[float], reach: int | None) -> ObservationStore:
    store = ObservationStore(POST)
    store.merge(
        pl.DataFrame(
            {
                "ts": [POST + timedelta(seconds=s) for s in seconds],
                "metric": [metric] * len(seconds),
                "value": [1.0] * len(seconds),
                "reach": [reach] * len(seconds),
            },
            schema_overrides={"reach": pl.Int64},
        )
    )
    return store


def test_store_with_reshare_reach_uses_the_reshare_model() -> None:
    seconds = [float(s) for s in range(10, 110, 10)]
    store = _store("reposts", seconds, 0)
    got = outlook.forecast_store(store.deltas(), store.minutes(), POST, 100_000, 300.0)
    assert got == reshare_forecast(np.asarray(seconds), np.zeros(10), 100_000.0, 300.0)
    assert got.model == "reshare model learned from public cascades"
    assert got.predicted is not None and got.predicted >= 10
    # everything delivered: the forecast is the count
    done = outlook.forecast_store(store.deltas(), store.minutes(), POST, 100_000, 300.0, final=True)
    assert (done.predicted, done.low, done.high) == (10, 10, 10)
    assert outlook.forecast_phrase(done) == "Final: 10 reshares"


def test_store_without_reach_reads_the_clicks_curve() -> None:
    rng = np.random.default_rng(3)
    counts = rng.poisson(80.0 * (np.arange(40) + 0.5) ** -1.2)
    seconds = [m * 60.0 + 5 for m, k in enumerate(counts) for _ in range(int(k))]
    seconds += [40 * 60 + 10.0, 40 * 60 + 20.0]  # two clicks in the minute still running
    store = _store("clicks", seconds, None)
    got = outlook.forecast_store(store.deltas(), store.minutes(), POST, 5000, 40 * 60 + 30)
    assert got.model == "curve model learned from public cascades"
    seen = float(counts.sum()) + 2
    assert got == count_forecast(counts.astype(float), observed=seen)
    # what happened is the floor of the forecast and of its range, the running minute included
    assert got.observed == seen
    assert got.low is not None and got.low >= seen


def test_phrases() -> None:
    model = "reshare model learned from public cascades"
    sure = Forecast("forecast", model, 40, 600, predicted=120, low=80, high=190, level=0.9)
    assert outlook.forecast_phrase(sure) == "Forecast: ~120 reshares in total (90% range 80–190)"
    assert outlook.forecast_kpi(sure) == "120 (80–190)"
    open_top = Forecast("forecast", "power-law decay fit", 900, 600, predicted=1500, low=1200)
    assert outlook.forecast_phrase(open_top, "clicks") == (
        "Forecast: ~1.5k clicks in total (95% range 1.2k–no limit)"
    )
    off = Forecast("taking-off", "SEISMIC", 40, 600)
    assert "taking off" in outlook.forecast_phrase(off)
    assert outlook.forecast_kpi(off) == "taking off"
    thin = Forecast("not-enough-data", "SEISMIC", 3, 600, reason="3 reshares so far")
    assert outlook.forecast_phrase(thin) == (
        "Forecast of reshares: not enough data yet (3 reshares so far)"
    )
    assert outlook.forecast_kpi(thin) == "not enough data yet"


def test_outlook_stands_against_history() -> None:
    # ten past posts of 1000 followers with 1 click per minute; this post: 2000 followers,
    # 1 click in 20 minutes (0.5 per 1k), so behind all ten at minute 19
    history = pl.DataFrame(
        {
            "post": [f"p{i}" for i in range(10) for _ in range(30)],
            "minute": [m for _ in range(10) for m in range(30)],
            "value": [1.0] * 300,
        }
    )
    store = _store("clicks", [30.0], None)
    thin = Forecast("not-enough-data", "power-law decay fit", 1, 1230)
    got = outlook.compute_outlook(thin, "clicks", history, 2000, store.minutes(), 20 * 60 + 30)
    assert got.standing is not None
    assert got.standing.text == "behind 10 of your last 10 posts at minute 19"
    assert got.band is not None
    assert got.band.get_column("p50").to_list()[:2] == [2.0, 2.0]  # 1 per 1k x 2k followers
    assert got.phrases()[0] == "Behind 10 of your last 10 posts at minute 19"
    bare = outlook.compute_outlook(thin, "clicks", None, 2000, store.minutes(), 1230)
    assert bare.band is None and bare.standing is None
    assert len(bare.phrases()) == 1


def _observations(metric: str, seconds: list[float], reach: int | None) -> pl.LazyFrame:
    return pl.DataFrame(
        {
            "ts": [POST + timedelta(seconds=s) for s in seconds],
            "metric": [metric] * len(seconds),
            "value": [1.0] * len(seconds),
            "reach": [reach] * len(seconds),
            "id": [f"l{i}" for i in range(len(seconds))],
        },
        schema_overrides={"reach": pl.Int64},
    ).lazy()


def test_forecast_vs_actual_on_a_cascade() -> None:
    seconds = [float(s) for s in range(10, 410, 20)] + [4000.0, 5000.0, 9000.0]
    observations = _observations("reposts", seconds, 0)
    result = outlook.forecast_vs_actual(observations, POST, 100_000, 600.0)
    made = reshare_forecast(np.asarray(seconds), np.zeros(23), 100_000.0, 600.0)
    assert result["predicted"] == made.predicted
    assert result["actual"] == 23.0
    assert made.predicted is not None
    assert result["relative_error"] == abs(made.predicted - 23) / 23
    lines = outlook.forecast_lines(result)
    assert lines[0].startswith("forecast at +10m (reshare model learned from public cascades): ~")
    assert "reshares in total (90%: " in lines[0]
    assert lines[1].startswith("actual final size: 23 reshares (relative error ")
    # asked after the file's last row: the forecast is the final count
    done = outlook.forecast_vs_actual(observations, POST, 100_000, 9000.0)
    assert done["predicted"] == done["low"] == done["high"] == 23.0
    assert done["relative_error"] == 0.0
    assert outlook.forecast_lines(done)[0] == (
        "forecast at +150m (reshare model learned from public cascades): 23 reshares,"
        " the final count: everything is in"
    )


def test_forecast_vs_actual_without_enough_data() -> None:
    observations = _observations("clicks", [5.0, 70.0, 3000.0], None)
    result = outlook.forecast_vs_actual(observations, POST, 1000, 2000.0)
    assert result["state"] == "not-enough-data"
    assert result["actual"] == 3.0
    assert result["relative_error"] is None
    assert outlook.forecast_lines(result) == [
        "forecast at +33m (curve model learned from public cascades): not enough data yet"
        " (2 so far)",
        "actual final size: 3 clicks",
    ]


def test_tracker_keeps_reshares_incrementally() -> None:
    from engmon.core.campaign import Campaign

    rng = np.random.default_rng(8)
    seconds = np.sort(rng.uniform(1, 1800, 60))
    reach = rng.integers(0, 500, 60)
    frame = pl.DataFrame(
        {
            "ts": [POST + timedelta(seconds=float(s)) for s in seconds],
            "metric": ["reposts"] * 60,
            "value": [1.0] * 60,
            "reach": reach,
            "id": [f"r{i}" for i in range(60)],
        }
    )
    campaign = Campaign("c", None, POST, 50_000)
    store = ObservationStore(POST)
    tracker = outlook.OutlookTracker(None)
    for part in range(3):  # merged in three polls, forecast after each
        store.merge(frame.slice(part * 20, 20))
        now = POST + timedelta(seconds=float(seconds[part * 20 + 19]) + 1)
        got = tracker.update(store, campaign, now, "clicks")
        elapsed = (now - POST).total_seconds()
        fresh = outlook.forecast_store(store.deltas(), store.minutes(), POST, 50_000, elapsed)
        assert got is not None and got.forecast == fresh
    assert got is not None and got.forecast.observed == 60


def test_tracker_paces_forecasts_while_data_streams_in() -> None:
    from engmon.core.campaign import Campaign

    seconds = [float(s) for s in range(10, 600, 7)]
    campaign = Campaign("c", None, POST, 50_000)
    store = _store("reposts", seconds[:40], 300)
    tracker = outlook.OutlookTracker(None)
    now = POST + timedelta(minutes=10)
    first = tracker.update(store, campaign, now, "clicks", wall=100.0)
    assert first is not None and not tracker.pending
    store.merge(_store("reposts", seconds[40:], 300).deltas())
    # new data 0.1 s later: the last outlook stands, marked pending
    assert tracker.update(store, campaign, now, "clicks", wall=100.1) is first
    assert tracker.pending
    # half a second on: recomputed with everything
    later = tracker.update(store, campaign, now, "clicks", wall=100.6)
    assert later is not None and later is not first and not tracker.pending
    assert later.forecast.observed == len(seconds)
    # a seek back is answered at once, however soon
    back = tracker.update(store, campaign, now - timedelta(minutes=5), "clicks", wall=100.7)
    assert back is not None and back.forecast.observed < len(seconds)


def test_tracker_band_is_computed_once_per_metric_width_and_audience(tmp_path: Path) -> None:
    from engmon.core import history

    for day in range(1, 4):
        when = POST - timedelta(days=day)
        minutes = pl.DataFrame(
            {"metric": ["clicks"] * 10, "minute": list(range(10)), "value": [float(day)] * 10}
        )
        history.save_post(history.post_curve(minutes, f"past-{day}", when, 1000), tmp_path)
    tracker = outlook.OutlookTracker(tmp_path)
    first = tracker.band("clicks", 5, 2000)
    assert first is not None and first.get_column("p50").to_list()[0] == 20.0  # 2/min x 5 x 2
    assert tracker.band("clicks", 5, 2000) is first  # cached
    assert tracker.band("clicks", 1, 2000) is not first  # another width: its own band
    assert tracker.band("clicks", 5, 4000) is not first  # another audience: scaled anew
