"""Fit the calibrated forecast (engmon/core/data/forecast_model.json) on public training cascades.

Reads /work/shared/data/cascades/train/ only (72 large TiDeH retweet cascades and 3,320 small
evently ones, both MIT: origins in bench/_cascades.py); the three shared cascades beside it are
never read here. Run by hand, never by tests; needs LightGBM (`pip install -e '.[fit]'`):

    python -m bench.fit_forecast [--write]

For each cascade and each age of a grid (5 minutes to a week) it computes the model's features
from what was seen by then (engmon.core.forecast_model.features, the code engmon runs) and the
target log(final / seen); also the features at the 2 minutes before, as engmon's forecast
averages its estimates over the last 3 minutes (held-out figures and intervals include that).
Gradient-boosted regression trees with the median (L1) loss; the feature set and the tree
settings are chosen by 5-fold cross-validation grouped by cascade; the 5% and 95% quantiles of
the held-out residuals at each age give the 90% interval (split conformal). No row or weight
depends on a cascade's future: at each age the two sources weigh the same, and within a source
every cascade seen so far weighs the same.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench._cascades import Cascade, training_cascades
from engmon.core.forecast import FORECAST, seismic_forecast
from engmon.core.forecast_model import (
    FEATURES,
    FOLLOWER_FEATURES,
    MIN_EVENTS,
    SMOOTH_STEPS,
    STEP_S,
    Trees,
    curve_features,
    features,
)

OUT = Path(__file__).resolve().parent.parent / "engmon/core/data/forecast_model.json"
AGES_MIN = (5, 7, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 150, 180, 240, 300, 360, 480,
            720, 1080, 1440, 2160, 2880, 4320, 5760, 7200, 10080)  # fmt: skip
FOLDS = 5
SHAPE = tuple(name for name in FEATURES if name not in FOLLOWER_FEATURES)
CANDIDATES: dict[str, tuple[tuple[str, ...], ...]] = {
    "reshares": (SHAPE, FEATURES),
    "counts": (SHAPE,),
}
BASE_PARAMS: dict[str, Any] = {
    "objective": "l1",
    "learning_rate": 0.05,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,
    "deterministic": True,
    "seed": 13,
}
SETTINGS: tuple[dict[str, int], ...] = (
    {"num_leaves": 8, "max_depth": 4, "rounds": 200},
    {"num_leaves": 8, "max_depth": 4, "rounds": 400},
    {"num_leaves": 16, "max_depth": 5, "rounds": 200},
)
LEVEL = 0.90


@dataclass
class Rows:
    """One row per (cascade, age) with at least MIN_EVENTS seen."""

    cascade: np.ndarray  # index into the cascade list
    age: np.ndarray  # index into AGES_MIN
    large: np.ndarray  # from the large set (TiDeH), else the small one (evently)
    x: dict[str, np.ndarray]  # per model: features (rows x SMOOTH_STEPS x FEATURES)
    seen: dict[str, np.ndarray]  # per model: count at each step (rows x SMOOTH_STEPS; nan: none)
    final: np.ndarray
    weight: np.ndarray
    seismic: np.ndarray  # uncalibrated SEISMIC: predicted, low, high (nan: none, inf: unbounded)


def cascade_rows(cascades: list[Cascade]) -> Rows:
    """Features and targets of every cascade at every age of the grid."""
    keys = ("c", "a", "xr", "xc", "sr", "sc", "f", "s")
    out: dict[str, list[object]] = {k: [] for k in keys}
    for ci, c in enumerate(cascades):
        fol = np.maximum(c.followers, 0.0)
        for ai, minutes in enumerate(AGES_MIN):
            at = minutes * 60.0
            seen = int(np.searchsorted(c.times_s, at, side="right"))
            if seen < MIN_EVENTS:
                continue
            times, seen_fol = c.times_s[:seen], fol[:seen]
            curve = np.bincount((times[times < at] // 60).astype(np.int64), minlength=minutes)
            # the same features at the minutes before, for the smoothed estimate engmon makes
            xr, xc, sr, sc = [], [], [], []
            for step in range(SMOOTH_STEPS):
                then = at - step * STEP_S
                keep = times <= then
                shown = curve[: minutes - step]
                xr.append(features(times[keep], then, seen_fol[keep], c.poster_followers))
                xc.append(curve_features(shown, then))
                valid = then >= AGES_MIN[0] * 60.0
                sr.append(float(np.count_nonzero(keep)) if valid else math.nan)
                sc.append(float(shown.sum()) if valid else math.nan)
            made = seismic_forecast(times, seen_fol, c.poster_followers, at)
            if made.state == FORECAST and made.predicted is not None:
                high = math.inf if made.high is None else made.high
                s = (made.predicted, made.low or math.nan, high)
            elif made.state == "taking-off":
                s = (math.inf, made.low or math.nan, math.inf)
            else:
                s = (math.nan, math.nan, math.nan)
            for key, value in (
                ("c", ci),
                ("a", ai),
                ("xr", xr),
                ("xc", xc),
                ("sr", sr),
                ("sc", sc),
                ("f", c.final),
                ("s", s),
            ):
                out[key].append(value)
    cascade = np.array(out["c"])
    age = np.array(out["a"])
    large = np.array([cascades[i].group == "large" for i in cascade])
    weight = np.ones(cascade.size)
    # at each age the two sources weigh the same, each cascade within a source alike
    for ai in range(len(AGES_MIN)):
        for part in (large, ~large):
            at = part & (age == ai)
            if at.any():
                weight[at] = 1.0 / at.sum()
    return Rows(
        cascade=cascade,
        age=age,
        large=large,
        x={"reshares": np.array(out["xr"]), "counts": np.array(out["xc"])},
        seen={"reshares": np.array(out["sr"]), "counts": np.array(out["sc"])},
        final=np.array(out["f"]),
        weight=weight,
        seismic=np.array(out["s"]),
    )


def train(x: np.ndarray, y: np.ndarray, w: np.ndarray, setting: dict[str, int]) -> Any:
    """One LightGBM booster of median regression trees."""
    import lightgbm as lgb

    params = {**BASE_PARAMS, **{k: v for k, v in setting.items() if k != "rounds"}}
    return lgb.train(params, lgb.Dataset(x, y, weight=w), setting["rounds"])


def fold_of(cascades: list[Cascade]) -> np.ndarray:
    """Cascade -> fold: large ones dealt round-robin by size, small ones at random (fixed seed)."""
    folds = np.zeros(len(cascades), dtype=np.int64)
    large = [i for i, c in enumerate(cascades) if c.group == "large"]
    for rank, i in enumerate(sorted(large, key=lambda i: cascades[i].final)):
        folds[i] = rank % FOLDS
    rng = np.random.default_rng(13)
    small = [i for i, c in enumerate(cascades) if c.group != "large"]
    folds[small] = rng.integers(0, FOLDS, len(small))
    return folds


def target(rows: Rows, model: str) -> np.ndarray:
    """log(final / seen) of every row (nan where the model does not forecast)."""
    seen = np.where(usable(rows, model), rows.seen[model][:, 0], np.nan)
    return np.asarray(np.log(rows.final / seen))


def usable(rows: Rows, model: str) -> np.ndarray:
    """Rows the model forecasts (the curve counts whole minutes only: it can see fewer)."""
    return np.asarray(np.nan_to_num(rows.seen[model][:, 0], nan=0.0) >= MIN_EVENTS)


def smoothed(rows: Rows, model: str, per_step: np.ndarray) -> np.ndarray:
    """The smoothed predicted log ratio engmon shows (`smoothed_log_final`), from the
    predicted log ratios at each step (rows x SMOOTH_STEPS)."""
    seen = rows.seen[model]
    # engmon stops at the first step with too few events or too young
    valid = np.cumprod(np.nan_to_num(seen, nan=0.0) >= MIN_EVENTS, axis=1).astype(bool)
    logs = np.where(valid, np.log(np.where(valid, seen, 1.0)) + np.maximum(per_step, 0.0), 0.0)
    many = np.maximum(valid.sum(axis=1), 1)
    return np.asarray(logs.sum(axis=1) / many - np.log(np.where(valid[:, 0], seen[:, 0], 1.0)))


def out_of_fold(
    rows: Rows, model: str, cols: list[int], setting: dict[str, int], folds: np.ndarray
) -> np.ndarray:
    """Held-out predicted log ratios (each row predicted by a fit without its cascade)."""
    x = rows.x[model][:, :, cols]
    y = target(rows, model)
    per_step = np.full(rows.seen[model].shape, np.nan)
    fold = np.where(usable(rows, model), folds[rows.cascade], -1)
    for k in range(FOLDS):
        train_on, test = (fold != k) & (fold >= 0), fold == k
        fitted = train(x[train_on, 0], y[train_on], rows.weight[train_on], setting)
        for step in range(SMOOTH_STEPS):
            per_step[test, step] = fitted.predict(x[test, step])
    return smoothed(rows, model, per_step)


def score(rows: Rows, model: str, pred: np.ndarray) -> float:
    """Weighted mean |log error| of the (floored) forecast over ages up to a day."""
    y = target(rows, model)
    keep = (np.asarray(AGES_MIN)[rows.age] <= 1440) & usable(rows, model)
    err = np.abs(np.maximum(pred, 0.0) - y)[keep]
    return float(np.average(err, weights=rows.weight[keep]))


def wquantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Weighted quantile (the smallest value whose cumulative weight reaches q)."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def smooth(values: np.ndarray) -> np.ndarray:
    """Running mean over three neighbouring ages (the quantiles are noisy at single ages)."""
    padded = np.concatenate(([values[0]], values, [values[-1]]))
    return np.asarray((padded[:-2] + padded[1:-1] + padded[2:]) / 3.0)


def conformal(rows: Rows, model: str, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per age: the 5% and 95% weighted quantiles of held-out residual log ratios, smoothed."""
    resid = target(rows, model) - pred
    low = np.zeros(len(AGES_MIN))
    high = np.zeros(len(AGES_MIN))
    for ai in range(len(AGES_MIN)):
        at = (rows.age == ai) & usable(rows, model)
        low[ai] = wquantile(resid[at], rows.weight[at], (1 - LEVEL) / 2)
        high[ai] = wquantile(resid[at], rows.weight[at], (1 + LEVEL) / 2)
    return np.minimum(smooth(low), 0.0), np.maximum(smooth(high), 0.0)


def export_trees(booster: Any, cols: list[int]) -> dict[str, object]:
    """The booster's trees as padded arrays (the form engmon.core.forecast_model.Trees reads);
    feature indices refer to the model's own feature list."""
    dumped = booster.dump_model()["tree_info"]
    flat: list[list[tuple[int, float, int, int, float]]] = []
    depth = 0

    def walk(node: dict[str, Any], nodes: list[tuple[int, float, int, int, float]], d: int) -> int:
        nonlocal depth
        at = len(nodes)
        nodes.append((0, 0.0, at, at, 0.0))
        if "leaf_value" in node:
            nodes[at] = (0, 0.0, at, at, float(node["leaf_value"]))
            depth = max(depth, d)
            return at
        assert node["decision_type"] == "<=", node["decision_type"]
        left = walk(node["left_child"], nodes, d + 1)
        right = walk(node["right_child"], nodes, d + 1)
        nodes[at] = (int(node["split_feature"]), float(node["threshold"]), left, right, 0.0)
        return at

    for tree in dumped:
        nodes: list[tuple[int, float, int, int, float]] = []
        walk(tree["tree_structure"], nodes, 0)
        flat.append(nodes)
    width = max(len(nodes) for nodes in flat)
    for nodes in flat:  # pad with leaves worth nothing, never reached
        nodes.extend((0, 0.0, k, k, 0.0) for k in range(len(nodes), width))
    table = np.array(flat, dtype=np.float64)  # trees x nodes x 5
    return {
        "depth": depth,
        "feature": table[:, :, 0].astype(int).tolist(),
        # in full: LightGBM can split right at a value a feature often takes
        "threshold": table[:, :, 1].tolist(),
        "left": table[:, :, 2].astype(int).tolist(),
        "right": table[:, :, 3].astype(int).tolist(),
        "value": table[:, :, 4].round(7).tolist(),
    }


def check_export(spec: dict[str, object], booster: Any, x: np.ndarray) -> None:
    """engmon's tree walk gives LightGBM's prediction (on a sample of training rows)."""
    raw: dict[str, Any] = spec
    trees = Trees(
        feature=np.asarray(raw["feature"], dtype=np.int64),
        threshold=np.asarray(raw["threshold"], dtype=np.float64),
        left=np.asarray(raw["left"], dtype=np.int64),
        right=np.asarray(raw["right"], dtype=np.int64),
        value=np.asarray(raw["value"], dtype=np.float64),
        depth=int(raw["depth"]),
    )
    sample = x[:: max(len(x) // 500, 1)]
    ours = np.array([trees(row) for row in sample])
    assert np.allclose(ours, booster.predict(sample), atol=1e-4), "tree export mismatch"


def fit(
    rows: Rows,
    cascades: list[Cascade],
    *,
    verbose: bool = True,
    chosen: dict[str, tuple[tuple[str, ...], dict[str, int]]] | None = None,
) -> tuple[dict[str, object], dict[str, object]]:
    """Choose (or take `chosen`: features and settings per model) and fit each model; return
    the JSON spec and the cross-validation figures."""
    folds = fold_of(cascades)
    spec: dict[str, object] = {}
    report: dict[str, object] = {}
    for model, candidates in CANDIDATES.items():
        tries = (
            [chosen[model]]
            if chosen is not None
            else [(names, setting) for names in candidates for setting in SETTINGS]
        )
        best: tuple[float, tuple[str, ...], dict[str, int], np.ndarray] | None = None
        for names, setting in tries:
            cols = [FEATURES.index(n) for n in names]
            pred = out_of_fold(rows, model, cols, setting, folds)
            s = score(rows, model, pred)
            if verbose:
                label = "all" if names == FEATURES else "no followers"
                print(f"   {model:8} {label:13} {setting}: {s:.4f}", flush=True)
            if best is None or s < best[0]:
                best = (s, names, setting, pred)
        assert best is not None
        _, names, setting, pred = best
        cols = [FEATURES.index(n) for n in names]
        low, high = conformal(rows, model, pred)
        ok = usable(rows, model)
        x = rows.x[model][ok, 0][:, cols]
        booster = train(x, target(rows, model)[ok], rows.weight[ok], setting)
        trees = export_trees(booster, cols)
        check_export(trees, booster, x)
        spec[model] = {
            "features": list(names),
            "setting": setting,
            "trees": trees,
            "ages_s": [m * 60.0 for m in AGES_MIN],
            "low": low.round(6).tolist(),
            "high": high.round(6).tolist(),
        }
        report[model] = cv_figures(rows, model, pred, low, high)
    return spec, report


def cv_figures(
    rows: Rows, model: str, pred: np.ndarray, low: np.ndarray, high: np.ndarray
) -> dict[str, object]:
    """Per horizon and source: median relative error and interval coverage on held-out folds."""
    seen = rows.seen[model][:, 0]
    figures: dict[str, object] = {}
    for minutes in (10, 30, 60):
        ai = AGES_MIN.index(minutes)
        for group, mask in (("large", rows.large), ("small", ~rows.large)):
            at = (rows.age == ai) & mask & usable(rows, model)
            if not at.any():
                continue
            forecast = seen[at] * np.exp(np.maximum(pred[at], 0.0))
            lo = seen[at] * np.exp(np.maximum(pred[at] + low[ai], 0.0))
            hi = seen[at] * np.exp(np.maximum(pred[at] + high[ai], 0.0))
            lo, hi = np.minimum(lo, forecast), np.maximum(hi, forecast)
            final = rows.final[at]
            uncal = rows.seismic[at]
            figures[f"{minutes}m {group}"] = {
                "cascades": int(at.sum()),
                "median_error": statistics.median(np.abs(forecast - final) / final),
                "coverage": float(np.mean((lo <= final) & (final <= hi))),
                # no SEISMIC number (taking off, nothing to estimate): an infinite error, a miss
                "seismic_median_error": statistics.median(
                    np.where(np.isnan(uncal[:, 0]), np.inf, np.abs(uncal[:, 0] - final) / final)
                ),
                "seismic_coverage": float(np.mean((uncal[:, 1] <= final) & (final <= uncal[:, 2]))),
            }
    return figures


def main_fit(argv: list[str]) -> None:
    """Fit, print the cross-validation figures, and write the model file with --write."""
    cascades = training_cascades()
    rows = cascade_rows(cascades)
    print(f"   {len(cascades)} cascades, {len(rows.final)} (cascade, age) rows", flush=True)
    spec, report = fit(rows, cascades)
    for model, figures in report.items():
        for key, fig in figures.items():  # type: ignore[attr-defined]
            print(
                f"   {model:8} {key:10} n={fig['cascades']:5}  median error"
                f" {fig['median_error']:6.1%}  90% coverage {fig['coverage']:6.1%}"
                f"  (SEISMIC defaults {fig['seismic_median_error']:6.1%},"
                f" 95% coverage {fig['seismic_coverage']:6.1%})"
            )
    if "--write" in argv:
        payload = {
            "about": (
                "Calibrated forecast of engmon (engmon/core/forecast_model.py), fitted by "
                "bench/fit_forecast.py on public retweet cascades: TiDeH training cascades "
                "(MIT, NII-Kobayashi/TiDeH 23bc22f8, from the SEISMIC data set of Zhao et al., "
                "KDD 2015) and evently's auspol cascades (MIT, behavioral-ds/evently d3e6a693)."
            ),
            "level": LEVEL,
            "min_events": MIN_EVENTS,
            "models": spec,
            "cross_validation": report,
        }
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
        print(f"   wrote {OUT}")


if __name__ == "__main__":
    main_fit(sys.argv[1:])
