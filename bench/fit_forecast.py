"""Fit the calibrated forecast (engmon/core/data/forecast_model.json) on public training cascades.

Reads /work/shared/data/cascades/train/ only (72 large TiDeH retweet cascades and 3,320 small
evently ones, both MIT: origins in bench/_cascades.py); the three shared cascades beside it are
never read here. Run by hand, never by tests:

    python -m bench.fit_forecast [--write]

For each cascade and each age of a grid (5 minutes to a week) it computes the model's features
from what was seen by then (engmon.core.forecast_model.features, the code engmon runs) and the
target log(final / seen). Per age, a weighted ridge regression; the feature set and the ridge
strength are chosen by 5-fold cross-validation grouped by cascade; the 5% and 95% quantiles of
the held-out residuals give the 90% interval (split conformal). Each cascade weighs its final
size: the small set lacks its source's largest cascades, so counting each cascade once would
teach the model that posts stay small.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench._cascades import Cascade, training_cascades
from engmon.core.forecast import FORECAST, seismic_forecast
from engmon.core.forecast_model import FEATURES, MIN_EVENTS, curve_features, features

OUT = Path(__file__).resolve().parent.parent / "engmon/core/data/forecast_model.json"
AGES_MIN = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1080, 1440, 2160, 2880,
            4320, 5760, 7200, 10080)  # fmt: skip
FOLDS = 5
LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0)
HOW = ("pooled",)
"""One fit per age was tried too: no better, and its coefficients jump from one age to the next."""
SHAPE = ("recent_half", "recent_quarter", "recent_eighth", "decay")
CANDIDATES: dict[str, tuple[tuple[str, ...], ...]] = {
    # SEISMIC's terms ("seismic", "seismic_next", "infectious") were tried too: no better in
    # cross-validation, and they jump when a big account reshares (a forecast 4x up, then down
    # the next minute), so they are left out
    "reshares": ((), ("recent_half",), SHAPE),
    "counts": ((), SHAPE, ("recent_half", "decay"), ("recent_half",)),
}
LEVEL = 0.90
BALANCE_SOURCES = True


@dataclass
class Rows:
    """One row per (cascade, age) with at least MIN_EVENTS seen."""

    cascade: np.ndarray  # index into the cascade list
    age: np.ndarray  # index into AGES_MIN
    x: dict[str, np.ndarray]  # per model: features (rows x FEATURES)
    seen: dict[str, np.ndarray]
    final: np.ndarray
    weight: np.ndarray
    seismic: np.ndarray  # uncalibrated SEISMIC: predicted, low, high (nan: none, inf: unbounded)


def cascade_rows(cascades: list[Cascade]) -> Rows:
    """Features and targets of every cascade at every age of the grid."""
    keys = ("c", "a", "xr", "xc", "sr", "sc", "f", "w", "s")
    out: dict[str, list[object]] = {k: [] for k in keys}
    for ci, c in enumerate(cascades):
        for ai, minutes in enumerate(AGES_MIN):
            at = minutes * 60.0
            seen = int(np.searchsorted(c.times_s, at, side="right"))
            if seen < MIN_EVENTS:
                continue
            times, fol = c.times_s[:seen], c.followers[:seen]
            curve = np.bincount((times[times < at] // 60).astype(np.int64), minlength=minutes)
            made = seismic_forecast(times, fol, c.poster_followers, at)
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
                ("xr", features(times, at, fol, c.poster_followers)),
                ("xc", curve_features(curve[:minutes], at)),
                ("sr", float(seen)),
                ("sc", float(curve[:minutes].sum())),
                ("f", c.final),
                ("w", c.final),
                ("s", s),
            ):
                out[key].append(value)
    cascade = np.array(out["c"])
    age = np.array(out["a"])
    weight = np.array(out["w"], dtype=np.float64)
    if BALANCE_SOURCES:
        # within a source each cascade weighs its size; at each age the two sources weigh the same
        large = np.array([cascades[i].group == "large" for i in cascade])
        for ai in range(len(AGES_MIN)):
            for part in (large, ~large):
                at = part & (age == ai)
                if at.any():
                    weight[at] /= weight[at].sum()
    return Rows(
        cascade=np.array(out["c"]),
        age=np.array(out["a"]),
        x={"reshares": np.array(out["xr"]), "counts": np.array(out["xc"])},
        seen={"reshares": np.array(out["sr"]), "counts": np.array(out["sc"])},
        final=np.array(out["f"]),
        weight=weight,
        seismic=np.array(out["s"]),
    )


def ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> dict[str, np.ndarray]:
    """Weighted ridge median regression on standardised features (intercept not penalised):
    least absolute deviations by iteratively reweighted least squares, as the goal is the
    median error, and log ratios are skewed (a few cascades grow tenfold)."""
    ws = w / w.sum()
    mean = ws @ x if x.shape[1] else np.zeros(0)
    scale = np.sqrt(ws @ (x - mean) ** 2) if x.shape[1] else np.zeros(0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.column_stack([np.ones(len(y)), (x - mean) / scale])
    penalty = lam * np.eye(z.shape[1])
    penalty[0, 0] = 0.0
    weights = ws.copy()
    coef = np.zeros(z.shape[1])
    for _ in range(30):
        coef = np.linalg.solve(z.T @ (z * weights[:, None]) + penalty, z.T @ (weights * y))
        weights = ws / np.maximum(np.abs(y - z @ coef), 0.02)
        weights /= weights.sum()
    return {"mean": mean, "scale": scale, "coef": coef}


def predict(fit: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The fitted log ratio for feature rows."""
    return np.asarray(fit["coef"][0] + ((x - fit["mean"]) / fit["scale"]) @ fit["coef"][1:])


def wquantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Weighted quantile (the smallest value whose cumulative weight reaches q)."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


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


def out_of_fold(
    rows: Rows, model: str, cols: list[int], lam: float, folds: np.ndarray, how: str
) -> np.ndarray:
    """Held-out predicted log ratios (each row predicted by a fit without its cascade)."""
    x = rows.x[model][:, cols]
    pred = np.full(len(rows.final), np.nan)
    fold = folds[rows.cascade]
    for k in range(FOLDS):
        fits = fits_for(rows, model, cols, lam, fold != k, how)
        for ai, fitted in enumerate(fits):
            test = (fold == k) & (rows.age == ai)
            if test.any():
                pred[test] = predict(fitted, x[test])
    return pred


def basis(minutes: np.ndarray) -> np.ndarray:
    """Smooth functions of the age (1, u, u^2 with u = log age, scaled to about [-1, 1]): the
    pooled model's coefficients vary with age along them."""
    u = np.log(np.asarray(minutes, dtype=np.float64) / 60.0) / math.log(10080 / 60)
    return np.column_stack([np.ones_like(u), u, u * u])


def pooled(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, ages: np.ndarray, lam: float
) -> list[dict[str, np.ndarray]]:
    """One median regression over every age, each coefficient a smooth function of the age
    (far fewer parameters than one fit per age: 72 large cascades are few). Returns the
    per-age fits of the grid, in the form `ridge` returns."""
    ws = w / w.sum()
    mean = ws @ x if x.shape[1] else np.zeros(0)
    scale = np.sqrt(ws @ (x - mean) ** 2) if x.shape[1] else np.zeros(0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.column_stack([np.ones(len(y)), (x - mean) / scale])
    b = basis(np.asarray(AGES_MIN)[ages])
    design = np.column_stack([z[:, [j]] * b for j in range(z.shape[1])])
    penalty = lam * np.eye(design.shape[1])
    penalty[:3, :3] = 0.0  # the intercept's curve is not shrunk
    weights = ws.copy()
    beta = np.zeros(design.shape[1])
    for _ in range(30):
        lhs = design.T @ (design * weights[:, None]) + penalty
        beta = np.linalg.solve(lhs, design.T @ (weights * y))
        weights = ws / np.maximum(np.abs(y - design @ beta), 0.02)
        weights /= weights.sum()
    per_age = basis(np.asarray(AGES_MIN)) @ beta.reshape(z.shape[1], 3).T
    return [{"mean": mean, "scale": scale, "coef": per_age[ai]} for ai in range(len(AGES_MIN))]


def fits_for(
    rows: Rows, model: str, cols: list[int], lam: float, mask: np.ndarray, how: str
) -> list[dict[str, np.ndarray]]:
    """Per-age fits on the rows in `mask`: one ridge per age, or one pooled over ages."""
    x = rows.x[model][:, cols]
    y = np.log(rows.final / rows.seen[model])
    if how == "pooled":
        return pooled(x[mask], y[mask], rows.weight[mask], rows.age[mask], lam)
    out = []
    for ai in range(len(AGES_MIN)):
        at = mask & (rows.age == ai)
        out.append(ridge(x[at], y[at], rows.weight[at], lam))
    return out


def score(rows: Rows, model: str, pred: np.ndarray) -> float:
    """Weighted mean |log error| of the (floored) forecast over ages up to a day."""
    y = np.log(rows.final / rows.seen[model])
    keep = np.asarray(AGES_MIN)[rows.age] <= 1440
    err = np.abs(np.maximum(pred, 0.0) - y)[keep]
    return float(np.average(err, weights=rows.weight[keep]))


def smooth(values: np.ndarray) -> np.ndarray:
    """Running mean over three neighbouring ages (the quantiles are noisy at single ages)."""
    padded = np.concatenate(([values[0]], values, [values[-1]]))
    return np.asarray((padded[:-2] + padded[1:-1] + padded[2:]) / 3.0)


def fit(
    rows: Rows, cascades: list[Cascade], *, verbose: bool = True
) -> tuple[dict[str, object], dict[str, object]]:
    """Choose and fit each model; return the JSON spec and the cross-validation figures."""
    folds = fold_of(cascades)
    spec: dict[str, object] = {}
    report: dict[str, object] = {}
    for model, candidates in CANDIDATES.items():
        best: tuple[float, tuple[str, ...], float, str, np.ndarray] | None = None
        for names in candidates:
            cols = [FEATURES.index(n) for n in names]
            for how in HOW:
                for lam in LAMBDAS:
                    pred = out_of_fold(rows, model, cols, lam, folds, how)
                    s = score(rows, model, pred)
                    if verbose:
                        print(f"   {model:8} {','.join(names):58} {how:7} {lam:g}: {s:.4f}")
                    if best is None or s < best[0]:
                        best = (s, names, lam, how, pred)
        assert best is not None
        _, names, lam, how, pred = best
        cols = [FEATURES.index(n) for n in names]
        y = np.log(rows.final / rows.seen[model])
        resid = y - pred
        low = np.zeros(len(AGES_MIN))
        high = np.zeros(len(AGES_MIN))
        for ai in range(len(AGES_MIN)):
            at = rows.age == ai
            low[ai] = wquantile(resid[at], rows.weight[at], (1 - LEVEL) / 2)
            high[ai] = wquantile(resid[at], rows.weight[at], (1 + LEVEL) / 2)
        fits = fits_for(rows, model, cols, lam, np.ones(len(y), dtype=bool), how)
        low, high = smooth(low), smooth(high)
        spec[model] = {
            "features": list(names),
            "ridge_lambda": lam,
            "fit": how,
            "ages_s": [m * 60.0 for m in AGES_MIN],
            "mean": [f["mean"].round(6).tolist() for f in fits],
            "scale": [f["scale"].round(6).tolist() for f in fits],
            "coef": [f["coef"].round(6).tolist() for f in fits],
            "low": low.round(6).tolist(),
            "high": high.round(6).tolist(),
        }
        report[model] = cv_figures(rows, model, pred, low, high)
    return spec, report


def cv_figures(
    rows: Rows, model: str, pred: np.ndarray, low: np.ndarray, high: np.ndarray
) -> dict[str, object]:
    """Per horizon and group: median relative error and interval coverage on held-out folds."""
    seen = rows.seen[model]
    figures: dict[str, object] = {}
    for minutes in (10, 30, 60):
        ai = AGES_MIN.index(minutes)
        for group, mask in (("large", rows.final >= 1000), ("small", rows.final < 1000)):
            at = (rows.age == ai) & mask
            if not at.any():
                continue
            forecast = seen[at] * np.exp(np.maximum(pred[at], 0.0))
            lo = seen[at] * np.exp(np.maximum(pred[at] + low[ai], 0.0))
            hi = seen[at] * np.exp(np.maximum(pred[at] + high[ai], 0.0))
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
        OUT.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"   wrote {OUT}")


if __name__ == "__main__":
    main_fit(sys.argv[1:])
