"""Many small least-squares fits at once: one per house, vectorised through normal equations.

Both the classifier's temperature sensitivity and the anomaly baseline regress a house's daily
energy on degree-days. Thousands of houses times a few regressors is a batch of tiny systems:
sum the outer products per house, then solve them all in one ``numpy.linalg.solve`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Tukey's bisquare constant (95 % efficiency under normal errors) and MAD-to-sigma factor.
BISQUARE_C = 4.685
MAD_TO_SIGMA = 1.4826


@dataclass
class HouseFits:
    """Coefficients per house (rows in ``houses`` order) and a robust scale of the residuals."""

    houses: np.ndarray
    coef: np.ndarray  # (houses, regressors)
    scale: np.ndarray  # (houses,)
    n: np.ndarray  # (houses,) observations used


def robust_scale(values: np.ndarray) -> float:
    """The median absolute deviation of ``values``, scaled to a normal sigma."""
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def design(frame: pd.DataFrame, regressors: list[str]) -> np.ndarray:
    """The design matrix: an intercept and the named columns."""
    return np.column_stack([np.ones(len(frame)), *[frame[c].to_numpy(float) for c in regressors]])


def solve_per_group(
    groups: np.ndarray,
    n_groups: int,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    ridge: float = 1e-6,
) -> np.ndarray:
    """Weighted least squares for each group of rows (``groups`` are 0..n_groups-1 codes)."""
    w = np.ones(len(y)) if weights is None else weights
    k = x.shape[1]
    xtx = np.zeros((n_groups, k, k))
    xty = np.zeros((n_groups, k))
    for i in range(k):
        xty[:, i] = np.bincount(groups, w * x[:, i] * y, n_groups)
        for j in range(i, k):
            xtx[:, i, j] = xtx[:, j, i] = np.bincount(groups, w * x[:, i] * x[:, j], n_groups)
    # A small ridge keeps a slope at zero when a window has no spread in that regressor
    # (no heating degree-days in summer), instead of a singular system.
    scale = np.maximum(np.einsum("gii->gi", xtx), 1.0)
    penalty = np.zeros((n_groups, k, k))
    idx = np.arange(1, k)
    penalty[:, idx, idx] = ridge * scale[:, 1:]
    return np.linalg.solve(xtx + penalty, xty[..., None])[..., 0]


def _group_median(groups: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    starts = np.searchsorted(g, np.arange(n_groups), "left")
    ends = np.searchsorted(g, np.arange(n_groups), "right")
    counts = ends - starts
    lo = v[np.clip(starts + (counts - 1) // 2, 0, len(v) - 1)]
    hi = v[np.clip(starts + counts // 2, 0, len(v) - 1)]
    return np.where(counts > 0, (lo + hi) / 2, np.nan)


def _bisquare(resid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    u = resid / (BISQUARE_C * np.maximum(scale, 1e-9))
    return np.where(np.abs(u) < 1, (1 - u**2) ** 2, 0.0)


def fit_per_house(
    frame: pd.DataFrame,
    targets: list[str],
    regressors: list[str],
    robust_iterations: int = 0,
    ridge: float = 1e-6,
) -> dict[str, HouseFits]:
    """``target ~ 1 + regressors`` for each house and target; robust with iterations.

    Without iterations: ordinary least squares. With them: a high-breakdown start (each
    house's median, no slopes) and Tukey-bisquare re-weighting by residuals scaled by their
    median absolute deviation, with one weight per day shared by all targets. So days that
    are themselves anomalous in any target (a vacancy, a meter bypass) stop pulling the
    baseline, even when they are a third of the history.
    """
    codes, houses = pd.factorize(frame["house_id"], sort=True)
    n_groups = len(houses)
    x = design(frame, regressors)
    ys = {t: frame[t].to_numpy(float) for t in targets}
    n = np.bincount(codes, minlength=n_groups)
    coefs: dict[str, np.ndarray] = {}
    resids: dict[str, np.ndarray] = {}
    scales: dict[str, np.ndarray] = {}
    for t, y in ys.items():
        if robust_iterations:
            coef = np.zeros((n_groups, x.shape[1]))
            coef[:, 0] = _group_median(codes, n_groups, y)
        else:
            coef = solve_per_group(codes, n_groups, x, y, ridge=ridge)
        coefs[t] = coef
        resids[t] = y - np.einsum("nk,nk->n", x, coef[codes])
        scales[t] = MAD_TO_SIGMA * _group_median(codes, n_groups, np.abs(resids[t]))
    for _ in range(robust_iterations):
        w = np.ones(len(codes))
        for t in ys:
            # A floor on the spread: a channel that is nearly constant must not refuse
            # every day that differs from it by a rounding.
            floor = 0.02 * np.abs(coefs[t][:, 0])
            w = w * _bisquare(resids[t], np.maximum(scales[t], floor)[codes])
        # A house whose every day was refused keeps its days: better a plain fit than none.
        kept = np.bincount(codes, w, n_groups)
        w = np.where(kept[codes] < x.shape[1] + 1, 1.0, w)
        for t, y in ys.items():
            coefs[t] = solve_per_group(codes, n_groups, x, y, weights=w, ridge=ridge)
            resids[t] = y - np.einsum("nk,nk->n", x, coefs[t][codes])
            scales[t] = MAD_TO_SIGMA * _group_median(codes, n_groups, np.abs(resids[t]))
    return {t: HouseFits(np.asarray(houses), coefs[t], scales[t], n) for t in ys}
