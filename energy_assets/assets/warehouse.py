"""PostgreSQL warehouse tables, loaded from their Parquet twins by the PostgreSQL IO manager.

Each partitioned table carries a blocking check that it holds exactly the rows of its Parquet
twin, day by day, read back from PostgreSQL after the swap.
"""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Output,
    ResourceParam,
    asset,
)
from psycopg import sql
from pyspark.sql import DataFrame

from energy_assets.assets.verdicts import Verdict, day_check, day_results
from energy_assets.partitions import simulated_days, single_run
from energy_assets.storage.parquet_io import ParquetIOManager
from energy_assets.storage.postgres_io import PostgresIOManager, PostgresResource

GROUP = "warehouse"
PREFIX = ["warehouse"]
TS = "simulated_timestamp"


@asset(
    key_prefix=PREFIX,
    name="houses",
    ins={"registry": AssetIn(key=AssetKey("houses"))},
    group_name=GROUP,
    io_manager_key="warehouse_io_manager",
    backfill_policy=single_run,
    metadata={"primary_key": ["house_id"]},
    kinds={"postgres"},
    check_specs=[
        AssetCheckSpec(
            "matches_parquet",
            asset=AssetKey([*PREFIX, "houses"]),
            blocking=True,
            description="the table holds exactly the registry's rows",
        )
    ],
)
def warehouse_houses(
    context: AssetExecutionContext,
    registry: DataFrame,
    postgres: PostgresResource,
    parquet_io_manager: ResourceParam[ParquetIOManager],
    warehouse_io_manager: ResourceParam[PostgresIOManager],
):
    """``energy.houses``: the registry, for SQL users."""
    yield Output(registry)
    table = warehouse_io_manager.table_of(
        context.asset_key, dict(context.assets_def.metadata_by_key[context.asset_key])
    )
    with postgres.connect() as conn:
        in_pg = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table.ident)).fetchone()[0]
    in_parquet = parquet_io_manager.rows(AssetKey("houses"))
    yield matches_parquet("houses", in_pg, in_parquet, passed=in_pg == in_parquet)


def matches_parquet(
    name: str, in_pg: int, in_parquet: int, passed: bool, **metadata
) -> AssetCheckResult:
    """The result of a table's blocking ``matches_parquet`` check."""
    return AssetCheckResult(
        check_name="matches_parquet",
        asset_key=AssetKey([*PREFIX, name]),
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=f"{in_pg:,} rows in both"
        if passed
        else f"{in_pg:,} rows in PostgreSQL, {in_parquet:,} in Parquet",
        metadata={"rows_postgres": in_pg, "rows_parquet": in_parquet, **metadata},
    )


def twin_check(name: str):
    """The blocking check that a table holds exactly its Parquet twin's rows, day by day."""
    return day_check(
        "matches_parquet",
        AssetKey([*PREFIX, name]),
        "the day's rows in PostgreSQL equal the Parquet twin's",
        blocking=True,
    )


def twin_result(
    context: AssetExecutionContext,
    twin: AssetKey,
    parquet_io_manager: ResourceParam[ParquetIOManager],
    warehouse_io_manager: ResourceParam[PostgresIOManager],
) -> AssetCheckResult:
    """Compare rows per local day in PostgreSQL (after the swap) with the Parquet manifests.

    Both IO managers say where the asset and its twin live (a table or key override is honoured).
    """
    days = _days(context)
    key = context.asset_key
    metadata = dict(context.assets_def.metadata_by_key[key])
    in_pg = {
        str(d): n
        for d, n in warehouse_io_manager.rows_per_day(key, metadata, simulated_days, days).items()
    }
    in_parquet = {str(d): parquet_io_manager.rows_of_day(twin, d) for d in days}
    per_day = {
        d: Verdict(
            in_pg.get(d, 0) == n,
            f"{n:,} rows in both"
            if in_pg.get(d, 0) == n
            else f"{in_pg.get(d, 0):,} rows in PostgreSQL, {n:,} in Parquet",
            {"rows_postgres": in_pg.get(d, 0), "rows_parquet": n},
        )
        for d, n in in_parquet.items()
    }
    return day_results(
        context,
        key,
        "matches_parquet",
        AssetCheckSeverity.ERROR,
        per_day,
        {"rows_postgres": sum(in_pg.values()), "rows_parquet": sum(in_parquet.values())},
    )


def _days(context: AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def _table_asset(
    name: str,
    twin: str,
    columns: tuple[str, ...] | None,
    primary_key: list[str] | None,
    doc: str,
    partition_column: str = TS,
):
    metadata = {"partition_expr": partition_column}
    if primary_key:
        metadata["primary_key"] = primary_key

    @asset(
        key_prefix=PREFIX,
        name=name,
        ins={"twin": AssetIn(key=AssetKey(twin))},
        group_name=GROUP,
        io_manager_key="warehouse_io_manager",
        partitions_def=simulated_days,
        backfill_policy=single_run,
        metadata=metadata,
        kinds={"spark", "postgres"},
        check_specs=[twin_check(name)],
        description=doc,
    )
    def load(
        context: AssetExecutionContext,
        twin: DataFrame,
        parquet_io_manager: ResourceParam[ParquetIOManager],
        warehouse_io_manager: ResourceParam[PostgresIOManager],
    ):
        yield Output(twin.select(*columns) if columns else twin)
        yield twin_result(context, twin_key, parquet_io_manager, warehouse_io_manager)

    twin_key = AssetKey(twin)
    return load


RAW = (
    "ingested_at",
    "simulated_timestamp",
    "house_id",
    "consumption_kwh",
    "temperature",
    "voltage",
)
energy_data_raw = _table_asset(
    "energy_data_raw",
    "raw_readings",
    RAW,
    None,
    "energy.energy_data_raw: every raw reading, values as text, nothing dropped.",
)
energy_data_cleaned = _table_asset(
    "energy_data_cleaned",
    "cleaned_readings",
    (
        "ingested_at",
        "simulated_timestamp",
        "house_id",
        "consumption_kwh",
        "temperature",
        "voltage",
        "is_estimated",
        "quality_flags",
    ),
    ["house_id", TS],
    "energy.energy_data_cleaned: one reading a house and interval, double precision.",
)
energy_data_rejected = _table_asset(
    "energy_data_rejected",
    "rejected_readings",
    (*RAW, "reason"),
    None,
    "energy.energy_data_rejected: refused readings as delivered, with the reason.",
)
energy_daily = _table_asset(
    "energy_daily",
    "daily_aggregates",
    None,
    ["house_id", "day"],
    "energy.energy_daily: the daily features, one row per house and day.",
    partition_column="day",
)
household_classes = _table_asset(
    "household_classes",
    "household_classifier",
    None,
    ["house_id", "as_of_day"],
    "energy.household_classes: the predicted profile of every house, per day, with the model.",
    partition_column="as_of_day",
)
energy_anomalies = _table_asset(
    "energy_anomalies",
    "consumption_anomalies",
    None,
    ["house_id", "day"],
    "energy.energy_anomalies: each house-day against its baseline, with the verdict.",
    partition_column="day",
)
