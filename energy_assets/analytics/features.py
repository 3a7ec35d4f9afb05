"""Per-house features over a window of daily aggregates: what the household classifier sees.

Nothing here reads the registry's labels or the simulator's truth; it takes the daily
aggregates (``energy_daily``'s columns) of a window, and from the registry how each home heats
and cools, and returns one row per house.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_assets.analytics.daily import HOURLY_COLUMNS
from energy_assets.analytics.regression import fit_per_house

SHAPE_COLUMNS = tuple(f"shape_h{h:02d}" for h in range(24))
#: A day counts as typical when its energy is within these multiples of the house's median day:
#: vacancies, meter bypasses, guests and faulty appliances move a 28-day mean by 10-20 %, and
#: the profile is a band of the house's usual level, not of its unusual weeks.
TYPICAL_DAY_RANGE = (0.6, 1.6)

#: The registry traits the classifier uses: how a home heats and cools. A profile is a band of a
#: home's *annual* energy, and an electrically heated home spends up to half its year heating:
#: a window without cold days cannot show that load, the registry can (a utility knows it from
#: the tariff). Not occupants or floor area: the simulator draws those from the profile itself,
#: so they would hand the model its label.
TRAIT_FEATURES = ("electric_heating", "air_conditioning")
#: What an unknown trait reads as (a landed houses file may leave it empty).
UNKNOWN_TRAIT = 0.5

FEATURES = (
    "mean_daily_kwh",
    "log_mean_daily_kwh",
    "log_typical_daily_kwh",
    "low_day_share",
    "high_day_share",
    "baseline_daily_kwh",
    "log_baseline_daily_kwh",
    "heating_kwh_per_dd",
    "cooling_kwh_per_dd",
    "heating_sensitivity",
    "cooling_sensitivity",
    "weekend_ratio",
    "peak_ratio",
    "base_ratio",
    "day_to_day_cv",
    "log_night_kwh",
    "log_base_load_kw",
    "log_low_day_kwh",
    "log_evening_kwh",
    *SHAPE_COLUMNS,
    *TRAIT_FEATURES,
)


def is_weekend(days: pd.Series) -> np.ndarray:
    """Saturday or Sunday, for a column of dates."""
    return pd.to_datetime(days).dt.dayofweek.to_numpy() >= 5


def registry_traits(houses: pd.DataFrame) -> pd.DataFrame:
    """Per house (indexed by ``house_id``): :data:`TRAIT_FEATURES` as 1 or 0, unknown 0.5."""
    heating, has_ac = houses["heating"], houses["has_ac"]
    traits = pd.DataFrame(
        {
            "electric_heating": np.where(
                heating.isna(), UNKNOWN_TRAIT, (heating == "electric").astype(float)
            ),
            "air_conditioning": np.where(
                has_ac.isna(), UNKNOWN_TRAIT, has_ac.astype("boolean").fillna(False).astype(float)
            ),
        },
    )
    traits.index = pd.Index(houses["house_id"], name="house_id")
    return traits


def household_features(daily: pd.DataFrame, traits: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per house (indexed by ``house_id``) with the columns of :data:`FEATURES`;
    ``traits`` (:func:`registry_traits`) unknown for houses it does not list."""
    if daily.empty:
        return pd.DataFrame(columns=FEATURES, index=pd.Index([], name="house_id"), dtype=float)
    d = daily.assign(weekend=is_weekend(daily["day"]))
    median_kwh = d.groupby("house_id")["total_kwh"].transform("median")
    relative = d["total_kwh"] / median_kwh.replace(0.0, np.nan)
    low, high = TYPICAL_DAY_RANGE
    typical = (relative >= low) & (relative <= high)
    # Every feature but the window's mean and its shares of unusual days is read from the
    # house's typical days: one day of an appliance left on (up to 45 kWh) had lifted a small
    # home's night, base load, peaks and weather fit so far that its annual energy came out
    # several times too high. A house with no typical day (its median day used nothing) keeps
    # all its days.
    usual = d[typical | ~typical.groupby(d["house_id"]).transform("any")]
    all_days = d.groupby("house_id", sort=True)["total_kwh"]
    mean_kwh = all_days.mean()
    g = usual.groupby("house_id", sort=True)
    typical_kwh = g["total_kwh"].mean().reindex(mean_kwh.index)
    hourly = g[list(HOURLY_COLUMNS)].sum()
    # Rounded: shares below a millionth are float noise, and scaling would blow noise up.
    shape = hourly.div(hourly.sum(axis=1).replace(0.0, np.nan), axis=0).fillna(1 / 24).round(6)
    shape.columns = list(SHAPE_COLUMNS)

    weekend_mean = usual[usual["weekend"]].groupby("house_id")["total_kwh"].mean()
    weekday_mean = usual[~usual["weekend"]].groupby("house_id")["total_kwh"].mean()
    weekend_ratio = (weekend_mean / weekday_mean).reindex(mean_kwh.index).fillna(1.0)

    # Weather response: daily energy on heating and cooling degree-days, one fit per house.
    fits = fit_per_house(usual, ["total_kwh"], ["hdd", "cdd"], robust_iterations=2)["total_kwh"]
    coef = pd.DataFrame(fits.coef, index=fits.houses, columns=["base", "heat", "cool"])
    coef = coef.reindex(mean_kwh.index)
    baseline = coef["base"].clip(lower=0.05 * typical_kwh)

    typical_kw = typical_kwh / 24.0
    out = pd.DataFrame(
        {
            "mean_daily_kwh": mean_kwh,
            "log_mean_daily_kwh": np.log(mean_kwh.clip(lower=1e-3)),
            "log_typical_daily_kwh": np.log(typical_kwh.clip(lower=1e-3)),
            "low_day_share": (relative < low).groupby(d["house_id"]).mean(),
            "high_day_share": (relative > high).groupby(d["house_id"]).mean(),
            "baseline_daily_kwh": baseline,
            "log_baseline_daily_kwh": np.log(baseline.clip(lower=1e-3)),
            "heating_kwh_per_dd": coef["heat"],
            "cooling_kwh_per_dd": coef["cool"],
            "heating_sensitivity": coef["heat"] / typical_kwh,
            "cooling_sensitivity": coef["cool"] / typical_kwh,
            "weekend_ratio": weekend_ratio,
            "peak_ratio": g["peak_kw"].mean() / typical_kw,
            "base_ratio": g["base_load_kw"].mean() / typical_kw,
            "day_to_day_cv": (g["total_kwh"].std(ddof=0) / typical_kwh).fillna(0.0),
            # What a home uses whether or not anyone is busy (standby, the fridge, the night)
            # scales with its size and varies little from day to day: a steadier view of the
            # level than the days' mean, which occupancy moves by a third.
            "log_night_kwh": np.log(g["night_kwh"].mean().clip(lower=1e-3)),
            "log_base_load_kw": np.log(g["base_load_kw"].median().clip(lower=1e-3)),
            "log_low_day_kwh": np.log(g["total_kwh"].quantile(0.25).clip(lower=1e-3)),
            "log_evening_kwh": np.log(g["evening_kwh"].mean().clip(lower=1e-3)),
        },
        index=mean_kwh.index,
    ).join(shape)
    out.index.name = "house_id"
    known = traits if traits is not None else pd.DataFrame(columns=list(TRAIT_FEATURES))
    out = out.join(known[list(TRAIT_FEATURES)].astype(float))
    out[list(TRAIT_FEATURES)] = out[list(TRAIT_FEATURES)].fillna(UNKNOWN_TRAIT)
    return out[list(FEATURES)].replace([np.inf, -np.inf], np.nan).fillna(0.0)
