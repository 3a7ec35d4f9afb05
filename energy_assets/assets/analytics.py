"""Analytics assets: daily aggregates per house (the classifier and anomalies build on them)."""

import datetime as dt

from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    Output,
    ResourceParam,
    asset,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from energy_assets.analytics.daily import daily_aggregates as compute_daily
from energy_assets.assets.verdicts import Verdict, day_check, day_results
from energy_assets.partitions import day_time_zone, simulated_days, single_run
from energy_assets.resources import SimulationResource
from energy_assets.storage.parquet_io import ParquetIOManager
from energy_assets.storage.spark import SparkResource

TOLERANCE_KWH = 1e-6


@asset(
    partitions_def=simulated_days,
    backfill_policy=single_run,
    group_name="analytics",
    io_manager_key="parquet_io_manager",
    metadata={"partition_expr": "day"},
    kinds={"spark", "parquet"},
    check_specs=[
        day_check(
            "sums_to_cleaned",
            "daily_aggregates",
            "energy per house-day equals the sum of the local day's cleaned readings",
            blocking=True,
        ),
    ],
)
def daily_aggregates(
    context: AssetExecutionContext,
    cleaned_readings: DataFrame,
    simulation: SimulationResource,
    spark: SparkResource,
    parquet_io_manager: ResourceParam[ParquetIOManager],
):
    """One row per house and day: energy by period, peak, base load, completeness, weather."""
    settings = simulation.settings()
    climate = settings.climate_preset
    yield Output(
        compute_daily(
            cleaned_readings,
            settings.interval_minutes,
            climate.nominal_voltage,
            day_time_zone(settings),
        )
    )
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    written = parquet_io_manager.read_days(context.asset_key, days)
    sums = cleaned_readings.groupBy("house_id", "day").agg(F.sum("consumption_kwh").alias("s"))
    joined = sums.join(written.select("house_id", "day", "total_kwh"), ["house_id", "day"], "full")
    off = (
        F.col("s").isNull()
        | F.col("total_kwh").isNull()
        | (F.abs(F.col("s") - F.col("total_kwh")) > TOLERANCE_KWH)
    )
    # One pass: house-days compared and off per day, then a sample only when something is off.
    counts = {
        str(r["day"]): (r["house_days"], r["off"])
        for r in joined.groupBy("day")
        .agg(F.count("*").alias("house_days"), F.count_if(off).alias("off"))
        .collect()
    }
    sample = (
        [{k: str(v) for k, v in r.asDict().items()} for r in joined.where(off).limit(5).collect()]
        if any(bad for _, bad in counts.values())
        else []
    )
    per_day = {str(d): _sums_verdict(*counts.get(str(d), (0, 0))) for d in days}
    yield day_results(
        context,
        "daily_aggregates",
        "sums_to_cleaned",
        AssetCheckSeverity.ERROR,
        per_day,
        {"sample": MetadataValue.json(sample)},
    )


def _sums_verdict(house_days: int, off: int) -> Verdict:
    """A day's verdict: every house-day's total is the sum of its readings (and there are some)."""
    return Verdict(
        house_days > 0 and off == 0,
        f"{house_days} house-days, each the sum of its readings"
        if house_days and not off
        else f"{off} of {house_days} house-days differ from the sum of their readings",
        {"house_days": house_days, "house_days_off": off},
    )
