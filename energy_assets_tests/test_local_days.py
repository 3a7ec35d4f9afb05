"""A simulated day is the neighbourhood's local day: 23, 24 or 25 hours, timestamps in UTC.

Across both clock changes of 2024 in each hemispere (Santiago: back on the night of 6-7 April,
forward on 7-8 September; London: forward on 31 March, back on 27 October) the simulator, the
cleaning and the daily aggregates agree on the day's true length.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from energy_assets.analytics.daily import HOURLY_COLUMNS, daily_aggregates
from energy_assets.analytics.features import is_weekend
from energy_assets.calendar import local_day
from energy_assets.cleaning.rules import CleaningParams
from energy_assets.cleaning.vee import classify, cleaned, house_day_counts, rejected
from energy_assets.simulation.houses import make_houses
from energy_assets.simulation.meter import simulate_day
from energy_assets.simulation.settings import CLIMATES, SimulationSettings

#: (climate, local day, hours, the local hour skipped or repeated)
TRANSITIONS = [
    ("santiago", dt.date(2024, 4, 6), 25, 23),
    ("santiago", dt.date(2024, 9, 8), 23, 0),
    ("london", dt.date(2024, 3, 31), 23, 1),
    ("london", dt.date(2024, 10, 27), 25, 1),
]


def test_local_days_have_their_true_length():
    for climate, day, hours, _ in TRANSITIONS:
        tz = CLIMATES[climate].timezone
        assert local_day(day, tz).minutes == hours * 60
        assert local_day(day - dt.timedelta(days=3), tz).minutes == 1440
    # Santiago's clocks jump from 00:00 to 01:00: the day begins at the jump.
    sep8 = local_day(dt.date(2024, 9, 8), "America/Santiago")
    assert sep8.start == dt.datetime(2024, 9, 8, 4) and sep8.wall_minutes()[0] == 60
    # The first day of London's summer time starts at midnight GMT.
    assert local_day(dt.date(2024, 3, 31), "Europe/London").start == dt.datetime(2024, 3, 31)


def _simulated(climate: str, day: dt.date, interval: int, houses: int = 3):
    s = SimulationSettings(houses=houses, interval_minutes=interval, climate=climate)
    s = s.without_faults()
    raw, _ = simulate_day(make_houses(s), day, s)
    return s, raw


def _pipeline(spark, raw: pa.Table, day: dt.date, s: SimulationSettings, drop_last: int = 0):
    """Clean the day's raw readings and aggregate them; the cleaned rows and the daily rows."""
    tz = s.climate_preset.timezone
    frame = raw.to_pandas()
    if drop_last:  # the day's last readings of the first house never arrive
        first = frame[frame.house_id == frame.house_id.iloc[0]]
        frame = frame.drop(first.sort_values("simulated_timestamp").index[-drop_last:])
    df = spark.createDataFrame(frame).withColumn("day", F.lit(day))
    params = CleaningParams(interval_minutes=s.interval_minutes, timezone=tz)
    c = classify(df, params)
    clean = cleaned(c, params)
    assert rejected(df, c).count() == 0
    daily = daily_aggregates(clean, s.interval_minutes, 220.0, tz)
    return clean, daily


def _local_hours(timestamps: pd.Series, tz: str) -> pd.Series:
    return timestamps.dt.tz_localize("UTC").dt.tz_convert(tz).dt.hour


@pytest.mark.parametrize("interval", [1, 15])
@pytest.mark.parametrize("climate,day,hours,changed_hour", TRANSITIONS)
def test_a_clock_change_day_is_whole_from_meter_to_daily_row(
    spark, climate, day, hours, changed_hour, interval
):
    s, raw = _simulated(climate, day, interval)
    tz = s.climate_preset.timezone
    per_day = hours * 60 // interval
    # The meters deliver the local day's intervals, all inside it, in UTC.
    assert raw.num_rows == s.houses * per_day
    ts = raw.to_pandas().simulated_timestamp
    assert ts.min() == pd.Timestamp(local_day(day, tz).start)
    assert set(ts.dt.tz_localize("UTC").dt.tz_convert(tz).dt.date) == {day}

    clean, daily = _pipeline(spark, raw, day, s)
    counts = house_day_counts(clean).toPandas()
    assert (counts["n"] == per_day).all() and (counts["repeated"] == 0).all()
    rows = daily.toPandas().set_index("house_id")
    assert (rows["expected_intervals"] == per_day).all()
    assert (rows["completeness"] == 1.0).all() and (rows["estimated_intervals"] == 0).all()

    readings = clean.toPandas()
    totals = readings.groupby("house_id").consumption_kwh.sum()
    np.testing.assert_allclose(rows.loc[totals.index, "total_kwh"], totals, rtol=1e-9)
    np.testing.assert_allclose(rows[list(HOURLY_COLUMNS)].sum(axis=1), rows["total_kwh"], rtol=1e-9)
    # The repeated hour is summed into its column; the skipped hour's column is empty.
    hour = _local_hours(readings.simulated_timestamp, tz)
    in_changed = readings[hour == changed_hour].groupby("house_id").consumption_kwh.sum()
    column = f"kwh_h{changed_hour:02d}"
    if hours == 23:
        assert in_changed.empty and (rows[column] == 0).all()
    else:
        assert (readings[hour == changed_hour].groupby("house_id").size() == 120 // interval).all()
        np.testing.assert_allclose(rows.loc[in_changed.index, column], in_changed, rtol=1e-9)


@pytest.mark.parametrize(
    "climate,day", [("santiago", dt.date(2024, 4, 6)), ("london", dt.date(2024, 10, 27))]
)
def test_a_gap_at_the_end_of_a_25_hour_day_is_estimated_to_its_true_end(spark, climate, day):
    s, raw = _simulated(climate, day, 15, houses=2)
    clean, daily = _pipeline(spark, raw, day, s, drop_last=3)
    rows = daily.toPandas().set_index("house_id")
    assert (rows["expected_intervals"] == 100).all()
    assert (rows["completeness"] == 1.0).all()
    assert sorted(rows["estimated_intervals"]) == [0, 3]
    last = clean.agg(F.max("simulated_timestamp")).first()[0]
    assert last == local_day(day, s.climate_preset.timezone).end - dt.timedelta(minutes=15)


@pytest.mark.parametrize(
    "climate,utc",
    [("santiago", dt.datetime(2024, 7, 6, 2, 30)), ("london", dt.datetime(2024, 7, 5, 21, 30))],
)
def test_friday_2230_local_lands_in_fridays_row(spark, climate, utc):
    """22:30 on Friday 5 July 2024, local: in Friday's row, its evening and its 22:00 hour."""
    friday = dt.date(2024, 7, 5)
    s, raw = _simulated(climate, friday, 15, houses=1)
    frame = raw.to_pandas()
    at = frame[frame.simulated_timestamp == pd.Timestamp(utc)]
    assert len(at) == 1  # the reading belongs to the simulation of Friday, the local day
    clean, daily = _pipeline(spark, raw, friday, s)
    row = daily.toPandas().iloc[0]
    assert row["day"] == friday and not is_weekend(pd.Series([row["day"]]))[0]
    kwh = float(at.consumption_kwh.iloc[0])
    readings = clean.toPandas()
    hour = _local_hours(readings.simulated_timestamp, s.climate_preset.timezone)
    evening = readings[hour >= 18].consumption_kwh.sum()
    assert row["evening_kwh"] == pytest.approx(evening) and row["evening_kwh"] >= kwh
    assert row["kwh_h22"] == pytest.approx(readings[hour == 22].consumption_kwh.sum())
    assert kwh in set(readings[hour == 22].consumption_kwh.round(4))
