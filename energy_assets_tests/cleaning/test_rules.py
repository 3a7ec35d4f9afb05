"""Every cleaning rule on small hand-made frames: each must fire, and only where it should."""

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from energy_assets.cleaning.rules import (
    ALL_RULES,
    REJECT_CODES,
    ROW_RULES,
    CleaningParams,
    markdown_table,
)
from energy_assets.cleaning.schema import schema_errors
from energy_assets.cleaning.vee import classify, cleaned, house_day_counts, rejected

SCHEMA = (
    "house_id string, simulated_timestamp timestamp_ntz, ingested_at timestamp_ntz, "
    "consumption_kwh string, temperature string, voltage string"
)
P = CleaningParams(interval_minutes=60, nominal_voltage=220.0)


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, 1) + dt.timedelta(hours=hour, minutes=minute)


def day_of(values, house="H1"):
    """A clean day of hourly readings with distinct values; overrides by hour."""
    rows = []
    for h in range(24):
        kwh, temp, volt = values.get(h, (f"{0.2 + 0.01 * h:.4f}", "12.5", "226.0"))
        rows.append((house, at(h), at(h, 5), kwh, temp, volt))
    return rows


def fates(spark, rows, params=P):
    df = spark.createDataFrame(rows, SCHEMA)
    c = classify(df, params)
    return {
        (r["simulated_timestamp"].hour, r["ingested_at"].minute if r["ingested_at"] else None): r[
            "reason"
        ]
        for r in c.select("simulated_timestamp", "ingested_at", "reason").collect()
    }


@pytest.mark.parametrize(
    "field,value,code",
    [
        ("kwh", None, "consumption_missing"),
        ("kwh", "  ", "consumption_missing"),
        ("kwh", "NaN", "consumption_nan"),
        ("kwh", "-9999", "consumption_sentinel"),
        ("kwh", "9999", "consumption_sentinel"),
        ("kwh", "error", "consumption_not_numeric"),
        ("kwh", "-0.3", "consumption_negative"),
        ("kwh", "250.5", "consumption_above_service"),
        ("temp", None, "temperature_missing"),
        ("temp", "NaN", "temperature_nan"),
        ("temp", "-9999", "temperature_sentinel"),
        ("temp", "error", "temperature_not_numeric"),
        ("temp", "75", "temperature_implausible"),
        ("volt", None, "voltage_missing"),
        ("volt", "nan", "voltage_nan"),
        ("volt", "9999", "voltage_sentinel"),
        ("volt", "error", "voltage_not_numeric"),
        ("volt", "40", "voltage_implausible"),
    ],
)
def test_each_row_rule_fires_alone(spark, field, value, code):
    good = ("0.31", "12.5", "226.0")
    bad = {
        "kwh": (value, *good[1:]),
        "temp": (good[0], value, good[2]),
        "volt": (*good[:2], value),
    }[field]
    result = fates(spark, day_of({7: bad}))
    assert result[(7, 5)] == code
    assert sum(r is not None for r in result.values()) == 1


def test_every_row_rule_is_exercised_above():
    tested = {
        "consumption_missing",
        "consumption_nan",
        "consumption_sentinel",
        "consumption_not_numeric",
        "consumption_negative",
        "consumption_above_service",
        "temperature_missing",
        "temperature_nan",
        "temperature_sentinel",
        "temperature_not_numeric",
        "temperature_implausible",
        "voltage_missing",
        "voltage_nan",
        "voltage_sentinel",
        "voltage_not_numeric",
        "voltage_implausible",
    }
    assert tested == {r.code for r in ROW_RULES}


def test_identical_duplicate_collapses_to_one(spark):
    rows = day_of({})
    rows.append(rows[4])
    c = classify(spark.createDataFrame(rows, SCHEMA), P)
    reasons = [r["reason"] for r in c.where("hour(simulated_timestamp) = 4").collect()]
    assert sorted(reasons, key=str) == sorted([None, "duplicate_identical"], key=str)


def test_conflicting_duplicate_keeps_the_latest_and_says_so(spark):
    rows = day_of({})
    rows.append(("H1", at(9), at(9, 1), "0.9999", "12.5", "226.0"))  # earlier, wrong
    result = fates(spark, rows)
    assert result[(9, 1)] == "duplicate_superseded" and result[(9, 5)] is None
    df = cleaned(classify(spark.createDataFrame(rows, SCHEMA), P), P)
    kept = df.where("hour(simulated_timestamp) = 9").collect()
    assert len(kept) == 1 and kept[0]["consumption_kwh"] == pytest.approx(0.29)
    assert "conflict_resolved" in kept[0]["quality_flags"]


def test_a_later_invalid_delivery_does_not_replace_a_valid_one(spark):
    rows = day_of({})
    rows.append(("H1", at(9), at(9, 30), "error", "12.5", "226.0"))
    result = fates(spark, rows)
    assert result[(9, 30)] == "consumption_not_numeric" and result[(9, 5)] is None


def test_stuck_meter_rejects_the_repeats_not_the_first_value(spark):
    stuck = {h: ("0.2500", "12.5", "226.0") for h in range(10, 14)}
    result = fates(spark, day_of(stuck))
    assert result[(10, 5)] is None
    assert [result[(h, 5)] for h in (11, 12, 13)] == ["stuck_meter"] * 3
    # One repeat is not a stuck meter: at 60-minute intervals it takes two after the first.
    short = fates(spark, day_of({10: ("0.2500", "12.5", "226.0"), 11: ("0.2500", "12.5", "226.0")}))
    assert short[(11, 5)] is None
    once = fates(spark, day_of({}))
    assert all(v is None for v in once.values())


def test_stuck_run_length_follows_the_interval(spark):
    params = CleaningParams(interval_minutes=15)
    assert params.stuck_run == 4
    rows = [
        ("H1", at(0, 15 * i), at(0, 15 * i + 5), f"{0.05 + 0.001 * i:.4f}", "12", "226")
        for i in range(96)
    ]
    for i in range(20, 23):  # the first value and 2 repeats: 30 minutes, not stuck
        rows[i] = (*rows[i][:3], "0.0700", *rows[i][4:])
    c = classify(spark.createDataFrame(rows, SCHEMA), params)
    assert c.where("reason IS NOT NULL").count() == 0


def test_late_and_out_of_order_land_in_their_interval(spark):
    rows = day_of({})
    rows[3] = ("H1", at(3), at(20), *rows[3][3:])  # late
    rows[5] = ("H1", at(5), at(4, 1), *rows[5][3:])  # before the 04:00 reading arrived
    df = cleaned(classify(spark.createDataFrame(rows, SCHEMA), P), P)
    assert df.count() == 24
    flags = {r["simulated_timestamp"].hour: r["quality_flags"] for r in df.collect()}
    assert flags[3] == "late_delivery" and flags[5] == ""


def test_short_gaps_are_interpolated_long_gaps_stay(spark):
    rows = [r for r in day_of({}) if r[1].hour not in (6, 12, 13, 14)]
    df = cleaned(classify(spark.createDataFrame(rows, SCHEMA), P), P)
    got = {r["simulated_timestamp"].hour: r for r in df.collect()}
    assert got[6]["is_estimated"] and got[6]["consumption_kwh"] == pytest.approx(0.26)
    assert got[6]["ingested_at"] is None and got[6]["quality_flags"] == "estimated"
    assert 12 not in got and 13 not in got and 14 not in got
    edges = [r for r in day_of({}) if r[1].hour not in (0, 23)]
    got = {
        r["simulated_timestamp"].hour: r
        for r in cleaned(classify(spark.createDataFrame(edges, SCHEMA), P), P).collect()
    }
    assert got[0]["is_estimated"] and got[0]["consumption_kwh"] == pytest.approx(0.21)
    assert got[23]["is_estimated"] and got[23]["consumption_kwh"] == pytest.approx(0.42)


def test_rejected_rows_replaced_by_estimates_and_everything_accounted_for(spark):
    rows = day_of({8: ("error", "12.5", "226.0")})
    raw = spark.createDataFrame(rows, SCHEMA)
    c = classify(raw, P)
    clean, rej = cleaned(c, P), rejected(raw, c)
    assert rej.count() == 1 and rej.first()["consumption_kwh"] == "error"
    assert clean.count() == 24 and clean.where("is_estimated").count() == 1
    assert clean.where(~F.col("is_estimated")).count() + rej.count() == len(rows)
    assert schema_errors(clean.drop("day"), P) == {}


def test_validation_doc_is_generated_from_the_rules():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "validation.md").read_text()
    assert markdown_table() in doc
    assert {r.code for r in ALL_RULES} >= set(REJECT_CODES)


def test_house_day_counts_find_a_repeated_key_and_only_that(spark):
    rows = day_of({}) + day_of({}, house="H2")
    # Off the quarter hours, and a microsecond apart: other keys (the warehouse's key has
    # microseconds too), not repeats.
    rows.append(("H2", dt.datetime(2024, 1, 1, 9, 6, 8), None, "0.2", "12.5", "226.0"))
    rows.append(("H2", dt.datetime(2024, 1, 1, 9, 6, 8, 1), None, "0.2", "12.5", "226.0"))
    rows.append(("H1", at(7), at(7, 9), "0.3", "12.5", "226.0"))  # H1's 07:00 twice
    df = spark.createDataFrame(rows, SCHEMA).select(
        "house_id",
        "simulated_timestamp",
        F.to_date("simulated_timestamp").alias("day"),
        F.lit(False).alias("is_estimated"),
    )
    counts = {r["house_id"]: r for r in house_day_counts(df).collect()}
    assert (counts["H1"]["n"], counts["H1"]["repeated"]) == (25, 1)
    assert (counts["H2"]["n"], counts["H2"]["repeated"]) == (26, 0)


def test_rejected_rows_from_parquet_keep_their_text_once_each(spark, tmp_path):
    """From raw files (the pipeline's case) a refused row's text is read back by its identity."""
    rows = day_of({8: ("error", "12.5", "226.0"), 9: (" 0.3000 ", "12.50", "226.0")})
    rows += [rows[4], rows[4]]  # two identical copies of 04:00
    rows.append(("H1", at(5), at(5, 2), "0.9", "12.5", "226.0"))  # superseded by the 05:05 one
    rows.append(("H1", at(9), at(9, 1), "0.30", "12.5", "226"))  # an earlier 09:00, other text
    spark.createDataFrame(rows, SCHEMA).repartition(3).write.parquet(str(tmp_path / "raw"))
    raw = spark.read.parquet(str(tmp_path / "raw"))
    c = classify(raw, P)
    rej = sorted(
        (r["simulated_timestamp"].hour, r["consumption_kwh"], r["voltage"], r["reason"])
        for r in rejected(raw, c).collect()
    )
    assert rej == [
        (4, "0.2400", "226.0", "duplicate_identical"),
        (4, "0.2400", "226.0", "duplicate_identical"),
        (5, "0.9", "226.0", "duplicate_superseded"),
        (8, "error", "226.0", "consumption_not_numeric"),
        (9, "0.30", "226", "duplicate_superseded"),
    ]
    kept = cleaned(c, P).where("NOT is_estimated")
    assert kept.count() == 23 and kept.where("hour(simulated_timestamp) = 9").first()[
        "consumption_kwh"
    ] == pytest.approx(0.3)


def test_each_days_rejections_stay_within_what_the_fault_rates_predict(spark):
    """The per-day rejection check holds on seeds, seasons and sizes it was not tuned on."""
    import pyarrow as pa

    from energy_assets.assets.cleaning import rejection_model
    from energy_assets.resources import SimulationResource
    from energy_assets.simulation.houses import make_houses
    from energy_assets.simulation.meter import simulate_day
    from energy_assets.simulation.settings import SimulationSettings

    for seed, houses, interval, first in ((1, 100, 15, "2024-02-10"), (7, 60, 5, "2024-08-20")):
        settings = SimulationSettings(houses=houses, interval_minutes=interval, seed=seed)
        registry = make_houses(settings)
        days = [dt.date.fromisoformat(first) + dt.timedelta(days=k * 11) for k in range(6)]
        raw = pa.concat_tables([simulate_day(registry, d, settings)[0] for d in days])
        params = CleaningParams(interval_minutes=interval, timezone="America/Santiago")
        df = spark.createDataFrame(raw.to_pandas())
        c = classify(df, params)
        refused = {
            r["day"]: r["n"]
            for r in c.where("reason IS NOT NULL")
            .groupBy("day")
            .agg(F.count("*").alias("n"))
            .collect()
        }
        raw_rows = {
            r["day"]: r["n"] for r in c.groupBy("day").agg(F.count("*").alias("n")).collect()
        }
        model = rejection_model(
            SimulationResource(houses=houses, interval_minutes=interval, seed=seed), params
        )
        for d in days:
            expected = model.expected(raw_rows[d], houses)
            assert abs(refused.get(d, 0) - expected) <= model.tolerance(raw_rows[d], houses), (
                seed,
                d,
                refused.get(d, 0),
                expected,
            )


def test_landed_exports_missing_markers_and_empty_channels(spark):
    from dataclasses import replace

    ok = ("12.5", "226.0")
    rows = day_of({3: ("Null", *ok), 5: (" ? ", *ok), 7: ("error", *ok), 9: ("0.3", "", "?")})
    raw = spark.createDataFrame(rows, SCHEMA)
    landed = replace(P, optional_channels=("temperature", "voltage"), missing_markers=("Null", "?"))
    reasons = {r["reason"] for r in rejected(raw, classify(raw, landed)).collect()}
    # A marker is a missing value; an empty or unknown optional channel is no fault.
    assert reasons == {"consumption_missing", "consumption_not_numeric"}
    clean = cleaned(classify(raw, landed), landed)
    assert clean.count() == 24 and schema_errors(clean.drop("day"), landed) == {}
    nine = clean.where(F.col("simulated_timestamp") == at(9)).first()
    assert nine["temperature"] is None and nine["voltage"] is None and not nine["is_estimated"]
    # The simulator's meters write no markers: the same text is not a number there.
    simulated = {r["reason"] for r in rejected(raw, classify(raw, P)).collect()}
    assert "consumption_not_numeric" in simulated and "consumption_missing" not in simulated
