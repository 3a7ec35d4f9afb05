"""The simulator's numpy core, without Spark or Dagster: determinism, realism, faults, truth."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from energy_assets.simulation.houses import make_houses
from energy_assets.simulation.meter import simulate_day
from energy_assets.simulation.settings import PROFILE_BANDS_KWH, SimulationSettings
from energy_assets.simulation.weather import day_minutes, outdoor_temperature

DAY = dt.date(2024, 7, 1)


def sorted_table(t: pa.Table) -> pd.DataFrame:
    df = t.to_pandas()
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_houses_are_deterministic_and_well_formed():
    s = SimulationSettings(houses=500)
    a, b = make_houses(s), make_houses(s)
    assert a.equals(b)
    assert a["house_id"][0].as_py() == "H00001" and a["house_id"][-1].as_py() == "H00500"
    # A house does not change when the neighbourhood grows.
    assert make_houses(SimulationSettings(houses=50)).equals(a.slice(0, 50))
    df = a.to_pandas()
    share = df.profile.value_counts(normalize=True)
    assert abs(share["low"] - 0.3) < 0.06 and abs(share["medium"] - 0.5) < 0.06
    for profile, (lo, hi) in PROFILE_BANDS_KWH.items():
        sub = df[df.profile == profile].annual_kwh
        assert sub.between(lo, hi).all()
        assert sub.std() > 0.05 * sub.mean()  # spread between houses
    assert set(df.heating) == {"electric", "gas", "none"}
    assert df.feeder_id.str.match(r"F\d{3}").all()


def test_chunking_and_run_set_do_not_change_a_house():
    s = SimulationSettings(houses=60)
    houses = make_houses(s)
    whole_raw, whole_truth = simulate_day(houses, DAY, s)
    parts = [simulate_day(houses.slice(lo, 20), DAY, s) for lo in (40, 0, 20)]
    assert sorted_table(pa.concat_tables([p[0] for p in parts])).equals(sorted_table(whole_raw))
    assert sorted_table(pa.concat_tables([p[1] for p in parts])).equals(sorted_table(whole_truth))
    # A house simulated alone, after another day, is the same house.
    simulate_day(houses.slice(7, 1), DAY + dt.timedelta(days=3), s)
    alone, _ = simulate_day(houses.slice(7, 1), DAY, s)
    mine = whole_raw.filter(pa.compute.equal(whole_raw["house_id"], "H00008"))
    assert sorted_table(alone).equals(sorted_table(mine))


def test_consecutive_days_join_without_a_jump():
    s = SimulationSettings()
    climate = s.climate_preset
    minutes = np.concatenate([day_minutes(DAY), day_minutes(DAY + dt.timedelta(days=1))])
    temp = outdoor_temperature(climate, s.seed, minutes)
    steps = np.abs(np.diff(temp))
    assert steps.max() < 0.1  # degrees a minute, midnight included
    # Weather persists: tomorrow's mean is closer to today's than to a random day's.
    daily = [
        outdoor_temperature(climate, s.seed, day_minutes(DAY + dt.timedelta(days=k))).mean()
        for k in range(60)
    ]
    lag1 = np.corrcoef(daily[:-1], daily[1:])[0, 1]
    assert lag1 > 0.5
    clean = s.without_faults()
    houses = make_houses(SimulationSettings(houses=200))
    last = simulate_day(houses, DAY, clean)[0].to_pandas()
    first = simulate_day(houses, DAY + dt.timedelta(days=1), clean)[0].to_pandas()
    end = last[last.simulated_timestamp.dt.hour == 23].consumption_kwh.astype(float).mean()
    start = first[first.simulated_timestamp.dt.hour == 0].consumption_kwh.astype(float).mean()
    assert abs(start - end) / end < 0.15


def test_a_days_energy_does_not_depend_on_the_interval():
    houses = make_houses(SimulationSettings(houses=30))
    totals = []
    for minutes in (1, 15, 60):
        s = SimulationSettings(houses=30, interval_minutes=minutes).without_faults()
        raw = simulate_day(houses, DAY, s)[0].to_pandas()
        assert len(raw) == 30 * 1440 // minutes
        totals.append(
            raw.groupby("house_id").consumption_kwh.apply(lambda c: c.astype(float).sum())
        )
    assert np.allclose(totals[0], totals[1], rtol=1e-3, atol=0.01)
    assert np.allclose(totals[0], totals[2], rtol=1e-3, atol=0.01)


def test_one_minute_is_spiky_and_kettles_are_small():
    houses = make_houses(SimulationSettings(houses=50))
    one = simulate_day(
        houses, DAY, SimulationSettings(houses=50, interval_minutes=1).without_faults()
    )[0]
    hour = simulate_day(
        houses, DAY, SimulationSettings(houses=50, interval_minutes=60).without_faults()
    )[0]
    k1 = one.to_pandas().consumption_kwh.astype(float) * 60  # kW
    k60 = hour.to_pandas().consumption_kwh.astype(float)
    assert (k1.max() / k1.mean()) > 2 * (k60.max() / k60.mean())
    assert k1.max() < 20  # no home draws more than its service allows
    # A minute reading is an energy: a kettle minute is about 0.03-0.04 kWh, never 2.
    assert one.to_pandas().consumption_kwh.astype(float).max() < 0.35


@pytest.fixture(scope="module")
def year() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A year of 100 houses at 60 minutes in Santiago, faults off."""
    s = SimulationSettings(houses=100, interval_minutes=60).without_faults()
    houses = make_houses(s)
    frames = []
    for k in range(366):
        raw = simulate_day(houses, dt.date(2024, 1, 1) + dt.timedelta(days=k), s)[0]
        frames.append(
            raw.select(["house_id", "simulated_timestamp", "consumption_kwh"]).to_pandas()
        )
    df = pd.concat(frames, ignore_index=True)
    df["kwh"] = df.consumption_kwh.astype(float)
    df["local"] = df.simulated_timestamp - pd.Timedelta(hours=4)  # Santiago standard time
    return df, houses.to_pandas().set_index("house_id")


def test_year_profiles_land_in_their_bands(year):
    df, houses = year
    annual = houses.join(df.groupby("house_id").kwh.sum().rename("kwh"))
    means = annual.groupby("profile").kwh.mean()
    assert means["low"] < means["medium"] < means["high"]
    for profile, (lo, hi) in PROFILE_BANDS_KWH.items():
        sub = annual[annual.profile == profile].kwh
        assert lo <= sub.mean() <= hi
        assert sub.between(lo * 0.95, hi * 1.05).mean() >= 0.9, profile
    assert annual[annual.profile == "low"].kwh.max() < annual[annual.profile == "high"].kwh.min()


def test_year_daily_and_weekly_shape(year):
    df, _ = year
    by_hour = df.groupby(df.local.dt.hour).kwh.mean()
    assert by_hour[18:22].mean() > 1.5 * by_hour[2:5].mean()  # evening peak over night trough
    assert by_hour.idxmin() in range(1, 6)
    by_dow = df.groupby(df.local.dt.dayofweek).kwh.mean()
    assert by_dow[[5, 6]].mean() > by_dow[:5].mean() * 1.03


def test_year_season_follows_temperature_in_the_south(year):
    df, houses = year
    electric = houses.index[houses.heating == "electric"]
    sub = df[df.house_id.isin(electric)]
    month = sub.groupby(sub.simulated_timestamp.dt.month).kwh.mean()
    assert month[[6, 7, 8]].mean() > 1.3 * month[[1, 2, 12]].mean()  # southern winter


def test_northern_preset_peaks_in_january():
    s = SimulationSettings(houses=200, interval_minutes=60, climate="london").without_faults()
    houses = make_houses(s)
    electric = houses.filter(pa.compute.equal(houses["heating"], "electric"))
    assert electric.num_rows > 3

    def mean_kwh(month: int) -> float:
        raws = [simulate_day(electric, dt.date(2024, month, d), s)[0] for d in range(1, 8)]
        return float(np.mean([float(v) for r in raws for v in r["consumption_kwh"].to_pylist()]))

    assert mean_kwh(1) > 1.3 * mean_kwh(7)
    assert s.climate_preset.nominal_voltage == 230


def test_voltage_meets_en_50160_and_sags_at_the_evening_peak():
    s = SimulationSettings(houses=200, interval_minutes=15).without_faults()
    raw = simulate_day(make_houses(s), DAY, s)[0].to_pandas()
    v = raw.voltage.astype(float)
    assert (abs(v - 220) <= 22).mean() >= 0.95
    hour = (raw.simulated_timestamp.dt.hour - 4) % 24
    assert v[hour.isin([19, 20])].mean() < v[hour.isin([3, 4])].mean()


@pytest.fixture(scope="module")
def faulty():
    s = SimulationSettings(houses=200, interval_minutes=15)
    houses = make_houses(s)
    days = [dt.date(2024, 3, 1) + dt.timedelta(days=k) for k in range(5)]
    out = [simulate_day(houses, d, s) for d in days]
    raw = pa.concat_tables([o[0] for o in out]).to_pandas()
    truth = pa.concat_tables([o[1] for o in out]).to_pandas()
    return s, raw, truth, days


def test_fault_rates_match_the_settings(faulty):
    s, raw, truth, days = faulty
    readings = s.houses * sum(s.intervals_on(d) for d in days)
    counts = truth.kind.value_counts()
    malformed = sum(
        counts.get(k, 0) for k in ("null", "error", "sentinel_-9999", "sentinel_9999", "nan")
    )
    for observed, rate in (
        (malformed, s.faults.malformed),
        (counts.get("late", 0), s.faults.late),
        (counts.get("out_of_order", 0), s.faults.out_of_order),
        (counts.get("duplicate_identical", 0), s.faults.duplicate_identical),
    ):
        expected = readings * rate
        assert abs(observed - expected) <= 4 * np.sqrt(expected) + 2, (observed, expected)
    gap_days = truth[truth.kind == "gap"].groupby(["house_id", "day"]).ngroups
    expected = s.houses * len(days) * s.faults.gap_per_house_day
    assert abs(gap_days - expected) <= 4 * np.sqrt(expected) + 2


def test_every_truth_row_matches_a_raw_row(faulty):
    _, raw, truth, _ = faulty
    rows = truth[truth.ingested_at.notna()]
    merged = rows.merge(
        raw, on=["house_id", "simulated_timestamp", "ingested_at"], how="left", indicator=True
    )
    assert (merged._merge == "both").all()
    valued = merged[merged.field.notna()]
    for field in ("consumption_kwh", "temperature", "voltage"):
        sub = valued[valued.field == field]
        delivered = sub.delivered_value.fillna("<null>")
        assert (delivered == sub[field].fillna("<null>")).all(), field
    # Gaps are the rows that never arrived.
    gaps = truth[truth.kind == "gap"].merge(
        raw, on=["house_id", "simulated_timestamp"], how="inner"
    )
    assert gaps.empty
    assert (truth[truth.category == "anomaly"].simulated_timestamp.isna()).all()


def test_raw_values_are_text_and_late_is_late(faulty):
    _, raw, truth, _ = faulty
    assert {"error", "-9999", "9999", "NaN"} <= set(raw.consumption_kwh.dropna()) | set(
        raw.temperature.dropna()
    ) | set(raw.voltage.dropna())
    late = truth[truth.kind == "late"]
    delay = late.ingested_at - late.simulated_timestamp
    assert (delay > pd.Timedelta(hours=1)).all()
    ooo = truth[truth.kind == "out_of_order"].merge(raw, on=["house_id", "simulated_timestamp"])
    assert len(ooo) > 0


def test_a_run_simulated_in_process_writes_what_spark_tasks_write(spark, tmp_path):
    """A small run simulated in the Dagster process gives the same files, rows and counts as
    the same tasks run in Spark's Python workers."""
    import pyarrow.dataset as ds

    from energy_assets.simulation.on_spark import simulate_in_process, simulate_to_parquet

    settings = SimulationSettings(houses=7, houses_per_task=3, seed=5)
    houses = make_houses(settings)
    days = [dt.date(2024, 3, 30), dt.date(2024, 3, 31)]
    assert settings.simulates_in_process(len(days))
    runs = {}
    for name, simulate in (
        ("spark", lambda *a: simulate_to_parquet(spark, *a)),
        ("process", simulate_in_process),
    ):
        raw, truth = tmp_path / name / "raw", tmp_path / name / "truth"
        counts = simulate(houses, days, settings, raw, truth)
        files = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.parquet"))
        tables = [ds.dataset(str(d), partitioning="hive").to_table() for d in (raw, truth)]
        runs[name] = (counts, files, tables)
    (counts_s, files_s, tables_s), (counts_p, files_p, tables_p) = runs["spark"], runs["process"]
    assert counts_p == counts_s and sum(counts_p.values()) == tables_p[0].num_rows > 0
    assert files_p == files_s and len(files_p) == 2 * 3  # two days, three tasks a day
    for a, b in zip(tables_s, tables_p, strict=True):
        keys = [(c, "ascending") for c in a.column_names]
        assert a.sort_by(keys).equals(b.sort_by(keys))
