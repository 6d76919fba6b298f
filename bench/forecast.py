"""Forecast accuracy on real retweet cascades: the calibrated forecast beside SEISMIC's defaults.

Per horizon (10, 30, 60 minutes after the post) it prints the median relative error of the
final-size forecast and how often its interval holds the final size:
1. on the cross-validation folds of the training cascades (/work/shared/data/cascades/train/,
   each cascade predicted by a model fitted without it; the fit's own procedure, see
   bench/fit_forecast.py), large (TiDeH, thousands of reshares) and small (evently) apart;
2. on the three shared cascades (/work/shared/data/cascades/*.txt), never used for fitting;
3. the curve model (follower counts thrown away, as for clicks) beside the old curve fit;
4. smoothness: the largest ratio between forecasts one minute apart after 30 minutes, on the
   shared cascades and the `taking-off` demo scenario, and the forecast at the end of each.

The calibrated interval is a 90% one, SEISMIC's a 95% one. Origins of the data: bench/_cascades.py.

    python -m bench forecast [--quick]      (--quick: skip the cross-validation)
"""

from __future__ import annotations

import json
import math
import statistics
import sys

import numpy as np
import polars as pl

from bench._cascades import TRAIN, Cascade, evaluation_cascades, training_cascades
from engmon.core.forecast import FORECAST, Forecast, curve_forecast, seismic_forecast
from engmon.core.forecast_model import count_forecast, reshare_forecast

HORIZONS_MIN = (10, 30, 60)


def _error(made: Forecast, actual: float) -> float:
    """Relative error; no number (taking off) counts as infinite, not enough data as NaN."""
    if made.state == FORECAST and made.predicted is not None:
        return abs(made.predicted - actual) / actual
    return math.inf if made.state == "taking-off" else math.nan


def _holds(made: Forecast, actual: float) -> bool | None:
    if made.state != FORECAST or made.low is None:
        return None if made.state == "not-enough-data" else False
    return made.low <= actual <= (math.inf if made.high is None else made.high)


def _summary(errors: list[float], hits: list[bool | None]) -> str:
    known = [e for e in errors if e == e]
    inside = [h for h in hits if h is not None]
    median = f"{statistics.median(known):7.1%}" if known else "    n/a"
    share = f"{sum(inside) / len(inside):5.0%}" if inside else "  n/a"
    return f"{median} {share}"


def cross_validation() -> None:
    """Refit with the fit's own procedure and print the held-out figures per horizon."""
    from bench import fit_forecast

    try:
        import lightgbm  # noqa: F401
    except ImportError:
        print("   1. cross-validation skipped: it needs LightGBM (pip install -e '.[fit]')")
        return
    cascades = training_cascades()
    rows = fit_forecast.cascade_rows(cascades)
    # the shipped features and tree settings, refitted fold by fold
    shipped = json.loads(fit_forecast.OUT.read_text())["models"]
    chosen = {
        name: (tuple(spec["features"]), dict(spec["setting"])) for name, spec in shipped.items()
    }
    _, report = fit_forecast.fit(rows, cascades, verbose=False, chosen=chosen)
    print("   1. cross-validation, 5 folds grouped by cascade (training cascades only),")
    print("      large: the 72 TiDeH cascades, small: the evently ones with 5+ reshares by then;")
    print("      SEISMIC inf: no number for most (under 10 reshares, or taking off)")
    print("      horizon group    n   calibrated: median err  90% cov | SEISMIC: err  95% cov")
    for model in ("reshares", "counts"):
        figures = report[model]
        assert isinstance(figures, dict)
        for key, fig in figures.items():
            minutes, group = key.split()
            print(
                f"      {model:8} {minutes:>4} {group:5} {fig['cascades']:4}"
                f"   {fig['median_error']:17.1%} {fig['coverage']:8.0%} |"
                f" {fig['seismic_median_error']:10.1%} {fig['seismic_coverage']:7.0%}"
            )


def shared(cascades: list[Cascade]) -> None:
    """The calibrated reshare model and SEISMIC on the shared cascades, per horizon."""
    print("   2. the three shared cascades (never used for fitting)")
    print("      horizon   calibrated: median err  90% cov | SEISMIC: err  95% cov")
    for minutes in HORIZONS_MIN:
        at = minutes * 60.0
        ours: tuple[list[float], list[bool | None]] = ([], [])
        theirs: tuple[list[float], list[bool | None]] = ([], [])
        for c in cascades:
            made = reshare_forecast(c.times_s, c.followers, c.poster_followers, at)
            old = seismic_forecast(c.times_s, c.followers, c.poster_followers, at)
            ours[0].append(_error(made, c.final))
            ours[1].append(_holds(made, c.final))
            theirs[0].append(_error(old, c.final))
            theirs[1].append(_holds(old, c.final))
            print(
                f"        {c.name:24} {minutes:3}m seen {made.observed:5.0f} final {c.final:5.0f}"
                f"  calibrated {made.predicted or 0:7.0f}"
                f" [{made.low or 0:.0f}, {made.high or 0:.0f}]"
                f"  SEISMIC {old.predicted or math.inf:7.0f}"
            )
        print(f"      {minutes:4}m   {_summary(*ours):>24}    | {_summary(*theirs):>16}")


def _curve(c: Cascade, minutes: int) -> np.ndarray:
    seen = c.times_s[c.times_s < minutes * 60]
    return np.bincount((seen // 60).astype(np.int64), minlength=minutes)[:minutes].astype(float)


def curves(cascades: list[Cascade]) -> None:
    """The curve model (clicks' forecast) beside the old curve fit, follower counts ignored."""
    print("   3. follower counts ignored (the clicks forecast): curve model vs old curve fit")
    print("      horizon   curve model: median err  90% cov | old curve fit: err  95% cov")
    for minutes in HORIZONS_MIN:
        ours: tuple[list[float], list[bool | None]] = ([], [])
        theirs: tuple[list[float], list[bool | None]] = ([], [])
        for c in cascades:
            curve = _curve(c, minutes)
            made, old = count_forecast(curve), curve_forecast(curve)
            for store, got in ((ours, made), (theirs, old)):
                store[0].append(_error(got, c.final))
                store[1].append(_holds(got, c.final))
        print(f"      {minutes:4}m   {_summary(*ours):>24}    | {_summary(*theirs):>22}")


def _scenario_cascade() -> Cascade:
    from engmon.sources.scenarios import POST_TIME, build

    scenario = build("taking-off")
    since = (pl.col("ts") - pl.lit(POST_TIME)).dt.total_microseconds() / 1e6
    shares = (
        scenario.frame.filter(pl.col("metric").is_in(["reposts", "quotes"]))
        .select(t=since, f=pl.col("reach").cast(pl.Float64))
        .sort("t")
    )
    return Cascade(
        "taking-off scenario",
        float(scenario.campaign.followers or 0),
        shares.get_column("t").to_numpy(),
        shares.get_column("f").to_numpy(),
    )


def _at_minute(c: Cascade, model: str, minute: int) -> Forecast:
    if model == "curve":
        return count_forecast(_curve(c, minute))
    return reshare_forecast(c.times_s, c.followers, c.poster_followers, minute * 60.0)


def smoothness(cascades: list[Cascade]) -> None:
    """Largest jump between forecasts one minute apart from minute 30 to 6 hours, both models,
    and how many such steps reach 2x; and the forecast once everything is in."""
    print("   4. smoothness: forecasts one minute apart, 30 min to 6 h: largest ratio, steps >= 2x")
    swings = 0
    for c in cascades:
        jumps = []
        for name in ("reshares", "curve"):
            values = [_at_minute(c, name, m).predicted for m in range(30, 361)]
            got = np.array([v for v in values if v is not None], dtype=float)
            steps = np.abs(np.diff(np.log(got))) if got.size > 1 else np.zeros(1)
            swings += int(np.count_nonzero(steps >= math.log(2.0)))
            ratio = float(np.exp(np.max(steps)))
            jumps.append(f"{name} {ratio:4.2f}x {np.count_nonzero(steps >= math.log(2.0))}")
        end = float(c.times_s.max()) + 1.0
        done = reshare_forecast(c.times_s, c.followers, c.poster_followers, end, final=True)
        print(
            f"      {c.name:24} {'  '.join(jumps)}   at the end: {done.predicted:.0f}"
            f" (final {c.final:.0f})"
        )
    print(f"      steps of 2x or more: {swings}")


def main(argv: list[str]) -> None:
    """Print the forecast figures (see the module docstring)."""
    if "--quick" not in argv and TRAIN.is_dir():
        cross_validation()
    cascades = evaluation_cascades()
    if cascades:
        shared(cascades)
        curves(cascades)
    smoothness([*cascades, _scenario_cascade()])


if __name__ == "__main__":
    main(sys.argv[1:])
