"""Who is at home and awake, minute by minute: the occupancy that drives a home's load.

Each person of a household lives a day of blocks, as time-use surveys describe it: asleep
until a wake-up time, out for work or school on weekdays (or an outing on any day), back, and
to bed late in the evening, sometimes after midnight, which carries into the next day; now
and then up for a few minutes in the night. The times are drawn per person and day around
routines that differ on weekdays and weekends and by the person's role (a worker or pupil
leaves on weekdays; someone at home goes out less and shorter). This is an equivalent of
CREST's occupancy model (Richardson et al. 2008, a Markov chain over UK time-use data) built
from blocks instead of ten-minute transitions: the same persistence (people stay asleep, out
or in for hours), vectorised over houses with no loop over minutes. ``docs/simulation.md``
gives every parameter and where it comes from.

A household's *active occupancy* (people at home and awake) switches appliances and lights
on; its *occupancy* (people at home) keeps the air conditioning on. Every draw is keyed on
(seed, house, person, day), so a house's day does not depend on which houses or days share a
run; the day before is re-drawn, not remembered, for the bedtime that crosses midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from energy_assets.simulation import streams as S
from energy_assets.simulation.randomness import normal, uniform

#: People a house can hold on a day: its household (up to six) and two guests.
MAX_PEOPLE = 8
GUESTS = 2
#: The mean over a year of how far into summer a day is (max(0, cos) of the season).
YEAR_MEAN_SUMMER = 1 / np.pi
#: CREST's effective occupancy for lighting (people awake at home share lit rooms).
EFFECTIVE_OCCUPANCY = np.array([0.0, 1.0, 1.528, 1.694, 1.983, 2.094, 2.2, 2.3, 2.4])


@dataclass(frozen=True)
class Routines:
    """The routines people's days are drawn around (hours of the local clock)."""

    wake_weekday: float = 6.75
    wake_weekend: float = 8.25
    wake_at_home: float = 7.75  # someone who does not leave for work, on a weekday
    wake_sd: float = 0.75
    bed_weekday: float = 23.5
    bed_weekend: float = 24.1  # Friday and Saturday nights
    bed_sd: float = 1.0
    #: Share of adults who leave on weekdays for work (full or part time; the rest are
    #: retired, at home or work from home); children leave for school.
    worker_share: float = 0.4
    pupil_share: float = 0.85
    leave_after_wake: tuple[float, float] = (0.4, 1.4)
    away_hours: float = 8.0  # a working day with the commute; school days are shorter
    school_hours: float = 6.5
    away_sd: float = 1.2
    #: Outings (shopping, visits, sport): chance a day, start window and length, hours.
    outing_chance_weekday: float = 0.45
    outing_chance_weekend: float = 0.65
    outing_start: tuple[float, float] = (9.5, 17.5)
    outing_hours: tuple[float, float] = (0.75, 4.0)
    evening_out_weekday: float = 0.08
    evening_out_weekend: float = 0.25
    evening_out_summer: float = 0.25  # added at the height of summer
    evening_out_start: tuple[float, float] = (18.5, 21.0)
    evening_out_hours: tuple[float, float] = (2.0, 4.0)
    #: Up in the night for a few minutes (bathroom, a child, a glass of water).
    night_wake_chance: float = 0.3


ROUTINES = Routines()


@dataclass
class Occupancy:
    """People at home and people at home and awake, per house and minute of the day."""

    at_home: np.ndarray  # (houses, minutes) int8
    active: np.ndarray  # (houses, minutes) int8


def _hours(u: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    return span[0] + u * (span[1] - span[0])


def _is_weekend(dnum: int) -> bool:
    # Day 0 of the epoch (1970-01-01) was a Thursday.
    return (dnum + 3) % 7 >= 5


def _bedtime(seed: int, idx: np.ndarray, person: int, dnum: int, r: Routines) -> np.ndarray:
    """Minutes after the day's midnight at which a person goes to bed (after 1440: next day)."""
    friday_or_saturday = (dnum + 3) % 7 in (4, 5)
    mean = r.bed_weekend if friday_or_saturday else r.bed_weekday
    return np.round((mean + r.bed_sd * normal(seed, S.PERSON_BED, idx, person, dnum)) * 60)


def _roles(seed: int, idx: np.ndarray, person: int, r: Routines) -> np.ndarray:
    """Whether a person leaves on weekdays: the first two are adults, the rest children."""
    share = r.worker_share if person < 2 else r.pupil_share
    return uniform(seed, S.PERSON_ROLE, idx, person) < share


def day_blocks(
    seed: int,
    idx: np.ndarray,
    household: np.ndarray,
    people: np.ndarray,
    dnum: int,
    summer: float,
    r: Routines = ROUTINES,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of people at home and awake per wall-clock minute 0..1439: (at_home, active).

    ``people`` is how many people each house holds today: its ``household``, plus guests (who
    stay in), or nobody (a vacancy); ``summer`` (0..1) is how far into summer the day is. The counts are built from +1/-1 steps at block edges, so
    the cost is a cumulative sum per house, not a walk over minutes.
    """
    n = idx.size
    weekend = _is_weekend(dnum)
    awake = np.zeros((n, 1442))
    away = np.zeros((n, 1442))
    rows = np.arange(n)
    chrono = 0.5 * normal(seed, S.HOUSE_WAKE, idx)  # a household's shared rhythm, hours

    def add(grid: np.ndarray, start: np.ndarray, end: np.ndarray, mask: np.ndarray) -> None:
        s = np.clip(start, 0, 1440).astype(np.int64)
        e = np.clip(end, 0, 1440).astype(np.int64)
        keep = mask & (e > s)
        np.add.at(grid, (rows[keep], s[keep]), 1.0)
        np.add.at(grid, (rows[keep], e[keep]), -1.0)

    for person in range(MAX_PEOPLE):
        here = people > person
        if not here.any():
            break
        guest = person >= household
        leaves = _roles(seed, idx, person, r) & ~guest
        out_today = leaves & (not weekend)
        mean_wake = np.where(
            out_today, r.wake_weekday, r.wake_weekend if weekend else r.wake_at_home
        )
        wake = np.round(
            (mean_wake + chrono + r.wake_sd * normal(seed, S.PERSON_WAKE, idx, person, dnum)) * 60
        )
        wake = np.clip(wake, 240, 720)
        bed = np.maximum(_bedtime(seed, idx, person, dnum, r), wake + 240)
        last_night = np.maximum(_bedtime(seed, idx, person, dnum - 1, r) - 1440, 0)
        add(awake, np.zeros(n), last_night, here)
        add(awake, wake, bed, here)
        u_night = uniform(seed, S.PERSON_NIGHT, idx, person, dnum)
        night = np.round(60 + u_night * 240 / r.night_wake_chance)
        add(
            awake,
            night,
            night + 5 + 15 * uniform(seed, S.PERSON_NIGHT, idx, person, dnum, 1),
            here & (u_night < r.night_wake_chance) & (night > last_night),
        )

        # Away blocks lie inside the waking day, so they subtract from both counts alike.
        leave = wake + 60 * _hours(
            uniform(seed, S.PERSON_AWAY, idx, person, dnum), r.leave_after_wake
        )
        hours = r.away_hours if person < 2 else r.school_hours
        back = leave + 60 * (hours + r.away_sd * normal(seed, S.PERSON_AWAY, idx, person, dnum, 1))
        add(away, leave, np.minimum(back, bed - 30), here & out_today)
        chance = r.outing_chance_weekend if weekend else r.outing_chance_weekday
        u_out = uniform(seed, S.PERSON_OUTING, idx, person, dnum)
        start = 60 * _hours(uniform(seed, S.PERSON_OUTING, idx, person, dnum, 1), r.outing_start)
        length = 60 * _hours(uniform(seed, S.PERSON_OUTING, idx, person, dnum, 2), r.outing_hours)
        start = np.maximum(start, np.where(out_today, back, wake) + 30)
        outing = here & (u_out < chance) & ~guest
        add(away, start, np.minimum(start + length, bed - 30), outing)
        # Evenings out: more at weekends, and more in summer, when evenings are light and warm.
        free = np.maximum(np.where(out_today, back, wake), np.where(outing, start + length, 0)) + 30
        chance = (
            r.evening_out_weekend if weekend else r.evening_out_weekday
        ) + r.evening_out_summer * summer
        u_eve = uniform(seed, S.PERSON_OUTING, idx, person, dnum, 3)
        eve = 60 * _hours(uniform(seed, S.PERSON_OUTING, idx, person, dnum, 4), r.evening_out_start)
        eve = np.maximum(eve, free)
        eve_len = 60 * _hours(
            uniform(seed, S.PERSON_OUTING, idx, person, dnum, 5), r.evening_out_hours
        )
        add(away, eve, np.minimum(eve + eve_len, bed - 15), here & (u_eve < chance) & ~guest)

    awake_count = np.cumsum(awake, axis=1)[:, :1440]
    away_count = np.cumsum(away, axis=1)[:, :1440]
    at_home = people[:, None] - away_count
    active = np.clip(awake_count - away_count, 0, None)
    return at_home.astype(np.int8), np.minimum(active, at_home).astype(np.int8)


def occupancy(
    seed: int,
    idx: np.ndarray,
    household: np.ndarray,
    people: np.ndarray,
    dnum: int,
    wall: np.ndarray,
    summer: float,
) -> Occupancy:
    """Occupancy over the minutes of a local day whose wall clock reads ``wall``.

    A 25-hour day lives its repeated hour twice, a 23-hour day skips one, as people do.
    """
    at_home, active = day_blocks(seed, idx, household, people, dnum, summer)
    return Occupancy(at_home[:, wall], active[:, wall])


#: The roles a household member can have: an adult or a child, who leaves on weekdays or not.
ROLES = ("adult_out", "adult_home", "child_out", "child_home")


def role_counts(seed: int, idx: np.ndarray, household: np.ndarray) -> np.ndarray:
    """How many members of each household have each of :data:`ROLES` (houses, roles)."""
    counts = np.zeros((idx.size, len(ROLES)))
    for person in range(MAX_PEOPLE):
        here = household > person
        stays = ~_roles(seed, idx, person, ROUTINES)
        kind = (0 if person < 2 else 2) + stays.astype(int)
        np.add.at(counts, (np.nonzero(here)[0], kind[here]), 1.0)
    return counts


def compute_calibration() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Active minutes a day and the mean effective-occupancy day, by household size; and the
    active minutes a day each role adds to a household.

    Estimated once from 300 households of each size over four weeks of a fixed calibration
    seed, so what a house is expected to use does not depend on the run's seed or houses.
    """
    per_size = 300
    sizes = np.repeat(np.arange(1, MAX_PEOPLE + 1), per_size)
    idx = 10_000_000 + np.arange(sizes.size)
    minutes = np.zeros(MAX_PEOPLE + 1)
    by_house = np.zeros(sizes.size)
    curve = np.zeros((MAX_PEOPLE + 1, 1440))
    days = range(19_723, 19_751)  # four weeks from Monday 1 January 2024
    for d in days:
        _, active = day_blocks(7, idx, sizes, sizes, d, YEAR_MEAN_SUMMER)
        by_house += active.sum(axis=1)
        minutes += np.bincount(sizes, active.sum(axis=1).astype(float), MAX_PEOPLE + 1)
        eff = EFFECTIVE_OCCUPANCY[active]
        for size in range(1, MAX_PEOPLE + 1):
            curve[size] += eff[sizes == size].sum(axis=0)
    n = per_size * len(days)
    minutes[0], curve[0] = 1.0, 0.0  # an empty house: no division by zero, no light
    # A member's waking hours at home depend on the role, hardly on who else lives there.
    per_role, *_ = np.linalg.lstsq(role_counts(7, idx, sizes), by_house / len(days), rcond=None)
    return minutes / np.where(np.arange(MAX_PEOPLE + 1) > 0, n, 1), curve / n, per_role


#: :func:`compute_calibration`'s result, shipped with the package: it takes seconds, which every
#: process that simulates (each Spark Python worker too) would otherwise pay again. Written by
#: ``python -m energy_assets.simulation.occupancy``; a test checks it is what the code computes.
CALIBRATION_FILE = Path(__file__).with_name("occupancy_calibration.npz")
CALIBRATION_ARRAYS = ("active_minutes", "activity_curve", "minutes_per_role")


@lru_cache(maxsize=1)
def _calibration() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shipped calibration, or computed when the file is missing."""
    if not CALIBRATION_FILE.exists():
        return compute_calibration()
    with np.load(CALIBRATION_FILE) as shipped:
        return tuple(shipped[name] for name in CALIBRATION_ARRAYS)


def write_calibration(path: Path = CALIBRATION_FILE) -> None:
    """Compute the calibration and write it where :func:`_calibration` reads it."""
    np.savez_compressed(path, **dict(zip(CALIBRATION_ARRAYS, compute_calibration(), strict=True)))


def expected_active_minutes() -> np.ndarray:
    """Mean person-minutes of active occupancy a day over a week, by household size."""
    return _calibration()[0]


def household_active_minutes(seed: int, idx: np.ndarray, household: np.ndarray) -> np.ndarray:
    """Mean person-minutes of active occupancy a day over a week of each household, from its
    members' roles: a home with someone in all day is awake at home longer than its size says."""
    return np.maximum(role_counts(seed, idx, household) @ _calibration()[2], 1.0)


def typical_activity() -> np.ndarray:
    """The mean day of effective active occupancy (sizes, wall minutes), by household size."""
    return _calibration()[1]


if __name__ == "__main__":
    write_calibration()
    print(f"wrote {CALIBRATION_FILE}")
