"""Occupancy drives the load: people at home and awake, and what a home draws without them."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from energy_assets.calendar import local_day
from energy_assets.simulation.houses import make_houses
from energy_assets.simulation.load import simulate_load
from energy_assets.simulation.meter import houses_arrays
from energy_assets.simulation.occupancy import (
    CALIBRATION_FILE,
    _calibration,
    compute_calibration,
    day_blocks,
)
from energy_assets.simulation.settings import EventRates, SimulationSettings
from energy_assets.simulation.weather import epoch_day

MONDAY = dt.date(2024, 7, 15)
NO_EVENTS = EventRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
HOUSES = 300


def blocks(day: dt.date, houses: int = HOUSES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(household sizes, at home, active) of ``houses`` households of 1-6 people."""
    idx = np.arange(1, houses + 1)
    size = 1 + idx % 6
    at_home, active = day_blocks(42, idx, size, size, epoch_day(day), 0.0)
    return size, at_home, active


@pytest.fixture(scope="module")
def week() -> dict[dt.date, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return {MONDAY + dt.timedelta(days=k): blocks(MONDAY + dt.timedelta(days=k)) for k in range(7)}


def test_nobody_is_active_who_is_not_at_home(week):
    for size, at_home, active in week.values():
        assert (active <= at_home).all() and (active >= 0).all()
        assert (at_home <= size[:, None]).all() and (at_home >= 0).all()
        # Asleep at 3 a.m. almost everyone; at 8 p.m. most homes have someone up.
        assert active[:, 180].mean() < 0.1 * size.mean()
        assert (active[:, 20 * 60] > 0).mean() > 0.7


def test_weekends_are_lived_differently(week):
    weekday = [week[MONDAY + dt.timedelta(days=k)] for k in range(5)]
    weekend = [week[MONDAY + dt.timedelta(days=k)] for k in (5, 6)]

    def home_midday(days):  # people at home 10:00-16:00, a share of the household
        return np.mean([(h[:, 600:960].mean(axis=1) / s).mean() for s, h, _ in days])

    def first_up(days):  # the first minute after 4:00 at which someone is up
        return np.mean([np.argmax(a[:, 240:] > 0, axis=1).mean() for _, _, a in days])

    assert home_midday(weekend) > home_midday(weekday) + 0.1
    assert first_up(weekend) > first_up(weekday) + 30


def test_a_house_is_the_same_whoever_shares_its_run():
    size, at_home, active = blocks(MONDAY)
    alone = day_blocks(42, np.array([17]), size[[16]], size[[16]], epoch_day(MONDAY), 0.0)
    assert (alone[0][0] == at_home[16]).all() and (alone[1][0] == active[16]).all()


def _week_of_load(settings: SimulationSettings) -> tuple[np.ndarray, list[np.ndarray]]:
    arrays = houses_arrays(make_houses(settings))
    climate = settings.climate_preset
    powers = []
    for k in range(7):
        local = local_day(MONDAY + dt.timedelta(days=k), climate.timezone)
        powers.append(
            simulate_load(arrays, local, climate, settings.seed, settings.events).power_kw
        )
    plain = ~arrays.electric_heating & ~arrays.has_ac
    return plain, powers


def test_an_empty_home_draws_only_its_base():
    vacant = replace(NO_EVENTS, vacancy=1.0)  # every house-day starts a vacancy
    s = replace(SimulationSettings(houses=120), events=vacant)
    plain, powers = _week_of_load(s)
    for power in powers:
        p = power[plain]
        # Standby and the fridge's compressor: two levels, nothing else, all day.
        for row in p:
            assert np.unique(np.round(row, 9)).size <= 2


def test_the_base_load_is_reached_every_night():
    s = replace(SimulationSettings(houses=200), events=NO_EVENTS)
    plain, powers = _week_of_load(s)
    for power in powers:
        p = power[plain]
        night = p[:, 60:300].min(axis=1)  # 01:00-05:00 local (no clock change this week)
        assert np.allclose(night, p.min(axis=1))


def test_one_minute_peaks_look_like_real_homes():
    s = replace(SimulationSettings(houses=200), events=NO_EVENTS)
    _, powers = _week_of_load(s)
    daily_peaks = np.stack([p.max(axis=1) for p in powers])
    # Kettles, hobs, ovens and showers overlap: a typical home peaks at several kW a day.
    assert np.median(daily_peaks) > 3.5
    assert daily_peaks.max() < 23  # a 100 A single-phase service


def test_the_shipped_calibration_is_what_the_code_computes():
    """The calibration file beside the code (read instead of computing it in every process)
    holds what ``compute_calibration`` gives; regenerate it with
    ``python -m energy_assets.simulation.occupancy`` after changing the occupancy model."""
    assert CALIBRATION_FILE.exists()
    for shipped, computed in zip(_calibration(), compute_calibration(), strict=True):
        np.testing.assert_allclose(shipped, computed, rtol=1e-9, atol=1e-12)
