"""Outdoor temperature: seasonal and daily cycles plus weather that persists for days.

A pure function of absolute time (minutes since 1970 UTC) and the seed, so it is continuous
across midnight and the same whichever days are simulated.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from energy_assets.simulation import streams as S
from energy_assets.simulation.randomness import normal
from energy_assets.simulation.settings import Climate

EPOCH = dt.date(1970, 1, 1)
_YEAR_DAYS = 365.2422
_JAN1_2024 = (dt.date(2024, 1, 1) - EPOCH).days

#: Weather systems: a slow component (knots every 3 days) and a day-to-day one, in degrees C.
SYNOPTIC_HOURS, SYNOPTIC_SD = 72.0, 2.6
DAILY_HOURS, DAILY_SD = 24.0, 1.3


def epoch_day(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


@lru_cache(maxsize=4096)
def utc_offset_minutes(timezone: str, day: dt.date) -> int:
    """The local clock's offset from UTC at noon of ``day``, in minutes (DST included)."""
    noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
    return int(noon.astimezone(ZoneInfo(timezone)).utcoffset().total_seconds() // 60)


def seasonal_position(climate: Climate, days_since_epoch: np.ndarray) -> np.ndarray:
    """+1 at the warmest time of year, -1 at the coldest (hemisphere comes with the preset)."""
    warmest = _JAN1_2024 + climate.warmest_day_of_year - 1
    return np.cos(2 * np.pi * (days_since_epoch - warmest) / _YEAR_DAYS)


def _value_noise(seed: int, stream: int, hours: np.ndarray, period: float, sd: float) -> np.ndarray:
    knot = np.floor(hours / period).astype(np.int64)
    frac = hours / period - knot
    lo, hi = np.unique(knot)[[0, -1]] if knot.size else (0, 0)
    knots = np.arange(lo, hi + 2)
    values = normal(seed, stream, knots) * sd
    v0, v1 = values[knot - lo], values[knot - lo + 1]
    return v0 + (v1 - v0) * (1 - np.cos(np.pi * frac)) / 2


def climate_mean_temperature(
    climate: Climate, minutes_since_epoch: np.ndarray, standard_offset_minutes: int
) -> np.ndarray:
    """The climatological temperature (no weather) at the given UTC minutes."""
    days = minutes_since_epoch / 1440.0
    season = seasonal_position(climate, days)
    local_hour = ((minutes_since_epoch + standard_offset_minutes) % 1440) / 60.0
    diurnal = (
        climate.diurnal_amplitude_c
        * (1 + 0.2 * season)
        * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)
    )
    return climate.annual_mean_c + climate.seasonal_amplitude_c * season + diurnal


def standard_offset(climate: Climate) -> int:
    """The preset's offset from UTC in winter, in minutes (the sun does not keep DST)."""
    jan, jul = dt.date(2024, 1, 15), dt.date(2024, 7, 15)
    return min(utc_offset_minutes(climate.timezone, jan), utc_offset_minutes(climate.timezone, jul))


def outdoor_temperature(climate: Climate, seed: int, minutes_since_epoch: np.ndarray) -> np.ndarray:
    """Outdoor temperature in degrees C at the given UTC minutes."""
    base = climate_mean_temperature(climate, minutes_since_epoch, standard_offset(climate))
    hours = minutes_since_epoch / 60.0
    weather = _value_noise(seed, S.WEATHER_SYNOPTIC, hours, SYNOPTIC_HOURS, SYNOPTIC_SD)
    weather += _value_noise(seed, S.WEATHER_DAILY, hours, DAILY_HOURS, DAILY_SD)
    return base + weather


def day_minutes(day: dt.date) -> np.ndarray:
    """The 1,440 UTC minutes of ``day``, as minutes since 1970."""
    return epoch_day(day) * 1440 + np.arange(1440, dtype=np.int64)
