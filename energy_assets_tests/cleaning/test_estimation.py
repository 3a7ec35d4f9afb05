"""Gap estimates from a house's analogues, on small hand-made days of hourly readings."""

import datetime as dt

import pytest

from energy_assets.cleaning.estimation import day_vectors, load_shapes, slots_a_day
from energy_assets.cleaning.rules import CleaningParams
from energy_assets.cleaning.vee import classify, cleaned, estimated, gap_estimates

SCHEMA = (
    "house_id string, simulated_timestamp timestamp_ntz, ingested_at timestamp_ntz, "
    "consumption_kwh string, temperature string, voltage string"
)
P = CleaningParams(interval_minutes=60, nominal_voltage=220.0)
TODAY = dt.date(2024, 3, 1)


def day_rows(day: dt.date, kwh_by_hour, house="H1", skip=()):
    """A day of hourly readings with the given energy per hour, hours in ``skip`` missing.

    Alternate hours read a tenth of a watt-hour more: a flat run is a stuck meter to the rules.
    """
    start = dt.datetime.combine(day, dt.time())
    return [
        (house, start + dt.timedelta(hours=h), start + dt.timedelta(hours=h, minutes=5))
        + (f"{kwh_by_hour(h) + 0.0001 * (h % 2):.4f}", "12.5", "226.0")
        for h in range(24)
        if h not in skip
    ]


def history_of(spark, days):
    """``load_shapes`` of the given (day, kwh_by_hour) pairs."""
    rows = [r for day, shape in days for r in day_rows(day, shape)]
    return load_shapes(classify(spark.createDataFrame(rows, SCHEMA), P), P)


def estimates_for(spark, today_rows, history):
    c = classify(spark.createDataFrame(today_rows, SCHEMA), P)
    return {r["simulated_timestamp"].hour: r for r in estimated(c, P, history).collect()}


def flat_night(h: int) -> float:
    return 0.1 if h < 7 else 0.3 + 0.05 * (h % 5)


def test_a_gap_in_a_flat_night_is_estimated_flat(spark):
    past = [(TODAY - dt.timedelta(days=k), flat_night) for k in range(1, 11)]
    got = estimates_for(
        spark, day_rows(TODAY, flat_night, skip=range(1, 6)), history_of(spark, past)
    )
    assert sorted(got) == [1, 2, 3, 4, 5]  # a five-hour gap, beyond interpolation's hour
    assert {r["method"] for r in got.values()} == {"analog"}
    assert all(r["estimate_kwh"] == pytest.approx(0.1, abs=2e-4) for r in got.values())
    assert all(r["history_days"] == 10 for r in got.values())


def test_the_days_alike_around_the_gap_make_the_estimate(spark):
    def evening_out(h: int) -> float:  # nobody home in the evening: flat
        return 0.2

    def evening_in(h: int) -> float:  # a cooking peak from 18 to 20, lights after
        return 1.0 if 18 <= h <= 20 else (0.5 if h in (16, 17, 21, 22) else 0.2)

    past = [
        (TODAY - dt.timedelta(days=k), evening_in if k % 2 else evening_out) for k in range(1, 15)
    ]
    today = day_rows(TODAY, evening_in, skip=(18, 19, 20))
    got = estimates_for(spark, today, history_of(spark, past))
    # The days that began and ended the evening alike had the cooking peak: so has the estimate.
    assert got[19]["method"] == "analog"
    assert got[19]["analog_kwh"] == pytest.approx(1.0, abs=2e-4)
    assert got[19]["estimate_kwh"] == pytest.approx(1.0, abs=0.02)
    # The simple ways: interpolation between 0.5 and 0.5; the mean day (0.6 at 19:00) scaled by
    # today's context over the mean day's (2.6 / 2.0 kWh over 14-17 h and 21-23 h).
    assert got[19]["linear_kwh"] == pytest.approx(0.5, abs=2e-4)
    assert got[19]["profile_scaled_kwh"] == pytest.approx(0.78, abs=1e-3)
    assert got[19]["week_earlier_kwh"] == pytest.approx(1.0, abs=2e-4)  # seven days back: odd, "in"


def test_a_peak_the_house_had_at_other_hours_fills_a_gap_that_begins_and_ends_like_it(spark):
    def peak_at(hour: int):  # a one-hour peak between two shoulders, on a flat day
        levels = {hour - 1: 0.6, hour: 1.5, hour + 1: 0.6}
        return lambda h: levels.get(h, 0.2)

    past = [(TODAY - dt.timedelta(days=k), peak_at(16)) for k in range(1, 8)]
    got = estimates_for(spark, day_rows(TODAY, peak_at(19), skip=(19,)), history_of(spark, past))
    # Interpolation sees two shoulders; the same hour of the days before was flat; the house's
    # moments that rose and fell like these had the peak.
    assert got[19]["linear_kwh"] == pytest.approx(0.6, abs=2e-4)
    assert got[19]["week_earlier_kwh"] == pytest.approx(0.2, abs=2e-4)
    assert got[19]["method"] == "analog"
    assert got[19]["estimate_kwh"] == pytest.approx(1.5, abs=2e-4)


def test_a_cold_start_interpolates_short_gaps_and_leaves_long_ones(spark):
    past = [(TODAY - dt.timedelta(days=k), flat_night) for k in range(1, 4)]  # too few days
    today = day_rows(TODAY, flat_night, skip=(1, 2, 3, 12))
    got = estimates_for(spark, today, history_of(spark, past))
    assert sorted(got) == [12] and got[12]["method"] == "linear"
    assert got[12]["estimate_kwh"] == pytest.approx((flat_night(11) + flat_night(13)) / 2, abs=2e-4)


def test_estimates_reach_the_cleaned_readings_and_the_gap_table(spark):
    past = [(TODAY - dt.timedelta(days=k), flat_night) for k in range(1, 8)]
    c = classify(spark.createDataFrame(day_rows(TODAY, flat_night, skip=(2, 3)), SCHEMA), P)
    est = estimated(c, P, history_of(spark, past))
    clean = cleaned(c, P, est)
    assert clean.count() == 24 and clean.where("is_estimated").count() == 2
    table = gap_estimates(est, P).collect()
    assert {(r["gap_minutes"], r["method"]) for r in table} == {(120, "analog")}


def test_slots_with_a_duplicate_or_a_fault_are_left_out_of_the_history(spark):
    rows = day_rows(TODAY, flat_night)
    rows[3] = (*rows[3][:3], "error", *rows[3][4:])
    rows.append((*rows[5][:2], rows[5][2] + dt.timedelta(minutes=1), *rows[5][3:]))
    shapes = load_shapes(classify(spark.createDataFrame(rows, SCHEMA), P), P)
    slots = {r["slot"] for r in shapes.collect()}
    assert 3 not in slots and 5 not in slots and len(slots) == 22


def test_at_one_minute_a_gap_within_a_slot_is_interpolated_a_longer_one_from_analogues(spark):
    params = CleaningParams(interval_minutes=1, nominal_voltage=220.0)

    def minutes(day: dt.date, skip=()):
        start = dt.datetime.combine(day, dt.time())
        return [
            ("H1", start + dt.timedelta(minutes=m), start + dt.timedelta(minutes=m, seconds=30))
            + (f"{0.002 + 0.001 * (m // 60 % 3) + 0.0001 * (m % 2):.4f}", "12.5", "226.0")
            for m in range(1440)
            if m not in skip
        ]

    past = [r for k in range(1, 7) for r in minutes(TODAY - dt.timedelta(days=k))]
    history = load_shapes(classify(spark.createDataFrame(past, SCHEMA), params), params)
    gaps = (*range(100, 105), *range(600, 630))  # five minutes, and half an hour
    c = classify(spark.createDataFrame(minutes(TODAY, skip=gaps), SCHEMA), params)
    table = gap_estimates(estimated(c, params, history), params).collect()
    got = {r["gap_minutes"]: r["method"] for r in table}
    assert got == {5: "linear", 30: "analog"}


def test_a_days_vector_holds_each_slot_at_its_index_and_nulls_where_slots_are_missing(spark):
    shapes = spark.createDataFrame(
        [("H1", TODAY, slot, float(slot) + 0.5) for slot in (3, 0, 1, 7)]
        + [("H2", TODAY, slot, 2.0) for slot in (5, 6)],
        "house_id string, day date, slot int, kwh double",
    )
    vectors = {r["house_id"]: r["_v"] for r in day_vectors(shapes, "kwh", P).collect()}
    length = slots_a_day(P)
    h1 = [None] * length
    for slot in (0, 1, 3, 7):
        h1[slot] = slot + 0.5
    h2 = [None] * length
    h2[5] = h2[6] = 2.0
    assert vectors == {"H1": h1, "H2": h2}
