"""Consumption anomalies: each house-day against the house's own weather-normalised baseline.

The baseline follows CalTRACK's daily method (daily energy on heating and cooling degree-days
with a balance-point search), fitted per house on up to 56 days before the scored day and
trusted once it has 28 of them (the warm-up). Each house gets the candidate that explains its
days best — no weather term, heating at one of several balance points, cooling at one of
several, or both — and a term is kept only when its slope is positive and clearly non-zero
(CalTRACK's p < 0.1; here a t-statistic of at least 2), so a window without cold days does not
invent a heating slope, and a term a house does have is not left out.

Three channels are scored against the same model: the day's energy, its night-time base load
(steady in a healthy home; up when an appliance fails, down when the meter is bypassed) and its
*activity* (energy above the base: near nothing when the house is empty). A fall of energy and
base load together that holds for five days is a finding even where no single day stands out
(a bypassed meter in a small home whose nights vary by a third). The fit is robust (a
median start, then Tukey-bisquare weights shared by the channels), so a fortnight of vacancy in
the history does not drag the baseline down.

A verdict is given only when the baseline is sufficient: 28 days of history, a scored day whose
readings are complete, and — for an energy *above* the baseline — a day no colder (or hotter,
for a cooling house) than the window has seen by more than a margin: a cold snap beyond the
window's range is what the model cannot know, so it does not raise an alarm on its own (a low
day is still judged: cold never lowers a home's use). Its mirror: a home that heats at night
(its night-time base load follows its nights' lowest temperature, or its model has a heating
term) whose night was warmer than any of its window's is not flagged *low* on its own — its
heating stopped beyond what the baseline has seen, as it does every spring. Every row says why it was flagged, or
why no verdict was given, in ``reason``.

Plain pandas and numpy; nothing here reads the simulator's truth except
:func:`score_against_truth`, which is only called for evaluation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from energy_assets.analytics.daily import HOURLY_COLUMNS
from energy_assets.analytics.features import is_weekend
from energy_assets.analytics.regression import HouseFits, design, fit_per_house

CHANNELS = ["total_kwh", "base_load_kw", "activity_kwh", "sustained_kw", "peak_kw"]
#: Balance points searched (daily mean temperature, °C), as CalTRACK searches them.
HEATING_BALANCE_POINTS = (12.0, 14.0, 16.0, 18.0)
COOLING_BALANCE_POINTS = (20.0, 22.0, 24.0)
#: A house's night-time base load and its nights' lowest temperature correlate at least this
#: negatively over its window: it heats at night.
NIGHT_HEATING_CORRELATION = -0.5
#: Hours a load must hold to count as sustained (an appliance left on runs 6-18 h).
SUSTAINED_HOURS = 6
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
    "activity_kwh",
    "expected_activity_kwh",
    "activity_score",
    "sustained_kw",
    "expected_sustained_kw",
    "sustained_score",
    "peak_kw",
    "expected_peak_kw",
    "model",
    "is_anomaly",
    "reason",
    "history_days",
)
#: Text columns are pandas strings: a day on which no house has a model stays text in Arrow
#: (an all-None object column would become Arrow's null type, and the table's type change).
_DTYPES = {
    "house_id": "object",
    "day": "object",
    "model": "string",
    "is_anomaly": "boolean",
    "reason": "string",
    "history_days": "int64",
}


@dataclass(frozen=True)
class BaselineParams:
    """How the baseline is fitted, when it is sufficient and when a residual is an anomaly."""

    history_days: int = 56
    min_history_days: int = 28
    robust_iterations: int = 6
    # A weather term is kept when its slope is this clear and worth this share of the mean: a
    # window's days are not independent (a week of guests that happened to be cold looks like
    # heating), so the bar is a little higher than CalTRACK's p < 0.1 (t 1.65) over a year.
    min_t_statistic: float = 2.0
    min_weather_share: float = 0.05
    min_completeness: float = 0.9  # of the scored day's intervals, for a verdict
    extrapolation_margin_dd: float = 2.0  # degree-days beyond the window's coldest/hottest
    # An appliance left on: the load held over six hours rises by this much (kW) and score.
    sustained_rise_kw: float = 0.8
    sustained_threshold: float = 4.0
    # A failing appliance: the night-time base rises by this much (kW), ratio and score, so a
    # new freezer (tens of watts, a change of life) is not an anomaly.
    base_rise_kw: float = 0.2
    base_ratio_high: float = 1.5
    base_threshold: float = 3.0
    # A bypassed meter: everything it sees falls, the base load with it (a base that falls
    # alone is a heating season ending, not a bypass).
    base_ratio_low: float = 0.55
    bypass_energy_ratio: float = 0.7
    # A bypass lasts days, a noisy home's low day does not: over the scored day and the days
    # before it, the median ratios of energy and base load to expected are both this low, and
    # the scored day's own ratios below held_day_ratio (the day after a bypass is judged alone).
    held_days: int = 5
    held_energy_ratio: float = 0.6
    held_base_ratio: float = 0.6
    held_day_ratio: float = 0.8
    # ... and as low against the house's own earlier days as warm as those (daily mean within
    # this many °C, at least held_matched_min_days of them): a warm spell lowers a home that
    # heats at night for days, which a model without a heating term does not expect.
    held_matched_c: float = 2.0
    held_matched_min_days: int = 5
    # An empty house: little energy, next to no activity above the base, no peak to speak of.
    # Its peak above the base is a few per cent of the usual (the fridge's compressor); a day
    # that someone spent mostly out still boils a kettle: on the season grid the vacancies' peak
    # ratio was at most 0.09 (nine in ten below 0.05), the false alarms' median 0.13-0.18.
    idle_energy_ratio: float = 0.55
    idle_activity_ratio: float = 0.3
    idle_peak_ratio: float = 0.15
    sigma_floor_relative: float = 0.05  # a channel's spread is at least this share of expected


def _prepared(daily: pd.DataFrame) -> pd.DataFrame:
    d = daily.copy()
    d["day"] = pd.to_datetime(d["day"]).dt.date
    d["weekend"] = is_weekend(d["day"]).astype(float)
    # Energy above the base load; a 23- or 25-hour day differs by 4 %, noise at this scale.
    d["activity_kwh"] = np.maximum(0.0, d["total_kwh"] - 24.0 * d["base_load_kw"])
    d["sustained_kw"] = sustained_load(d)
    t = d["temperature_mean"].to_numpy(float)
    for b in HEATING_BALANCE_POINTS:
        d[f"hdd_{b:g}"] = np.maximum(0.0, b - t)
    for b in COOLING_BALANCE_POINTS:
        d[f"cdd_{b:g}"] = np.maximum(0.0, t - b)
    return d


def sustained_load(daily: pd.DataFrame, hours: int = SUSTAINED_HOURS) -> np.ndarray:
    """The highest load a house held for ``hours`` on end: the best run's quietest hour (kW).

    Cooking and guests make short peaks; an appliance left on for the afternoon lifts every
    hour of a long run, which is what this sees.
    """
    hourly = daily[list(HOURLY_COLUMNS)].to_numpy(float)
    if not len(hourly):
        return np.zeros(0)
    runs = np.lib.stride_tricks.sliding_window_view(hourly, hours, axis=1).min(axis=2)
    return runs.max(axis=1)


def _candidates() -> list[tuple[str, ...]]:
    """Weather terms of the candidate models (a weekend term is always in)."""
    heat = [(f"hdd_{b:g}",) for b in HEATING_BALANCE_POINTS]
    cool = [(f"cdd_{b:g}",) for b in COOLING_BALANCE_POINTS]
    both = [h + c for h in heat for c in cool if float(h[0][4:]) < float(c[0][4:])]
    return [(), *heat, *cool, *both]


@dataclass
class Baseline:
    """Per house: the chosen model's weather terms, its fits per channel and the window."""

    houses: pd.Index
    fits: dict[str, dict[str, HouseFits]]  # by model name, then channel
    model: np.ndarray  # chosen model name per house
    n: np.ndarray  # days of history
    max_dd: pd.DataFrame  # per house: the window's largest value of every degree-day column
    warmest_night: np.ndarray  # per house: the window's highest daily minimum temperature
    heats_at_night: np.ndarray  # per house: its night-time base falls as its nights warm


def _name(terms: tuple[str, ...]) -> str:
    return "+".join(terms) or "intercept"


def _terms(name: str) -> list[str]:
    """The weather terms of a model, from its name."""
    return [] if name == "intercept" else name.split("+")


def fit_baseline(history: pd.DataFrame, params: BaselineParams) -> Baseline:
    """Choose, per house, the best valid candidate for its window, then fit its channels.

    Best: the lowest robust spread of daily energy, after a BIC-like penalty for each term.
    Valid: every weather slope positive, with a t-statistic of at least ``min_t_statistic``
    and worth ``min_weather_share`` of the mean. The choice uses a light robust fit of the
    energy alone; the chosen model is then fitted to every channel, robustly, once.
    """
    houses = pd.Index(sorted(history["house_id"].unique()))
    mean = history.groupby("house_id")["total_kwh"].mean().reindex(houses).to_numpy()
    names, scores = [], []
    for terms in _candidates():
        regs = [*terms, "weekend"]
        energy = fit_per_house(history, ["total_kwh"], regs, robust_iterations=2)["total_kwh"]
        pos = pd.Index(energy.houses).get_indexer(houses)
        n = energy.n[pos].astype(float)
        spread = np.maximum(energy.scale[pos], 1e-6)
        score = n * np.log(spread**2) + (len(regs) + 1) * np.log(np.maximum(n, 2))
        if terms:
            t = _t_statistics(history, energy, regs)[pos][:, 1 : 1 + len(terms)]
            slope = energy.coef[pos][:, 1 : 1 + len(terms)]
            dd = history.groupby("house_id")[list(terms)].mean().reindex(houses).to_numpy()
            worth = slope * dd >= params.min_weather_share * mean[:, None]
            ok = (slope > 0) & (t >= params.min_t_statistic) & worth
            score = np.where(ok.all(axis=1), score, np.inf)
        names.append(_name(terms))
        scores.append(score)
    model = np.array(names, dtype=object)[np.argmin(np.stack(scores), axis=0)]
    chosen = pd.Series(model, index=houses)
    fits = {}
    for name in np.unique(model):
        terms = _terms(name)
        rows = history[history["house_id"].map(chosen) == name]
        fits[name] = fit_per_house(rows, CHANNELS, [*terms, "weekend"], params.robust_iterations)
    n = history.groupby("house_id").size().reindex(houses).to_numpy()
    dd_cols = [c for c in history.columns if c.startswith(("hdd_", "cdd_"))]
    max_dd = history.groupby("house_id")[dd_cols].max().reindex(houses)
    nights = history.assign(
        _night=history["temperature_min"] if "temperature_min" in history else np.nan
    ).groupby("house_id")
    warmest = nights["_night"].max().reindex(houses).to_numpy(float)
    # A home that heats at night: its night-time base load falls as the nights warm, which a
    # model of daily degree-days may not show (a mild spring day with a cold night).
    follows = nights[["_night", "base_load_kw"]].corr().xs("_night", level=1)["base_load_kw"]
    at_night = (follows.reindex(houses) <= NIGHT_HEATING_CORRELATION).to_numpy()
    heats = np.array([name.startswith("hdd_") for name in model], dtype=bool)
    return Baseline(houses, fits, model, n, max_dd, warmest, heats | at_night)


def _t_statistics(frame: pd.DataFrame, fit: HouseFits, regressors: list[str]) -> np.ndarray:
    """Per house and coefficient, |coefficient| over its standard error (robust spread)."""
    codes = pd.Index(fit.houses).get_indexer(frame["house_id"])
    x = design(frame, regressors)
    k = x.shape[1]
    xtx = np.zeros((len(fit.houses), k, k))
    for i in range(k):
        for j in range(i, k):
            xtx[:, i, j] = xtx[:, j, i] = np.bincount(codes, x[:, i] * x[:, j], len(fit.houses))
    ridge = 1e-9 * np.eye(k)[None, :, :] * np.maximum(np.einsum("gii->gi", xtx), 1.0)[:, :, None]
    cov = np.linalg.inv(xtx + ridge) * (fit.scale[:, None, None] ** 2)
    se = np.sqrt(np.maximum(np.einsum("gii->gi", cov), 1e-18))
    return np.abs(fit.coef) / se


def _expected(
    today: pd.DataFrame, base: Baseline, channel: str, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each house-day's expected value and the spread of its channel under its chosen model."""
    expected = np.full(len(today), np.nan)
    spread = np.full(len(today), np.nan)
    pos = base.houses.get_indexer(today["house_id"])
    chosen = np.where(pos >= 0, base.model[np.maximum(pos, 0)], None)
    for name, f in base.fits.items():
        rows = np.flatnonzero(chosen == name)
        if rows.size == 0:
            continue
        fit = f[channel]
        p = pd.Index(fit.houses).get_indexer(today["house_id"].iloc[rows])
        terms = _terms(name)
        frame = today.iloc[rows].copy()
        # Beyond the window's temperatures the model is not trusted to extrapolate: the
        # degree-days are held at the window's range plus the margin.
        seen = base.max_dd.reindex(frame["house_id"])
        for term in terms:
            frame[term] = np.minimum(frame[term].to_numpy(), seen[term].to_numpy() + margin)
        x = design(frame, [*terms, "weekend"])
        expected[rows] = np.maximum(0.0, np.einsum("nk,nk->n", x, fit.coef[p]))
        spread[rows] = fit.scale[p]
    return expected, spread


def _channel(today: pd.DataFrame, base: Baseline | None, channel: str, params: BaselineParams):
    """Actual, expected, robust z-score and ratio to expected of one channel."""
    actual = today[channel].to_numpy(float)
    if base is None:
        nan = np.full(len(today), np.nan)
        return actual, nan, nan, nan
    expected, spread = _expected(today, base, channel, params.extrapolation_margin_dd)
    sigma = np.maximum(
        np.nan_to_num(spread), np.maximum(params.sigma_floor_relative * expected, 1e-3)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, actual / expected, np.inf)
    return actual, expected, (actual - expected) / sigma, ratio


def _beyond_window(today: pd.DataFrame, base: Baseline, params: BaselineParams) -> np.ndarray:
    """Whether the day is colder (hotter) than the window by more than the margin, measured
    in the degree-days of every balance point the models search."""
    pos = base.houses.get_indexer(today["house_id"])
    beyond = np.zeros(len(today), dtype=bool)
    for col in base.max_dd.columns:
        seen = base.max_dd[col].to_numpy(float)[np.maximum(pos, 0)]
        beyond |= today[col].to_numpy(float) > seen + params.extrapolation_margin_dd
    return beyond & (pos >= 0)


def _held_ratios(
    today: pd.DataFrame, history: pd.DataFrame, base: Baseline, params: BaselineParams
) -> tuple[np.ndarray, np.ndarray]:
    """Per house-day of ``today``: the median ratio to expected of the energy and of the base
    load over the scored day and the ``held_days - 1`` days before it, each day judged by
    today's baseline; NaN unless all of them are there and complete, and as low against the
    house's earlier days of the same warmth."""
    day = today["day"].iloc[0]
    first = day - dt.timedelta(days=params.held_days - 1)
    recent = history[
        (history["day"] >= first)
        & (history["completeness"] >= params.min_completeness)
        & history["house_id"].isin(today["house_id"])
    ]
    recent = pd.concat([recent, today], ignore_index=True)
    ratios = pd.DataFrame(
        {
            "house_id": recent["house_id"].to_numpy(),
            "e": _channel(recent, base, "total_kwh", params)[3],
            "b": _channel(recent, base, "base_load_kw", params)[3],
        }
    )
    by_house = ratios.groupby("house_id")
    med = by_house[["e", "b"]].median()
    med[by_house.size() < params.held_days] = np.nan
    below = _below_matched_days(recent, history[history["day"] < first], params)
    med[~below.reindex(med.index, fill_value=False)] = np.nan
    med = med.reindex(today["house_id"])
    return med["e"].to_numpy(float), med["b"].to_numpy(float)


def _below_matched_days(
    recent: pd.DataFrame, before: pd.DataFrame, params: BaselineParams
) -> pd.Series:
    """Per house: whether its recent days' median energy and base load are both below
    ``held_energy_ratio`` and ``held_base_ratio`` of its earlier days as warm as they were
    (daily mean within ``held_matched_c``); False with fewer such days."""
    run = recent.groupby("house_id")[["total_kwh", "base_load_kw", "temperature_mean"]].median()
    before = before[before["house_id"].isin(run.index)]
    t_run = run["temperature_mean"].reindex(before["house_id"]).to_numpy()
    gap = np.abs(before["temperature_mean"].to_numpy() - t_run)
    like = before[(gap <= params.held_matched_c) | np.isnan(gap)]  # no temperatures: every day
    matched = like.groupby("house_id")[["total_kwh", "base_load_kw"]].median()
    count = like.groupby("house_id").size().reindex(run.index, fill_value=0)
    matched = matched.reindex(run.index)
    below = (run["total_kwh"] <= params.held_energy_ratio * matched["total_kwh"]) & (
        run["base_load_kw"] <= params.held_base_ratio * matched["base_load_kw"]
    )
    return below & (count >= params.held_matched_min_days)


def _warmer_nights(today: pd.DataFrame, base: Baseline) -> np.ndarray:
    """Whether a house that heats had a night warmer than any of its window's: its night-time
    heating stops beyond what the baseline has seen, so a low day is not judged on its own."""
    pos = base.houses.get_indexer(today["house_id"])
    heats = base.heats_at_night
    night = (
        today["temperature_min"].to_numpy(float)
        if "temperature_min" in today
        else np.full(len(today), np.nan)
    )
    warmest = base.warmest_night[np.maximum(pos, 0)]
    return (pos >= 0) & heats[np.maximum(pos, 0)] & (night > warmest)


def detect_anomalies(
    daily: pd.DataFrame, days: Sequence[dt.date], params: BaselineParams = BaselineParams()
) -> pd.DataFrame:
    """One row per house and scored day: actual, expected, scores, ``is_anomaly`` and ``reason``.

    ``daily`` holds the daily aggregates of the scored days and of the history before them.
    A house-day whose baseline is not sufficient gets expected values where there are any and
    no verdict (``is_anomaly`` is null), with the reason.
    """
    d = _prepared(daily)
    frames = []
    for day in days:
        today = d[d["day"] == day]
        if today.empty:
            continue
        first = day - dt.timedelta(days=params.history_days)
        history = d[(d["day"] >= first) & (d["day"] < day)]
        frames.append(_score_day(today.reset_index(drop=True), history, params))
    if not frames:
        return pd.DataFrame(
            {c: pd.Series(dtype=_DTYPES.get(c, "float64")) for c in ANOMALY_COLUMNS}
        )
    found = pd.concat(frames, ignore_index=True)[list(ANOMALY_COLUMNS)]
    return found.astype({"model": "string", "reason": "string"})


def _score_day(today: pd.DataFrame, history: pd.DataFrame, params: BaselineParams) -> pd.DataFrame:
    base = fit_baseline(history, params) if not history.empty else None
    n = np.zeros(len(today), dtype=np.int64)
    model = np.full(len(today), None, dtype=object)
    beyond = np.zeros(len(today), dtype=bool)
    warmer = np.zeros(len(today), dtype=bool)
    if base is not None:
        pos = base.houses.get_indexer(today["house_id"])
        n = np.where(pos >= 0, base.n[np.maximum(pos, 0)], 0)
        model = np.where(pos >= 0, base.model[np.maximum(pos, 0)], None)
        beyond = _beyond_window(today, base, params)
        warmer = _warmer_nights(today, base)
    ch = {c: _channel(today, base, c, params) for c in CHANNELS}
    (act_e, exp_e, z_e, r_e), (act_b, exp_b, z_b, r_b) = ch["total_kwh"], ch["base_load_kw"]
    (act_a, exp_a, z_a, r_a), (act_s, exp_s, z_s, _) = ch["activity_kwh"], ch["sustained_kw"]
    act_p, exp_p, _, _ = ch["peak_kw"]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_peak = (act_p - act_b) / (exp_p - exp_b)
    left_on = (
        (act_s - exp_s >= params.sustained_rise_kw) & (z_s >= params.sustained_threshold) & ~beyond
    )
    base_up = (
        (act_b - exp_b >= params.base_rise_kw)
        & (r_b >= params.base_ratio_high)
        & (z_b >= params.base_threshold)
        & ~beyond
    )
    base_down = (
        (r_b <= params.base_ratio_low)
        & (z_b <= -params.base_threshold)
        & (r_e <= params.bypass_energy_ratio)
    )
    idle = (
        (r_e <= params.idle_energy_ratio)
        & (r_a <= params.idle_activity_ratio)
        & (r_peak <= params.idle_peak_ratio)
    )
    held_e, held_b = _held_ratios(today, history, base, params) if base is not None else (r_e, r_b)
    held_down = (
        (held_e <= params.held_energy_ratio)
        & (held_b <= params.held_base_ratio)
        & (r_e <= params.held_day_ratio)
        & (r_b <= params.held_day_ratio)
    )
    low_warmer = warmer & (base_down | idle | held_down)
    base_down, idle, held_down = base_down & ~warmer, idle & ~warmer, held_down & ~warmer
    flagged = left_on | base_up | base_down | idle | held_down
    high_beyond = beyond & ((z_s >= params.sustained_threshold) | (z_b >= params.base_threshold))

    complete = today["completeness"].to_numpy(float) >= params.min_completeness
    sufficient = (n >= params.min_history_days) & complete
    verdict = pd.array(flagged, dtype="boolean")
    verdict[~sufficient] = pd.NA
    findings = {
        "a load held for hours": (left_on, act_s - exp_s, z_s, "kW over six hours"),
        "base load up": (base_up, act_b - exp_b, z_b, "kW"),
        "base load down": (base_down, act_b - exp_b, z_b, "kW"),
        "no activity": (idle, act_e - exp_e, z_e, "kWh"),
        f"energy and base load down for {params.held_days} days": (
            held_down & ~base_down,
            act_e - exp_e,
            z_e,
            "kWh",
        ),
    }
    reason = _reasons(
        params, n, today["completeness"].to_numpy(float), high_beyond, low_warmer, findings
    )
    out = today[["house_id", "day"]].copy()
    out["actual_kwh"] = act_e
    out["expected_kwh"] = exp_e
    out["residual_kwh"] = act_e - exp_e
    out["score"] = z_e
    out["base_load_kw"] = act_b
    out["expected_base_load_kw"] = exp_b
    out["base_load_score"] = z_b
    out["activity_kwh"] = act_a
    out["expected_activity_kwh"] = exp_a
    out["activity_score"] = z_a
    out["sustained_kw"] = act_s
    out["expected_sustained_kw"] = exp_s
    out["sustained_score"] = z_s
    out["peak_kw"] = act_p
    out["expected_peak_kw"] = exp_p
    out["model"] = model
    out["is_anomaly"] = verdict
    out["reason"] = reason
    out["history_days"] = n
    return out


def _reasons(
    params: BaselineParams,
    n: np.ndarray,
    completeness: np.ndarray,
    high_beyond: np.ndarray,
    low_warmer: np.ndarray,
    findings: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, str]],
) -> list[str]:
    """Why each house-day was flagged (component, residual, score), or why no verdict."""
    out = []
    for i in range(len(n)):
        if n[i] < params.min_history_days:
            out.append(f"no verdict: {n[i]} of {params.min_history_days} days of history")
        elif completeness[i] < params.min_completeness:
            out.append(f"no verdict: {completeness[i]:.0%} of the day's intervals")
        else:
            parts = [
                f"{name}: {residual[i]:+.2f} {unit} (z {score[i]:+.1f})"
                for name, (hit, residual, score, unit) in findings.items()
                if hit[i]
            ]
            if parts:
                out.append("; ".join(parts))
            elif high_beyond[i]:
                out.append("high, but beyond the baseline's temperatures: not judged as high")
            elif low_warmer[i]:
                out.append("low, but on a night warmer than the baseline's: not judged as low")
            else:
                out.append("within the baseline")
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
    window = d[(d["day"] >= first) & (d["day"] <= day)].sort_values("day").reset_index(drop=True)
    history = window[window["day"] < day]
    expected = np.full(len(window), np.nan)
    if not history.empty:
        base = fit_baseline(history, params)
        expected, _ = _expected(window, base, "total_kwh", params.extrapolation_margin_dd)
    return pd.DataFrame(
        {
            "day": window["day"].to_numpy(),
            "actual_kwh": window["total_kwh"].to_numpy(float),
            "expected_kwh": expected,
        }
    )
