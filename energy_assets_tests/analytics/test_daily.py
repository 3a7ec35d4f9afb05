"""Daily features on hand-made readings with known answers."""

import datetime as dt

import pytest

from energy_assets.analytics.daily import daily_aggregates

SCHEMA = (
    "house_id string, simulated_timestamp timestamp_ntz, ingested_at timestamp_ntz, "
    "consumption_kwh double, temperature double, voltage double, is_estimated boolean, "
    "quality_flags string"
)


def test_daily_features_have_the_known_answers(spark):
    rows = []
    for h in range(24):
        ts = dt.datetime(2024, 1, 1, h)
        kwh = 1.0 + h // 6
        rows.append(
            (
                "H1",
                ts,
                ts,
                kwh,
                10.0 if h else 4.0,
                250.0 if h == 12 else 220.0,
                h == 3,
                "estimated" if h == 3 else "",
            )
        )
    out = daily_aggregates(spark.createDataFrame(rows, SCHEMA), 60, 220.0, "UTC").collect()
    assert len(out) == 1
    r = out[0]
    assert r["total_kwh"] == pytest.approx(60.0)
    assert (r["night_kwh"], r["morning_kwh"], r["afternoon_kwh"], r["evening_kwh"]) == (
        6,
        12,
        18,
        24,
    )
    assert r["peak_kw"] == 4.0 and r["peak_at"].hour >= 18
    assert r["base_load_kw"] == 1.0
    assert r["load_factor"] == pytest.approx(2.5 / 4.0)
    assert (r["valid_intervals"], r["estimated_intervals"], r["expected_intervals"]) == (23, 1, 24)
    assert r["completeness"] == 1.0
    assert r["temperature_min"] == 4.0 and r["temperature_max"] == 10.0
    assert r["hdd"] == pytest.approx((11.5 + 23 * 5.5) / 24)
    assert r["cdd"] == 0.0
    assert r["minutes_outside_10pct"] == 60 and r["voltage_max"] == 250.0
    assert [r[f"kwh_h{h:02d}"] for h in range(24)] == [1.0 + h // 6 for h in range(24)]


def test_cooling_degree_days_count_only_the_hot_hours(spark):
    rows = [
        ("H1", dt.datetime(2024, 1, 1, h), None, 1.0, 30.0 if h < 6 else 20.0, 220.0, False, "")
        for h in range(24)
    ]
    r = daily_aggregates(spark.createDataFrame(rows, SCHEMA), 60, 220.0, "UTC").collect()[0]
    # Six hours 8 degrees above the 22 C base: 2 degree-days, though the mean is only 22.5 C.
    assert r["cdd"] == pytest.approx(2.0) and r["hdd"] == 0.0


def test_periods_follow_the_local_clock(spark):
    rows = [
        ("H1", dt.datetime(2024, 7, 1, h), None, 1.0 if h == 22 else 0.0, 10.0, 220.0, False, "")
        for h in range(24)
    ]
    out = {
        r["day"]: r
        for r in daily_aggregates(
            spark.createDataFrame(rows, SCHEMA), 60, 220.0, "America/Santiago"
        ).collect()
    }
    # 22:00 UTC is 18:00 in Santiago in July (UTC-4): evening, not night; 00:00-03:00 UTC are
    # still the evening of 30 June there.
    july = out[dt.date(2024, 7, 1)]
    assert july["evening_kwh"] == 1.0 and july["night_kwh"] == 0.0
    assert (july["valid_intervals"], out[dt.date(2024, 6, 30)]["valid_intervals"]) == (20, 4)
