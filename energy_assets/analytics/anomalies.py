"""Consumption anomalies: each house-day against the house's own weather-adjusted baseline.

The baseline is a degree-day model in the spirit of CalTRACK's daily method: daily energy
regressed on heating and cooling degree-days (and a weekend term), fitted per house on up to
56 days before the scored day, and trusted once it has 28 of them (the warm-up). A second
channel does the same for the night base load, which is steady from day to day in a healthy
home and moves a lot when an appliance fails (it rises) or the meter is bypassed (it falls).

The fit is robust (a median start, then Tukey-bisquare weights shared by both channels), so a
fortnight of vacancy in the history does not drag the baseline down with it. A day is
anomalous when a channel's residual is far outside the house's own spread *and* a sizeable
share of what was expected: a house that is merely busy (guests) stays normal. The thresholds
were chosen on simulated summer and winter months and are scored again on every run.

Plain pandas and numpy; nothing here reads the simulator's truth except
:func:`score_against_truth`, which is only called for evaluation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from energy_assets.analytics.features import is_weekend
from energy_assets.analytics.regression import design, fit_per_house

REGRESSORS = ["hdd", "cdd", "weekend"]
CHANNELS = ["total_kwh", "base_load_kw"]
ANOMALY_COLUMNS = (
    "house_id",
    "day",
    "actual_kwh",
    "expected_kwh",
    "residual_kwh",
    "score",
    "base_load_kw",
    "expected_base_load_kw",
    "base_load_score",
    "is_anomaly",
    "history_days",
)
_DTYPES = {
    "house_id": "object",
    "day": "object",
    "is_anomaly": "boolean",
    "history_days": "int64",
}


@dataclass(frozen=True)
class BaselineParams:
    """How the baseline is fitted and when a residual is an anomaly."""

    history_days: int = 56
    min_history_days: int = 28
    robust_iterations: int = 6
    # Daily energy: robust z-score, and the ratio to expected outside [low, high].
    energy_threshold: float = 5.0
    energy_ratio_low: float = 0.5
    energy_ratio_high: float = 1.8
    # Night base load: the same, tighter, because it is steadier.
    base_threshold: float = 2.5
    base_ratio_low: float = 0.75
    base_ratio_high: float = 2.0
    sigma_floor_relative: float = 0.05  # a channel's spread is at least this share of expected


def _prepared(daily: pd.DataFrame) -> pd.DataFrame:
    d = daily[["house_id", "day", *CHANNELS, "hdd", "cdd"]].copy()
    d["day"] = pd.to_datetime(d["day"]).dt.date
    d["weekend"] = is_weekend(d["day"]).astype(float)
    return d


def detect_anomalies(
    daily: pd.DataFrame, days: Sequence[dt.date], params: BaselineParams = BaselineParams()
) -> pd.DataFrame:
    """One row per house and scored day: actual, expected, residual, scores and ``is_anomaly``.

    ``daily`` holds the daily aggregates of the scored days and of the history before them.
    A house-day with less than ``min_history_days`` of history gets expected values but no
    verdict (``is_anomaly`` is null): the baseline is not trusted yet.
    """
    d = _prepared(daily)
    frames = []
    for day in days:
        today = d[d["day"] == day]
        if today.empty:
            continue
        first = day - dt.timedelta(days=params.history_days)
        history = d[(d["day"] >= first) & (d["day"] < day)]
        frames.append(_score_day(today, history, params))
    if not frames:
        return pd.DataFrame(
            {c: pd.Series(dtype=_DTYPES.get(c, "float64")) for c in ANOMALY_COLUMNS}
        )
    return pd.concat(frames, ignore_index=True)[list(ANOMALY_COLUMNS)]


def _channel(
    today: pd.DataFrame, fits, channel: str, params: BaselineParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected value, robust z-score and ratio to expected of one channel."""
    actual = today[channel].to_numpy(float)
    expected = np.full(len(today), np.nan)
    scale = np.full(len(today), np.nan)
    if fits is not None:
        fit = fits[channel]
        pos = pd.Index(fit.houses).get_indexer(today["house_id"])
        has = pos >= 0
        x = design(today, REGRESSORS)
        expected[has] = np.maximum(0.0, np.einsum("nk,nk->n", x[has], fit.coef[pos[has]]))
        scale[has] = fit.scale[pos[has]]
    sigma = np.maximum(
        np.nan_to_num(scale), np.maximum(params.sigma_floor_relative * expected, 1e-3)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, actual / expected, np.inf)
    return expected, (actual - expected) / sigma, ratio


def _score_day(today: pd.DataFrame, history: pd.DataFrame, params: BaselineParams) -> pd.DataFrame:
    fits = (
        fit_per_house(history, CHANNELS, REGRESSORS, params.robust_iterations)
        if not history.empty
        else None
    )
    n = np.zeros(len(today), dtype=np.int64)
    if fits is not None:
        pos = pd.Index(fits["total_kwh"].houses).get_indexer(today["house_id"])
        n = np.where(pos >= 0, fits["total_kwh"].n[np.maximum(pos, 0)], 0)
    exp_e, z_e, r_e = _channel(today, fits, "total_kwh", params)
    exp_b, z_b, r_b = _channel(today, fits, "base_load_kw", params)
    energy_off = (np.abs(z_e) >= params.energy_threshold) & (
        (r_e <= params.energy_ratio_low) | (r_e >= params.energy_ratio_high)
    )
    base_off = (np.abs(z_b) >= params.base_threshold) & (
        (r_b <= params.base_ratio_low) | (r_b >= params.base_ratio_high)
    )
    verdict = pd.array(energy_off | base_off, dtype="boolean")
    verdict[n < params.min_history_days] = pd.NA
    out = today[["house_id", "day"]].reset_index(drop=True)
    actual = today["total_kwh"].to_numpy(float)
    out["actual_kwh"] = actual
    out["expected_kwh"] = exp_e
    out["residual_kwh"] = actual - exp_e
    out["score"] = z_e
    out["base_load_kw"] = today["base_load_kw"].to_numpy(float)
    out["expected_base_load_kw"] = exp_b
    out["base_load_score"] = z_b
    out["is_anomaly"] = verdict
    out["history_days"] = n
    return out


def score_against_truth(anomalies: pd.DataFrame, truth_house_days: pd.DataFrame) -> dict:
    """Precision and recall of ``is_anomaly`` against the injected anomalies (house-days).

    Only house-days with a verdict count. ``truth_house_days`` has ``house_id``, ``day`` and
    ``kind`` (one row per injected anomaly and day).
    """
    judged = anomalies[anomalies["is_anomaly"].notna()][["house_id", "day", "is_anomaly"]].copy()
    judged["day"] = pd.to_datetime(judged["day"]).dt.date
    truth = truth_house_days[["house_id", "day", "kind"]].copy()
    truth["day"] = pd.to_datetime(truth["day"]).dt.date
    kinds = truth.groupby(["house_id", "day"])["kind"].first().rename("kind").reset_index()
    joined = judged.merge(kinds, on=["house_id", "day"], how="left")
    actual = joined["kind"].notna().to_numpy()
    flagged = joined["is_anomaly"].astype(bool).to_numpy()
    tp, fp, fn = (
        int((flagged & actual).sum()),
        int((flagged & ~actual).sum()),
        int((~flagged & actual).sum()),
    )
    recall_by_kind = {
        str(kind): float(grp["is_anomaly"].astype(bool).mean())
        for kind, grp in joined[actual].groupby("kind")
    }
    return {
        "house_days_judged": len(joined),
        "anomalous_house_days": int(actual.sum()),
        "flagged": int(flagged.sum()),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "recall_by_kind": recall_by_kind,
    }


def baseline_curve(
    daily: pd.DataFrame, house_id: str, day: dt.date, params: BaselineParams = BaselineParams()
) -> pd.DataFrame:
    """One house's daily energy over its history and ``day``, with the baseline fitted for ``day``."""
    d = _prepared(daily[daily["house_id"] == house_id])
    first = day - dt.timedelta(days=params.history_days)
    window = d[(d["day"] >= first) & (d["day"] <= day)].sort_values("day")
    history = window[window["day"] < day]
    expected = np.full(len(window), np.nan)
    if not history.empty:
        fit = fit_per_house(history, CHANNELS, REGRESSORS, params.robust_iterations)["total_kwh"]
        x = design(window, REGRESSORS)
        expected = np.maximum(0.0, x @ fit.coef[0])
    return pd.DataFrame(
        {
            "day": window["day"].to_numpy(),
            "actual_kwh": window["total_kwh"].to_numpy(float),
            "expected_kwh": expected,
        }
    )
