"""Analytics assets: daily aggregates per house (the classifier and anomalies build on them)."""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MetadataValue,
    Output,
    asset,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from energy_assets.analytics.daily import daily_aggregates as compute_daily
from energy_assets.assets.cleaning import read_days
from energy_assets.partitions import day_time_zone, simulated_days, single_run
from energy_assets.resources import SimulationResource
from energy_assets.storage.lake import LakeResource
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
        AssetCheckSpec(
            "sums_to_cleaned",
            asset="daily_aggregates",
            blocking=True,
            description="energy per house-day equals the cleaned readings' sum",
        ),
    ],
)
def daily_aggregates(
    context: AssetExecutionContext,
    cleaned_readings: DataFrame,
    simulation: SimulationResource,
    spark: SparkResource,
    lake: LakeResource,
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
    written = read_days(spark.session, lake, "daily_aggregates", days)
    sums = cleaned_readings.groupBy("house_id", "day").agg(F.sum("consumption_kwh").alias("s"))
    joined = sums.join(written.select("house_id", "day", "total_kwh"), ["house_id", "day"], "full")
    off = (
        F.col("s").isNull()
        | F.col("total_kwh").isNull()
        | (F.abs(F.col("s") - F.col("total_kwh")) > TOLERANCE_KWH)
    )
    # One pass: house-days compared and off, then a sample only when something is off.
    counts = joined.agg(F.count("*").alias("house_days"), F.count_if(off).alias("off")).collect()[0]
    n_bad = counts["off"]
    sample = (
        [{k: str(v) for k, v in r.asDict().items()} for r in joined.where(off).limit(5).collect()]
        if n_bad
        else []
    )
    yield AssetCheckResult(
        check_name="sums_to_cleaned",
        passed=n_bad == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "house_days_off": n_bad,
            "house_days": counts["house_days"],
            "sample": MetadataValue.json(sample),
        },
    )
