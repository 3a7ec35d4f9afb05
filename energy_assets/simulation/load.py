"""Household load at one-minute resolution: what each home draws, before the meter reports it.

Per house and minute, in kW: an always-on base, a cycling fridge, a smooth behavioural load
that follows a standard residential profile (BDEW H0's shape) shifted and scaled per house,
appliance events (kettle, oven, shower ...), electric heating and air conditioning driven by
the outdoor temperature, and the house-day events (vacancies, guests, faults of appliances, a
meter bypass). Vectorised over houses; every draw is keyed on (seed, house, day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from energy_assets.calendar import LocalDay
from energy_assets.simulation import streams as S
from energy_assets.simulation.randomness import keyed, normal, uniform, uniform_grid
from energy_assets.simulation.settings import Climate, EventRates
from energy_assets.simulation.weather import (
    _JAN1_2024,
    climate_mean_temperature,
    epoch_day,
    outdoor_temperature,
    seasonal_position,
    standard_offset,
)

# BDEW H0-like hourly shapes (relative to the day's mean): a night trough, a morning rise, a
# midday plateau and the evening peak; Saturdays rise later, Sundays cook at midday.
_WEEKDAY = [
    0.62,
    0.48,
    0.42,
    0.40,
    0.40,
    0.45,
    0.70,
    1.05,
    1.10,
    1.00,
    0.98,
    1.02,
    1.10,
    1.05,
    0.95,
    0.90,
    0.95,
    1.15,
    1.45,
    1.60,
    1.55,
    1.40,
    1.15,
    0.85,
]
_SATURDAY = [
    0.70,
    0.55,
    0.46,
    0.42,
    0.41,
    0.42,
    0.50,
    0.70,
    0.95,
    1.15,
    1.25,
    1.30,
    1.35,
    1.25,
    1.10,
    1.00,
    1.00,
    1.15,
    1.40,
    1.50,
    1.45,
    1.35,
    1.15,
    0.90,
]
_SUNDAY = [
    0.75,
    0.60,
    0.48,
    0.43,
    0.41,
    0.41,
    0.45,
    0.58,
    0.82,
    1.10,
    1.30,
    1.45,
    1.50,
    1.30,
    1.10,
    1.00,
    1.00,
    1.10,
    1.35,
    1.45,
    1.40,
    1.30,
    1.10,
    0.85,
]
#: Energy of a day type relative to the weekly mean (weekends at home use more).
DAY_TYPE_ENERGY = np.array([0.975, 1.05, 1.07])

#: (name, kW, minutes, starts a day for a house: a + b * occupants, needs electric shower)
APPLIANCES = (
    ("kettle", 2.2, 3, 0.8, 0.5, False),
    ("microwave", 1.0, 4, 0.5, 0.3, False),
    ("oven", 2.0, 45, 0.35, 0.05, False),
    ("hob", 1.5, 25, 0.5, 0.15, False),
    ("washing_machine", 2.0, 25, 0.05, 0.12, False),
    ("dishwasher", 1.8, 35, 0.25, 0.05, False),
    ("tumble_dryer", 2.5, 50, 0.0, 0.06, False),
    ("electric_shower", 8.5, 8, 0.1, 0.55, True),
)
APPLIANCE_SLOTS = 12
EVENT_SHARE = 0.33  # of a day's non-heating energy, in appliance events
FRIDGE_SHARE = 0.12  # in the fridge's compressor cycles
SMOOTH_NOISE_SD = 0.25
HEAT_FRACTION = 0.45  # of an electrically heated home's annual energy
COOL_FRACTION = 0.10  # of an air-conditioned home's annual energy
HEAT_BASE_C, COOL_BASE_C = 16.0, 24.0


def _minute_template(hourly: list[float]) -> np.ndarray:
    hours = np.arange(-1, 25) + 0.5
    values = np.array([hourly[-1], *hourly, hourly[0]])
    curve = np.interp(np.arange(1440) / 60.0, hours, values)
    return curve / curve.mean()


TEMPLATES = np.stack([_minute_template(h) for h in (_WEEKDAY, _SATURDAY, _SUNDAY)])


def day_type(weekday: np.ndarray) -> np.ndarray:
    """0 weekday, 1 Saturday, 2 Sunday, from Python weekdays (Monday 0)."""
    return np.where(weekday == 5, 1, np.where(weekday == 6, 2, 0))


@lru_cache(maxsize=16)
def _degree_hours(climate: Climate) -> tuple[float, float]:
    """A year's climatological heating and cooling degree-hours, schedule-weighted."""
    minutes = (_JAN1_2024 * 1440 + np.arange(0, 366 * 1440, 60)).astype(np.int64)
    offset = standard_offset(climate)
    temp = climate_mean_temperature(climate, minutes, offset)
    local_hour = ((minutes + offset) % 1440) / 60.0
    heat = np.maximum(0, HEAT_BASE_C - temp) * _heating_schedule(local_hour)
    cool = np.maximum(0, temp - COOL_BASE_C) * _cooling_schedule(local_hour)
    years = 366 / 365.2422
    return float(heat.sum() / years), float(max(cool.sum() / years, 1.0))


def _heating_schedule(local_hour: np.ndarray) -> np.ndarray:
    return np.where((local_hour >= 6) & (local_hour < 23), 1.0, 0.5)


def _cooling_schedule(local_hour: np.ndarray) -> np.ndarray:
    return np.where((local_hour >= 13) & (local_hour < 23), 1.0, 0.25)


@dataclass
class HouseArrays:
    """The houses of a chunk as numpy arrays."""

    index: np.ndarray
    occupants: np.ndarray
    annual_kwh: np.ndarray
    electric_heating: np.ndarray
    has_ac: np.ndarray
    has_shower: np.ndarray
    feeder: np.ndarray


@dataclass
class Episodes:
    """Which house-day events are on today, and how strong."""

    kind: str
    category: str
    active: np.ndarray
    starts_today: np.ndarray
    size: np.ndarray


def episodes(
    seed: int,
    kind_id: int,
    houses: np.ndarray,
    dnum: int,
    rate: float,
    min_days: int,
    max_days: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multi-day episodes: (active today, started today, a uniform fixing its size)."""
    offsets = np.arange(max_days)
    start_days = dnum - offsets
    hs = houses[:, None]
    starts = uniform(seed, S.EPISODE_START, kind_id, hs, start_days[None, :]) < rate
    length = min_days + np.floor(
        uniform(seed, S.EPISODE_LENGTH, kind_id, hs, start_days[None, :])
        * (max_days - min_days + 1)
    )
    covering = starts & (offsets[None, :] < length)
    active = covering.any(axis=1)
    latest = np.argmax(covering, axis=1)
    start = dnum - latest
    size = uniform(seed, S.EPISODE_SIZE, kind_id, houses, start)
    return active, active & (latest == 0), size


def house_day_events(
    seed: int, houses: HouseArrays, dnum: int, rates: EventRates
) -> dict[str, Episodes]:
    """The anomalies and changes of the day, per house."""
    idx = houses.index
    out = {}
    for kind_id, (kind, category, rate, lo, hi) in enumerate(
        (
            ("appliance_left_on", "anomaly", rates.appliance_left_on, 1, 1),
            ("appliance_failing", "anomaly", rates.appliance_failing, 3, 8),
            ("vacancy", "anomaly", rates.vacancy, 2, 10),
            ("meter_bypass", "anomaly", rates.meter_bypass, 5, 20),
            ("guests", "change", rates.guests, 2, 5),
        ),
        start=1,
    ):
        active, today, size = episodes(seed, kind_id, idx, dnum, rate, lo, hi)
        out[kind] = Episodes(kind, category, active, today, size)
    has_new = uniform(seed, S.HOUSE_NEW_APPLIANCE, idx) < rates.new_appliance_share
    adoption = _JAN1_2024 + np.floor(uniform(seed, S.HOUSE_NEW_APPLIANCE_DAY, idx) * 730)
    out["new_appliance"] = Episodes(
        "new_appliance",
        "change",
        has_new & (dnum >= adoption),
        has_new & (dnum == adoption),
        np.full(idx.shape, 0.07),
    )
    return out


@dataclass
class DayLoad:
    """A day of load for a chunk of houses."""

    power_kw: np.ndarray  # (houses, minutes of the local day) as the meter sees it
    outdoor_c: np.ndarray  # (minutes of the local day,)
    events: dict[str, Episodes]


def simulate_load(
    houses: HouseArrays, local: LocalDay, climate: Climate, seed: int, rates: EventRates
) -> DayLoad:
    """Minute-by-minute load of ``houses`` over the local day ``local``, in kW.

    Homes live by the wall clock: routines, appliances and thermostats read the local time, so
    a 25-hour day repeats an hour of behaviour and a 23-hour day skips one.
    """
    idx = houses.index
    day = local.day
    dnum = epoch_day(day)
    minutes = local.utc_minutes()
    n_m = minutes.size
    wall = local.wall_minutes()
    outdoor = outdoor_temperature(climate, seed, minutes)
    season = float(seasonal_position(climate, np.array([dnum + 0.5]))[0])
    events = house_day_events(seed, houses, dnum, rates)

    heat_frac = np.where(houses.electric_heating, HEAT_FRACTION, 0.0)
    cool_frac = np.where(houses.has_ac, COOL_FRACTION, 0.0)
    daily = houses.annual_kwh * (1 - heat_frac - cool_frac) / 365.2422
    daily = daily * (1 - 0.08 * season)  # lighting: more in winter

    # Local clock of each house's routine: wake-up shift per house, minutes.
    shift = np.round(normal(seed, S.HOUSE_WAKE, idx) * 35).astype(np.int64)
    routine = wall[None, :] - shift[:, None]  # (n, minutes) minute of the house's routine
    local_day = np.floor_divide(routine, 1440)
    local_min = routine - local_day * 1440
    weekdays = np.array([(day + dt.timedelta(days=k)).weekday() for k in (-1, 0, 1)])
    types = day_type(weekdays)[local_day + 1]
    shape = TEMPLATES[types, local_min]
    evening = 0.8 + 0.5 * uniform(seed, S.HOUSE_EVENING, idx)
    hour = local_min / 60.0
    shape = shape * (1 + (evening[:, None] - 1) * np.exp(-0.5 * ((hour - 19.5) / 2.0) ** 2))
    type_today = day_type(np.array([day.weekday()]))[0]
    daily = daily * DAY_TYPE_ENERGY[type_today]

    # Day-to-day variation, interpolated between knots at noon so days join without a jump.
    knots = 1 + 0.12 * normal(seed, S.DAY_VARIATION, idx[:, None], dnum + np.arange(-1, 2)[None, :])
    knots = np.clip(knots, 0.6, 1.5)
    pos = np.arange(n_m) / n_m
    variation = np.where(
        pos < 0.5,
        knots[:, [0]] + (knots[:, [1]] - knots[:, [0]]) * (pos + 0.5),
        knots[:, [1]] + (knots[:, [2]] - knots[:, [1]]) * (pos - 0.5),
    )

    base_share = 0.15 + 0.10 * uniform(seed, S.HOUSE_BASE, idx)
    smooth_share = 1 - base_share - FRIDGE_SHARE - EVENT_SHARE
    vacancy = events["vacancy"].active
    guests = np.where(events["guests"].active, 1.35, 1.0)
    present = np.where(vacancy, 0.0, 1.0) * guests

    base_kw = (daily * base_share / 24.0)[:, None]
    # Fridge: a compressor on for 18 minutes of every 45, phase per house.
    fridge_on_kw = daily * FRIDGE_SHARE / 24.0 / 0.4
    phase = np.floor(uniform(seed, S.HOUSE_FRIDGE, idx) * 45).astype(np.int64)
    fridge = ((minutes[None, :] + phase[:, None]) % 45 < 18) * fridge_on_kw[:, None]

    noise_base = keyed(seed, S.LOAD_NOISE, idx, dnum)
    noise = 1 + SMOOTH_NOISE_SD * np.sqrt(12) * (uniform_grid(noise_base, n_m) - 0.5)
    # The behavioural load is a rate per wall-clock minute: a 25-hour day uses 25/24 of it.
    smooth_kwh = daily * smooth_share * present * (n_m / 1440)
    smooth = (smooth_kwh * 60.0 / shape.sum(axis=1))[:, None] * shape * variation * noise

    power = base_kw + fridge + smooth
    power += _appliance_events(
        seed, idx, dnum, houses, daily * EVENT_SHARE * present, shift, wall, type_today
    )

    # Heating and cooling follow the outdoor temperature, on a thermostat schedule.
    heat_dh, cool_dh = _degree_hours(climate)
    local_hour_shared = wall / 60.0
    heat_curve = np.maximum(0, HEAT_BASE_C - outdoor) * _heating_schedule(local_hour_shared) / 60.0
    cool_curve = np.maximum(0, outdoor - COOL_BASE_C) * _cooling_schedule(local_hour_shared) / 60.0
    k_heat = heat_frac * houses.annual_kwh / heat_dh * 60.0 * np.where(vacancy, 0.3, 1.0)
    k_cool = cool_frac * houses.annual_kwh / cool_dh * 60.0 * np.where(vacancy, 0.0, 1.0)
    power += k_heat[:, None] * heat_curve[None, :] + k_cool[:, None] * cool_curve[None, :]

    # House-day anomalies and changes.
    left_on = events["appliance_left_on"]
    if left_on.active.any():
        start_hour = np.floor(uniform(seed, S.EPISODE_HOUR, idx, dnum) * 20)
        length = 6 + np.floor(uniform(seed, S.EPISODE_HOUR, idx, dnum, 1) * 13)
        kw = 1.0 + 1.5 * left_on.size
        m = wall[None, :] / 60.0
        on = (m >= start_hour[:, None]) & (m < (start_hour + length)[:, None])
        power += np.where(left_on.active[:, None] & on, kw[:, None], 0.0)
    failing = events["appliance_failing"]
    power += np.where(failing.active, 0.25 + 0.25 * failing.size, 0.0)[:, None]
    power += np.where(events["new_appliance"].active, 0.07, 0.0)[:, None]
    bypass = events["meter_bypass"]
    power *= np.where(bypass.active, 0.3 + 0.2 * bypass.size, 1.0)[:, None]
    return DayLoad(power, outdoor, events)


def _appliance_events(
    seed: int,
    idx: np.ndarray,
    dnum: int,
    houses: HouseArrays,
    budget_kwh: np.ndarray,
    shift: np.ndarray,
    wall: np.ndarray,
    type_today: int,
) -> np.ndarray:
    """Appliance switch-ons, scaled so that their expected energy is ``budget_kwh``."""
    n, n_m = idx.size, wall.size
    # The first minute of the day at which the wall clock reads at least m: a start in a skipped
    # hour waits for the clocks, a start in a repeated hour happens at its first occurrence.
    first_at = np.searchsorted(np.maximum.accumulate(wall), np.arange(1440))
    occ = houses.occupants.astype(float)
    rates, energy = [], np.zeros(n)
    for _, kw, minutes, a, b, needs_shower in APPLIANCES:
        rate = (a + b * occ) * (houses.has_shower if needs_shower else 1.0)
        rates.append(rate)
        energy += rate * kw * minutes / 60.0
    scale = np.divide(budget_kwh, energy, out=np.zeros(n), where=energy > 0)
    cdf = np.cumsum(TEMPLATES[type_today])
    cdf /= cdf[-1]
    diff = np.zeros((n, n_m + 1))
    for a_id, ((_, kw, minutes, *_), rate) in enumerate(zip(APPLIANCES, rates, strict=True)):
        expected = rate * scale
        # A fixed number of slots per house (a binomial close to Poisson): the draws of a house
        # must not depend on which other houses share its chunk.
        slots = APPLIANCE_SLOTS
        slot = np.arange(slots)[None, :]
        hs = idx[:, None]
        chance = np.minimum(expected / slots, 1.0)[:, None]
        on = uniform(seed, S.APPLIANCE_SLOT, a_id, hs, dnum, slot) < chance
        rows, cols = np.nonzero(on)
        if rows.size == 0:
            continue
        u_time = uniform(seed, S.APPLIANCE_TIME, a_id, idx[rows], dnum, cols)
        local_start = np.searchsorted(cdf, u_time)
        start = first_at[(local_start + shift[rows]) % 1440]
        end = np.minimum(start + minutes, n_m)
        np.add.at(diff, (rows, start), kw)
        np.add.at(diff, (rows, end), -kw)
    return np.cumsum(diff, axis=1)[:, :n_m]
