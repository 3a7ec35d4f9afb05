"""PostgreSQL warehouse tables, loaded from their Parquet twins by the PostgreSQL IO manager."""

from dagster import AssetIn, AssetKey, asset
from pyspark.sql import DataFrame

from energy_assets.partitions import simulated_days, single_run

GROUP = "warehouse"
PREFIX = ["warehouse"]


@asset(
    key_prefix=PREFIX,
    name="houses",
    ins={"registry": AssetIn(key=AssetKey("houses"))},
    group_name=GROUP,
    io_manager_key="warehouse_io_manager",
    backfill_policy=single_run,
    metadata={"primary_key": ["house_id"]},
    kinds={"postgres"},
)
def warehouse_houses(registry: DataFrame) -> DataFrame:
    """``energy.houses``: the registry, for SQL users."""
    return registry


@asset(
    key_prefix=PREFIX,
    ins={"raw_readings": AssetIn(key=AssetKey("raw_readings"))},
    group_name=GROUP,
    io_manager_key="warehouse_io_manager",
    partitions_def=simulated_days,
    backfill_policy=single_run,
    metadata={"partition_expr": "simulated_timestamp"},
    kinds={"spark", "postgres"},
)
def energy_data_raw(raw_readings: DataFrame) -> DataFrame:
    """``energy.energy_data_raw``: every raw reading, values as text, nothing dropped."""
    return raw_readings.select(
        "ingested_at",
        "simulated_timestamp",
        "house_id",
        "consumption_kwh",
        "temperature",
        "voltage",
    )
