"""Household load at one-minute resolution: what each home draws, before the meter reports it.

Per house and minute, in kW: an always-on base, a cycling fridge, lighting and appliance uses
(kettle, hob, oven, washing machine, shower, screens ...) driven by the household's occupancy
(``occupancy.py``: who is at home and awake), electric heating and air conditioning driven by
the outdoor temperature, and the house-day events (vacancies, guests, faults of appliances, a
meter bypass). Vectorised over houses; every draw is keyed on (seed, house, day).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from energy_assets.calendar import LocalDay
from energy_assets.simulation import streams as S
from energy_assets.simulation.occupancy import (
    EFFECTIVE_OCCUPANCY,
    GUESTS,
    expected_active_minutes,
    household_active_minutes,
    occupancy,
    typical_activity,
)
from energy_assets.simulation.randomness import uniform
from energy_assets.simulation.settings import Climate, EventRates
from energy_assets.simulation.weather import (
    _JAN1_2024,
    climate_mean_temperature,
    epoch_day,
    outdoor_temperature,
    seasonal_position,
    standard_offset,
)

# A feeder's expected load through the day (the voltage drop follows it): BDEW H0-like hourly
# shapes relative to the day's mean; Saturdays rise later, Sundays cook at midday.
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


#: What a home owns and how it uses it, after CREST's appliance table (Richardson et al. 2010)
#: and UK household surveys: power when on (kW), minutes a use, uses a year (a + b a person),
#: the share of homes owning it, the activity that starts it, and for the wet appliances a
#: heating phase at the start (kW, minutes) before the motor's lower draw.
@dataclass(frozen=True)
class Appliance:
    """One kind of appliance: its draw, a use's length, how often and when it is used."""

    name: str
    kw: float
    minutes: int
    uses_a: float
    uses_b: float
    owned: float
    activity: str
    heat_kw: float = 0.0
    heat_minutes: int = 0


APPLIANCES = (
    Appliance("kettle", 2.4, 3, 600.0, 330.0, 0.97, "hot_drinks"),
    Appliance("microwave", 1.25, 5, 120.0, 60.0, 0.86, "cooking"),
    Appliance("hob", 2.4, 18, 130.0, 60.0, 0.9, "cooking"),
    Appliance("oven", 2.1, 35, 40.0, 25.0, 0.85, "cooking"),
    # A cooked meal: hob rings and the oven together, then the oven alone.
    Appliance("cooked_meal", 2.1, 15, 40.0, 30.0, 0.85, "cooking", 4.5, 20),
    Appliance("washing_machine", 0.25, 75, 60.0, 60.0, 0.9, "laundry", 2.1, 18),
    Appliance("dishwasher", 0.15, 40, 90.0, 60.0, 0.5, "dishes", 2.0, 25),
    Appliance("tumble_dryer", 2.5, 55, 20.0, 40.0, 0.45, "laundry"),
    Appliance("iron", 1.0, 30, 20.0, 10.0, 0.9, "cleaning"),
    Appliance("vacuum", 1.8, 20, 60.0, 20.0, 0.94, "cleaning"),
    Appliance("electric_shower", 9.0, 7, 60.0, 280.0, 1.0, "washing"),
    Appliance("tv", 0.12, 100, 450.0, 250.0, 0.98, "screens"),
    Appliance("computer", 0.14, 180, 120.0, 80.0, 0.7, "screens"),
)
#: When each activity happens, as the hour of the local clock (relative weights); a start is
#: drawn from these times the people at home and awake (active occupancy), so nobody cooks
#: in an empty house.
ACTIVITY_BY_HOUR = {
    "hot_drinks": [.2, 0, 0, 0, 0, .3, 1.2, 1.4, 1, .7, .7, .6, .6, .6, .7, .7, .6, .5, .5, .5, .5, .4, .3, .2],
    "cooking": [0, 0, 0, 0, 0, .1, .5, .8, .6, .4, .6, 1.1, 1.4, 1, .4, .3, .4, .6, .8, .7, .4, .2, .1, 0],
    "laundry": [0, 0, 0, 0, 0, 0, .2, .5, .9, 1, 1, .9, .8, .8, .8, .8, .8, .8, .8, .7, .6, .4, .2, 0],
    "dishes": [0, 0, 0, 0, 0, 0, .1, .4, .5, .4, .3, .3, .4, .8, .8, .5, .3, .3, .4, .6, .7, .6, .4, .1],
    "cleaning": [0, 0, 0, 0, 0, 0, .1, .3, .7, 1, 1, 1, .8, .8, 1, 1, .9, .6, .3, .2, .1, 0, 0, 0],
    "washing": [0, 0, 0, 0, 0, .3, 1, 1, .7, .4, .2, .1, .1, .1, .1, .1, .2, .3, .4, .5, .6, .5, .3, .1],
    "screens": [.3, .1, 0, 0, 0, 0, .2, .4, .5, .5, .5, .5, .5, .5, .5, .5, .5, .5, .5, .6, .6, .6, .6, .4],
}  # fmt: skip
ACTIVITIES = tuple(ACTIVITY_BY_HOUR)
FRIDGE_SHARE = 0.12  # of a day's non-heating energy, in the fridge's compressor cycles
FRIDGE_DUTY = 0.4  # the share of a cycle its compressor runs
LIGHT_SHARE = 0.12  # in lighting, over a year
HEAT_FRACTION = 0.45  # of an electrically heated home's annual energy
COOL_FRACTION = 0.10  # of an air-conditioned home's annual energy, where summers need it
#: An air conditioner draws at most this (electric kW) and this much a degree above the
#: set point: in a mild climate it simply runs little.
AC_MAX_KW, AC_KW_PER_K = 3.0, 0.35
HEAT_BASE_C, COOL_BASE_C = 16.0, 24.0
COOL_LAG_MINUTES = 180
START_BIN = 5  # minutes: the grid on which appliance starts are drawn


def _minute_template(hourly: list[float]) -> np.ndarray:
    hours = np.arange(-1, 25) + 0.5
    values = np.array([hourly[-1], *hourly, hourly[0]])
    curve = np.interp(np.arange(1440) / 60.0, hours, values)
    return curve / curve.mean()


TEMPLATES = np.stack([_minute_template(h) for h in (_WEEKDAY, _SATURDAY, _SUNDAY)])


@lru_cache(maxsize=16)
def _degree_hours(climate: Climate) -> tuple[float, float]:
    """A year's climatological heating and cooling degree-hours, schedule-weighted."""
    minutes = (_JAN1_2024 * 1440 + np.arange(0, 366 * 1440, 60)).astype(np.int64)
    offset = standard_offset(climate)
    temp = climate_mean_temperature(climate, minutes, offset)
    local_hour = ((minutes + offset) % 1440) / 60.0
    heat = np.maximum(0, HEAT_BASE_C - temp) * _heating_schedule(local_hour)
    lagged = climate_mean_temperature(climate, minutes - COOL_LAG_MINUTES, offset)
    cool = np.maximum(0, lagged - COOL_BASE_C) * _cooling_schedule(local_hour)
    years = 366 / 365.2422
    return float(heat.sum() / years), float(max(cool.sum() / years, 1.0))


def _heating_schedule(local_hour: np.ndarray) -> np.ndarray:
    return np.where((local_hour >= 6) & (local_hour < 23), 1.0, 0.5)


def _cooling_schedule(local_hour: np.ndarray) -> np.ndarray:
    return np.where(local_hour >= 14, 1.0, 0.25)


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

    A home sits at its base (standby and the fridge's cycles) while nobody is awake at home;
    lights, screens and appliances follow its active occupancy, heating and cooling the
    weather. Homes live by the wall clock: routines, appliances and thermostats read the local
    time, so a 25-hour day repeats an hour of behaviour and a 23-hour day skips one.
    """
    idx = houses.index
    dnum = epoch_day(local.day)
    minutes = local.utc_minutes()
    wall = local.wall_minutes()
    outdoor = outdoor_temperature(climate, seed, minutes)
    events = house_day_events(seed, houses, dnum, rates)

    k_heat, k_cool = _hvac_gains(houses, climate)
    daily = houses.annual_kwh * (1 - k_heat.fraction - k_cool.fraction) / 365.2422
    household = houses.occupants.astype(np.int64)
    guests = np.where(events["guests"].active, GUESTS, 0)
    people = np.where(events["vacancy"].active, 0, household + guests)
    summer = max(0.0, float(seasonal_position(climate, np.array([dnum + 0.5]))[0]))
    occ = occupancy(seed, idx, household, people, dnum, wall, summer)

    base_share = 0.10 + 0.08 * uniform(seed, S.HOUSE_BASE, idx)
    power = np.repeat((daily * base_share / 24.0)[:, None], minutes.size, axis=1)
    # Fridge: a compressor on for 40 % of a cycle of 38-56 minutes (per house, so its phase
    # drifts from day to day as a real one does), whoever is home.
    fridge_on_kw = daily * FRIDGE_SHARE / 24.0 / FRIDGE_DUTY
    cycle = np.floor(38 + 19 * uniform(seed, S.HOUSE_FRIDGE, idx)).astype(np.int64)
    phase = np.floor(uniform(seed, S.HOUSE_FRIDGE, idx, 1) * cycle).astype(np.int64)
    in_cycle = (minutes[None, :] + phase[:, None]) % cycle[:, None]
    power += (in_cycle < np.round(FRIDGE_DUTY * cycle)[:, None]) * fridge_on_kw[:, None]
    # What the household is expected to be awake at home (its members' roles) sizes the lights
    # and the appliances, so that its year comes to its budget.
    awake = household_active_minutes(seed, idx, houses.occupants)
    power += _lighting(houses, awake, daily * LIGHT_SHARE, occ.active, minutes, climate)
    events_kwh = daily * (1 - base_share - FRIDGE_SHARE - LIGHT_SHARE)
    power += _appliance_events(seed, houses, awake, dnum, events_kwh, occ.active, wall)

    # Heating follows the outdoor temperature on a thermostat schedule; cooling also needs
    # somebody at home.
    hour = wall / 60.0
    heat = np.maximum(0, HEAT_BASE_C - outdoor) * _heating_schedule(hour)
    # Rooms warm up behind the air outside: the building's mass delays the heat by hours, so
    # air conditioners run from late afternoon into the evening, when people are home.
    indoor_lag = outdoor_temperature(climate, seed, minutes - COOL_LAG_MINUTES)
    cool = np.maximum(0, indoor_lag - COOL_BASE_C) * _cooling_schedule(hour)
    vacancy = events["vacancy"].active
    power += (k_heat.kw_per_k * np.where(vacancy, 0.3, 1.0))[:, None] * heat[None, :]
    power += np.minimum(k_cool.kw_per_k[:, None] * cool[None, :], AC_MAX_KW) * (occ.at_home > 0)

    _anomalies(power, seed, idx, dnum, wall, events)
    return DayLoad(power, outdoor, events)


@dataclass
class Gain:
    """Electric kW a degree of a house's heating or cooling, and its share of the annual energy."""

    kw_per_k: np.ndarray
    fraction: np.ndarray


def _hvac_gains(houses: HouseArrays, climate: Climate) -> tuple[Gain, Gain]:
    """Heating and cooling gains sized to their share of the year in this climate."""
    heat_dh, cool_dh = _degree_hours(climate)
    heat_frac = np.where(houses.electric_heating, HEAT_FRACTION, 0.0)
    heat = Gain(heat_frac * houses.annual_kwh / heat_dh, heat_frac)
    # Where summers are mild the air conditioner runs little: its gain is capped, and the
    # share of the year it takes is what that gain uses in the climate's degree-hours.
    cool_k = np.where(
        houses.has_ac, np.minimum(COOL_FRACTION * houses.annual_kwh / cool_dh, AC_KW_PER_K), 0.0
    )
    cool = Gain(cool_k, cool_k * cool_dh / np.maximum(houses.annual_kwh, 1.0))
    return heat, cool


def _lighting(
    houses: HouseArrays,
    awake_minutes: np.ndarray,
    budget_kwh: np.ndarray,
    active: np.ndarray,
    minutes: np.ndarray,
    climate: Climate,
) -> np.ndarray:
    """Lights: on for the people awake at home, as far as daylight does not do it for them.

    Sized so that a year of lighting is ``budget_kwh`` a day on average: long winter evenings
    use more, summer evenings less, and a home with someone in all day as much as one that
    is empty till evening (its lights draw less, as a budget-minded home's would).
    """
    dark = darkness(climate, minutes)
    per_size = lighting_minutes_a_day(climate)
    size = np.clip(houses.occupants, 1, per_size.size - 1)
    expected = per_size[size] * awake_minutes / expected_active_minutes()[size]
    kw = budget_kwh * 60.0 / expected
    return kw[:, None] * EFFECTIVE_OCCUPANCY[active] * dark[None, :]


def darkness(climate: Climate, utc_minutes: np.ndarray) -> np.ndarray:
    """How much light a room needs (0..1): 1 after dusk, a little in daytime (inner rooms)."""
    day_of_year = (utc_minutes // 1440 - _JAN1_2024) % 365.2422
    declination = np.radians(23.44) * np.sin(2 * np.pi * (284 + day_of_year) / 365.2422)
    solar_hours = (utc_minutes % 1440) / 60.0 + climate.longitude / 15.0
    angle = np.radians(15.0 * (solar_hours - 12.0))
    lat = np.radians(climate.latitude)
    elevation = np.degrees(
        np.arcsin(
            np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(angle)
        )
    )
    return np.clip((8.0 - elevation) / 10.0, 0.08, 1.0)


@lru_cache(maxsize=8)
def lighting_minutes_a_day(climate: Climate) -> np.ndarray:
    """A year's mean of effective active occupancy times darkness, minutes a day, by size."""
    curve = typical_activity()  # (sizes, wall minutes): mean effective occupancy
    offset = standard_offset(climate)
    total = np.zeros(curve.shape[0])
    days = _JAN1_2024 + np.arange(0, 364, 7)
    for d in days:
        total += curve @ darkness(climate, d * 1440 + np.arange(1440) - offset)
    return total / days.size


def _activity_curves(wall: np.ndarray) -> np.ndarray:
    """Each activity's weight at each minute of the day (activities, minutes), by wall clock."""
    hours = np.arange(-1, 25) + 0.5
    out = []
    for name in ACTIVITIES:
        h = ACTIVITY_BY_HOUR[name]
        out.append(np.interp(wall / 60.0, hours, [h[-1], *h, h[0]]))
    return np.stack(out)


def _uses_a_day(houses: HouseArrays, owned: np.ndarray) -> np.ndarray:
    """Expected uses a day of each appliance in each house (houses, appliances), unscaled."""
    occ = houses.occupants.astype(float)[:, None]
    a = np.array([ap.uses_a for ap in APPLIANCES])[None, :]
    b = np.array([ap.uses_b for ap in APPLIANCES])[None, :]
    return (a + b * occ) / 365.2422 * owned


def _kwh_a_use(kw: np.ndarray) -> np.ndarray:
    """The energy of one use of each appliance (houses, appliances) at the houses' power ``kw``."""
    minutes = np.array([ap.minutes for ap in APPLIANCES])
    heat = np.array([ap.heat_kw * ap.heat_minutes for ap in APPLIANCES])
    return (kw * minutes + heat) / 60.0


def _slots(appliance: Appliance) -> int:
    """Fixed draws a house-day: enough for twice the busiest house (eight people, guests)."""
    return int(np.ceil(2.0 * (appliance.uses_a + 8 * appliance.uses_b) / 365.2422)) + 4


def _appliance_events(
    seed: int,
    houses: HouseArrays,
    awake_minutes: np.ndarray,
    dnum: int,
    budget_kwh: np.ndarray,
    active: np.ndarray,
    wall: np.ndarray,
) -> np.ndarray:
    """Appliance uses, started when people are awake at home and doing what the hour is for.

    Their number is scaled so that, over days, their energy is ``budget_kwh`` a day; a day with
    more people awake at home (a weekend, guests) has more of them, an empty one none.
    """
    idx = houses.index
    n, n_m = idx.size, wall.size
    owned = np.stack(
        [
            (uniform(seed, S.HOUSE_APPLIANCE, k, idx) < ap.owned)
            & (houses.has_shower if ap.name == "electric_shower" else True)
            for k, ap in enumerate(APPLIANCES)
        ],
        axis=1,
    )
    uses = _uses_a_day(houses, owned)
    # Each house's appliances draw their own power (0.8-1.2 of the model's): a use's energy is
    # sized with it, so that the house's year comes to its budget whatever it owns.
    kw = np.stack(
        [
            ap.kw * (0.8 + 0.4 * uniform(seed, S.HOUSE_APPLIANCE_KW, k, idx))
            for k, ap in enumerate(APPLIANCES)
        ],
        axis=1,
    )
    typical = (uses * _kwh_a_use(kw)).sum(axis=1)
    scale = np.divide(budget_kwh, typical, out=np.zeros(n), where=typical > 0)
    awake = active.sum(axis=1) / awake_minutes
    expected = uses * (scale * awake)[:, None]
    # Where in the day a use can start: weight = active people x the activity of the hour, on
    # a five-minute grid (a day's length in minutes is always a multiple of five).
    bins = n_m // START_BIN
    active_bins = active.reshape(n, bins, START_BIN).sum(axis=2, dtype=np.float64)
    weights = _activity_curves(wall[::START_BIN])
    cdfs: dict[int, np.ndarray] = {}
    diff = np.zeros((n, n_m + 1))
    for k, ap in enumerate(APPLIANCES):
        slots = _slots(ap)
        chance = np.minimum(expected[:, k] / slots, 1.0)[:, None]
        on = (
            uniform(seed, S.APPLIANCE_SLOT, k, idx[:, None], dnum, np.arange(slots)[None, :])
            < chance
        )
        rows, cols = np.nonzero(on)
        if rows.size == 0:
            continue
        a = ACTIVITIES.index(ap.activity)
        if a not in cdfs:
            cdfs[a] = _row_cdfs(active_bins * weights[a][None, :])
        u = uniform(seed, S.APPLIANCE_TIME, k, idx[rows], dnum, cols)
        start_bin = np.clip(np.searchsorted(cdfs[a], rows + u) - rows * bins, 0, bins - 1)
        within = np.floor(START_BIN * uniform(seed, S.APPLIANCE_TIME, k, idx[rows], dnum, cols, 1))
        start = start_bin * START_BIN + within.astype(np.int64)
        length = np.round(
            ap.minutes * (0.6 + 0.8 * uniform(seed, S.APPLIANCE_LENGTH, k, idx[rows], dnum, cols))
        )
        _add_use(diff, rows, start, ap.heat_minutes, ap.heat_kw, n_m)
        _add_use(diff, rows, start + ap.heat_minutes, length.astype(np.int64), kw[rows, k], n_m)
    return np.cumsum(diff, axis=1)[:, :n_m]


def _row_cdfs(weights: np.ndarray) -> np.ndarray:
    """Each row's cumulative distribution, offset by its row number and flattened.

    One ``searchsorted`` over the result with ``row + u`` draws from every row at once.
    """
    cdf = np.cumsum(weights, axis=1)
    total = cdf[:, -1:]
    cdf = np.divide(cdf, total, out=np.ones_like(cdf), where=total > 0)
    return (cdf + np.arange(weights.shape[0])[:, None]).ravel()


def _add_use(diff: np.ndarray, rows: np.ndarray, start: np.ndarray, minutes, kw, n_m: int) -> None:
    """Add a constant draw from ``start`` for ``minutes`` to the difference grid."""
    s = np.minimum(start, n_m)
    e = np.minimum(start + minutes, n_m)
    np.add.at(diff, (rows, s), kw)
    np.add.at(diff, (rows, e), -np.asarray(kw) * np.ones_like(s))


def _anomalies(
    power: np.ndarray, seed: int, idx: np.ndarray, dnum: int, wall: np.ndarray, events: dict
) -> None:
    """Apply the day's anomalies and changes to ``power`` in place."""
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
