"""How real the simulated homes look, beside CREST homes and the BDEW H0 profile, in one run.

    .venv/bin/pip install -e '.[bench]'      # richardsonpy (CREST) and demandlib (BDEW H0)
    .venv/bin/python benchmarks/realism.py [--houses 100] [--crest-per-size 4] [--seed 42]

Three peers, all computed in this run, none read from a file of results:
  * our homes, healthy (no anomalies, no meter faults): the one-minute power the meter
    integrates, for a winter and a summer week of each hemisphere (Santiago, London);
  * CREST homes (Richardson et al. 2010, as ``richardsonpy`` runs them, with the German
    test-reference-year irradiance it ships): households of 1-5 people, electric space and
    water heating left out (``prev_heat_dev``), the same calendar weeks as London;
  * the BDEW H0 standard load profile (``demandlib``), by season and day type.

Per house and week, at 1, 15 and 60 minutes: peak over mean, coefficient of variation, the
share of time near the night-time base (at or below 1.1 x the 90th percentile of the house's
02:00-05:00 power), lag-1 autocorrelation, and the median daily peak; the table prints the
median over houses. Then the correlation of the neighbourhood's mean 15-minute day with H0's,
per season (H0's dates; six months later in the south) and day type.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

from energy_assets.calendar import local_day  # noqa: E402
from energy_assets.simulation.houses import make_houses  # noqa: E402
from energy_assets.simulation.load import simulate_load  # noqa: E402
from energy_assets.simulation.meter import houses_arrays  # noqa: E402
from energy_assets.simulation.settings import EventRates, SimulationSettings  # noqa: E402

RESOLUTIONS = (1, 15, 60)
#: Mondays of weeks without a clock change, in a year whose 1 January is a Monday (2024).
WINTER_NORTH, SUMMER_NORTH = dt.date(2024, 1, 15), dt.date(2024, 7, 15)
#: H0's seasons (winter 1 Nov-20 Mar, summer 15 May-14 Sep, transition between); two weeks
#: each, Mondays, clear of clock changes in both hemispheres.
H0_WEEKS_NORTH = {
    "winter": (dt.date(2024, 1, 22), dt.date(2024, 2, 19)),
    "transition": (dt.date(2024, 4, 15), dt.date(2024, 10, 7)),
    "summer": (dt.date(2024, 6, 17), dt.date(2024, 8, 12)),
}
DAY_TYPES = ("weekday", "saturday", "sunday")
NO_EVENTS = EventRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass
class Week:
    """One-minute power (kW) of some houses over seven local days, with the local clock."""

    power_kw: np.ndarray  # (houses, minutes)
    local_minute: np.ndarray  # (minutes,) minute of the local day
    day_of_week: np.ndarray  # (minutes,) Monday 0


def south(day: dt.date) -> dt.date:
    """The same week of the southern year: six months later, moved to its Monday."""
    moved = day.replace(month=(day.month + 5) % 12 + 1, year=day.year + (day.month > 6))
    moved = moved.replace(year=2024) if moved.year > 2024 else moved
    return moved - dt.timedelta(days=moved.weekday())


def our_week(climate: str, monday: dt.date, houses: int, seed: int, electric: bool) -> Week:
    """Seven simulated local days of healthy homes (electric heating in or out)."""
    s = replace(SimulationSettings(houses=houses, seed=seed, climate=climate), events=NO_EVENTS)
    table = make_houses(s)
    arrays = houses_arrays(table)
    keep = np.ones(arrays.index.size, bool)
    if not electric:
        keep = ~arrays.electric_heating & ~arrays.has_ac
    days = [monday + dt.timedelta(days=k) for k in range(7)]
    powers, minutes, dows = [], [], []
    for day in days:
        local = local_day(day, s.climate_preset.timezone)
        load = simulate_load(arrays, local, s.climate_preset, seed, s.events)
        powers.append(load.power_kw[keep])
        minutes.append(local.wall_minutes())
        dows.append(np.full(local.minutes, day.weekday()))
    return Week(np.hstack(powers), np.concatenate(minutes), np.concatenate(dows))


def crest_week(monday: dt.date, per_size: int, seed: int) -> Week:
    """Seven days of CREST homes of 1-5 people, ``per_size`` of each, from ``richardsonpy``."""
    import richardsonpy.classes.appliance as app_model
    import richardsonpy.classes.electric_load as eload
    import richardsonpy.classes.lighting as light_model
    import richardsonpy.classes.occupancy as occ
    import richardsonpy.classes.stochastic_el_load_wrapper as wrapper
    import richardsonpy.functions.change_resolution as cr
    import richardsonpy.functions.load_radiation as loadrad

    random.seed(seed)
    np.random.seed(seed)
    inputs = Path(app_model.__file__).parents[1] / "inputs"
    q_direct, q_diffuse = loadrad.get_rad_from_try_path()
    irradiance = cr.change_resolution(q_direct + q_diffuse, old_res=3600, new_res=60)
    first = monday.timetuple().tm_yday - 1
    days = range(first, first + 7)
    rows = []
    for size in range(1, 6):
        for _ in range(per_size):
            # initial_day=1: day 0 is a Monday, as 1 January 2024 is.
            occupancy = occ.Occupancy(number_occupants=size, initial_day=1, nb_days=first + 7)
            appliances = app_model.Appliances(
                str(inputs / "Appliances.csv"),
                annual_consumption=0.91 * eload.ElectricLoad.standard_consumption["SFH"][size],
                randomize_appliances=True,
                prev_heat_dev=True,
            )
            lights = light_model.load_lighting_profile(str(inputs / "LightBulbs.csv"), 0)
            profile = wrapper.ElectricityProfile(appliances, lights)
            watts = []
            for i in days:
                irr = np.interp(
                    np.arange(1440), 60 * np.arange(1440), irradiance[i * 1440 : (i + 1) * 1440]
                )
                total, _, _ = profile.power_sim(
                    irradiation=irr,
                    weekend=(i + 1) % 7 in (0, 6),
                    day=i,
                    occupancy=occupancy.occupancy[144 * i : 144 * (i + 1)],
                )
                watts.append(np.asarray(total, float))
            rows.append(np.concatenate(watts) / 1000.0)
    minute = np.tile(np.arange(1440), 7)
    return Week(np.vstack(rows), minute, np.repeat(np.arange(7), 1440))


def _at(power_kw: np.ndarray, minutes: int) -> np.ndarray:
    n = power_kw.shape[1] // minutes * minutes
    return power_kw[:, :n].reshape(power_kw.shape[0], -1, minutes).mean(axis=2)


def house_statistics(week: Week, minutes: int) -> dict[str, float]:
    """Medians over houses of the texture statistics at ``minutes`` resolution."""
    p = _at(week.power_kw, minutes)
    clock = week.local_minute[::minutes][: p.shape[1]]
    mean = p.mean(axis=1)
    night = (clock >= 120) & (clock < 300)
    base = 1.1 * np.percentile(p[:, night], 90, axis=1)
    x = p - mean[:, None]
    lag1 = (x[:, 1:] * x[:, :-1]).sum(axis=1) / np.maximum((x**2).sum(axis=1), 1e-12)
    per_day = p.shape[1] * minutes // 1440
    daily_peak = np.median(
        p[:, : per_day * (1440 // minutes)].reshape(p.shape[0], per_day, -1).max(axis=2), axis=1
    )
    return {
        "peak / mean": float(np.median(p.max(axis=1) / mean)),
        "coefficient of variation": float(np.median(p.std(axis=1) / mean)),
        "share of time near base": float(np.median((p <= base[:, None]).mean(axis=1))),
        "lag-1 autocorrelation": float(np.median(lag1)),
        "daily peak, kW (median)": float(np.median(daily_peak)),
        "daily energy, kWh": float(np.median(mean * 24.0)),
    }


def day_type(dow: np.ndarray) -> np.ndarray:
    """weekday / saturday / sunday of Monday-0 weekdays."""
    return np.where(dow == 5, "saturday", np.where(dow == 6, "sunday", "weekday"))


def mean_days(week: Week) -> dict[str, np.ndarray]:
    """The neighbourhood's mean 15-minute day per day type, by the local clock."""
    neighbourhood = week.power_kw.mean(axis=0)
    frame = pd.DataFrame(
        {
            "kw": neighbourhood,
            "slot": week.local_minute // 15,
            "type": day_type(week.day_of_week),
        }
    )
    shapes = frame.groupby(["type", "slot"]).kw.mean().unstack("slot")
    return {t: shapes.loc[t].to_numpy() for t in shapes.index}


def h0_days() -> dict[tuple[str, str], np.ndarray]:
    """BDEW H0's 15-minute day per (season, day type), from demandlib's profile of 2023."""
    import demandlib.bdew as bdew

    profile = bdew.ElecSlp(2023).get_scaled_power_profiles({"h0": 1.0})["h0"]
    idx = profile.index
    md = idx.month * 100 + idx.day
    season = np.where(
        (md >= 515) & (md <= 914),
        "summer",
        np.where((md <= 320) | (md >= 1101), "winter", "transition"),
    )
    frame = pd.DataFrame(
        {
            "kw": profile.to_numpy(),
            "season": season,
            "type": day_type(idx.dayofweek.to_numpy()),
            "slot": idx.hour * 4 + idx.minute // 15,
        }
    )
    shapes = frame.groupby(["season", "type", "slot"]).kw.mean().unstack("slot")
    return {key: shapes.loc[key].to_numpy() for key in shapes.index}


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two daily shapes of the same length."""
    n = min(a.size, b.size)
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def texture_table(weeks: dict[str, Week]) -> str:
    """The texture statistics, one column a peer."""
    names = list(weeks)
    lines = [
        "| statistic | minutes | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    stats = {n: {m: house_statistics(w, m) for m in RESOLUTIONS} for n, w in weeks.items()}
    for stat in next(iter(next(iter(stats.values())).values())):
        for m in RESOLUTIONS if stat != "daily energy, kWh" else RESOLUTIONS[:1]:
            cells = " | ".join(f"{stats[n][m][stat]:.2f}" for n in names)
            lines.append(f"| {stat} | {m} | {cells} |")
    return "\n".join(lines)


def shape_table(args: argparse.Namespace, h0: dict, crest: dict[str, Week]) -> str:
    """Correlation of mean days with H0's, per season and day type, for each peer."""
    lines = ["| season | day type | Santiago | London | CREST |", "|---|---|---|---|---|"]
    ours: dict[str, dict] = {}
    for climate, shift in (("santiago", south), ("london", lambda d: d)):
        ours[climate] = {}
        for season, mondays in H0_WEEKS_NORTH.items():
            weeks = [our_week(climate, shift(m), args.houses, args.seed, True) for m in mondays]
            joined = Week(
                np.hstack([w.power_kw for w in weeks]),
                np.concatenate([w.local_minute for w in weeks]),
                np.concatenate([w.day_of_week for w in weeks]),
            )
            ours[climate][season] = mean_days(joined)
    crest_days = {s: mean_days(w) for s, w in crest.items()}
    for season in H0_WEEKS_NORTH:
        for t in DAY_TYPES:
            ref = h0[(season, t)]
            cells = [f"{correlation(ours[c][season][t], ref):.2f}" for c in ("santiago", "london")]
            cells.append(
                f"{correlation(crest_days[season][t], ref):.2f}" if season in crest_days else ""
            )
            lines.append(f"| {season} | {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the texture and shape tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--houses", type=int, default=100)
    ap.add_argument("--crest-per-size", type=int, default=4)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    t0 = time.perf_counter()
    crest = {
        "winter": crest_week(WINTER_NORTH, args.crest_per_size, args.seed),
        "summer": crest_week(SUMMER_NORTH, args.crest_per_size, args.seed + 1),
    }
    t_crest = time.perf_counter() - t0
    print(
        f"# Realism: {args.houses} houses a preset (seed {args.seed}), "
        f"{5 * args.crest_per_size} CREST homes ({t_crest:.0f} s)\n"
    )
    print(
        "Texture, medians over houses. Ours: homes without electric heating or air "
        "conditioning, like the CREST homes (electric space and water heating left out).\n"
    )
    for season, (north, south_week) in {
        "winter": (WINTER_NORTH, south(WINTER_NORTH)),
        "summer": (SUMMER_NORTH, south(SUMMER_NORTH)),
    }.items():
        weeks = {
            f"Santiago {south_week}": our_week(
                "santiago", south_week, args.houses, args.seed, False
            ),
            f"London {north}": our_week("london", north, args.houses, args.seed, False),
            f"CREST {north}": crest[season],
        }
        print(f"## {season} week\n\n{texture_table(weeks)}\n")
    print("## Shape: correlation of the mean 15-minute day with BDEW H0's (all homes)\n")
    print(shape_table(args, h0_days(), crest))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
