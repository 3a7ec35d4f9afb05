"""Daily features per house: energy, its shape, peak and base, completeness, weather, voltage.

A day is the neighbourhood's local day. On the 25-hour day of a clock change the repeated hour's
energy is summed into its ``kwh_hNN`` column; on the 23-hour day the skipped hour's column is 0;
so the hour columns always add up to ``total_kwh``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from energy_assets.calendar_spark import day_end, day_start, local_date

#: Periods of the local day, by starting hour.
PERIODS = (("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))
HEATING_BASE_C, COOLING_BASE_C = 15.5, 22.0
BASE_LOAD_QUANTILE = 0.1
#: The energy of each local hour, the raw material of a house's 24-hour shape.
HOURLY_COLUMNS = tuple(f"kwh_h{h:02d}" for h in range(24))


def daily_aggregates(
    cleaned: DataFrame, interval_minutes: int, nominal_voltage: float, timezone: str
) -> DataFrame:
    """One row per house and day from cleaned readings (an aggregate, not a window)."""
    per_hour = 60.0 / interval_minutes
    kw = F.col("consumption_kwh") * per_hour
    local_hour = F.hour(
        F.from_utc_timestamp(F.col("simulated_timestamp").cast("timestamp"), timezone)
    )
    day = (
        F.col("day")
        if "day" in cleaned.columns
        else local_date(F.col("simulated_timestamp"), timezone)
    )
    # The local hour is computed once a reading, before the aggregate: inside it, every one of
    # the 28 hourly and period sums would convert the time zone again.
    cleaned = cleaned.select(*cleaned.columns, local_hour.alias("_hour"))
    hour = F.col("_hour")
    temp = F.col("temperature")
    outside = F.abs(F.col("voltage") - nominal_voltage) > 0.1 * nominal_voltage
    # The local day's true length: 23, 24 or 25 hours of intervals.
    expected = (day_end(F.col("day"), timezone) - day_start(F.col("day"), timezone)) / (
        interval_minutes * 60
    )
    aggs = [
        F.sum("consumption_kwh").alias("total_kwh"),
        *[
            F.sum(
                F.when((hour >= lo) & (hour < hi), F.col("consumption_kwh")).otherwise(0.0)
            ).alias(f"{name}_kwh")
            for name, lo, hi in PERIODS
        ],
        *[
            F.sum(F.when(hour == h, F.col("consumption_kwh")).otherwise(0.0)).alias(c)
            for h, c in enumerate(HOURLY_COLUMNS)
        ],
        F.max(kw).alias("peak_kw"),
        F.max_by("simulated_timestamp", "consumption_kwh").alias("peak_at"),
        F.avg(kw).alias("mean_kw"),
        F.sum((~F.col("is_estimated")).cast("int")).alias("valid_intervals"),
        F.sum(F.col("is_estimated").cast("int")).alias("estimated_intervals"),
        F.avg("temperature").alias("temperature_mean"),
        # Degree-days integrated over the intervals (not from the daily mean): a mild day with
        # a cold night still needs heating at night.
        F.avg(F.greatest(F.lit(0.0), F.lit(HEATING_BASE_C) - temp)).alias("hdd"),
        F.avg(F.greatest(F.lit(0.0), temp - F.lit(COOLING_BASE_C))).alias("cdd"),
        F.min("temperature").alias("temperature_min"),
        F.max("temperature").alias("temperature_max"),
        F.min("voltage").alias("voltage_min"),
        F.avg("voltage").alias("voltage_mean"),
        F.max("voltage").alias("voltage_max"),
        (F.sum(outside.cast("int")) * interval_minutes).alias("minutes_outside_10pct"),
    ]
    keys = ["house_id", day.alias("day")]
    # The quantile is an object aggregate, which Spark runs without code generation; alone over
    # the night readings it leaves the 40 other aggregates to the generated hash aggregate.
    base_load = (
        cleaned.where(hour < 6)
        .groupBy(*keys)
        .agg(F.percentile_approx(kw, BASE_LOAD_QUANTILE, 1000).alias("base_load_kw"))
    )
    out = cleaned.groupBy(*keys).agg(*aggs).join(base_load, ["house_id", "day"], "left")
    return out.select(
        "house_id",
        "day",
        "total_kwh",
        *[f"{name}_kwh" for name, _, _ in PERIODS],
        *HOURLY_COLUMNS,
        "peak_kw",
        F.col("peak_at").cast("timestamp_ntz").alias("peak_at"),
        "base_load_kw",
        # A day without any consumption (a meter bypassed to zero) has no load factor.
        F.try_divide(F.col("mean_kw"), F.col("peak_kw")).alias("load_factor"),
        "valid_intervals",
        "estimated_intervals",
        expected.cast("int").alias("expected_intervals"),
        ((F.col("valid_intervals") + F.col("estimated_intervals")) / expected).alias(
            "completeness"
        ),
        "temperature_mean",
        "temperature_min",
        "temperature_max",
        "hdd",
        "cdd",
        "voltage_min",
        "voltage_mean",
        "voltage_max",
        "minutes_outside_10pct",
    )
