"""Both IO managers inside real Dagster runs: split by day, ranges, replacement, clear errors."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from dagster import AssetIn, asset
from pyspark.sql import DataFrame

from energy_assets.calendar import local_day
from energy_assets.partitions import simulated_days, single_run
from energy_assets.storage import warehouse as wh
from energy_assets.storage.parquet_io import ParquetStoreError, claim_time_zone, local_dates
from energy_assets_tests.helpers import materialize_range, project_resources

META = {"partition_expr": "simulated_timestamp"}


def frame_for(keys: list[str], value: float) -> pd.DataFrame:
    rows = []
    for key in keys:
        # A partition is a local day: its readings start at local midnight, in UTC.
        day = local_day(dt.date.fromisoformat(key), simulated_days.timezone).start
        for h in range(2):
            for hour in range(24):
                rows.append(
                    {
                        "house_id": f"H{h}",
                        "simulated_timestamp": day + dt.timedelta(hours=hour),
                        "consumption_kwh": value,
                    }
                )
    return pd.DataFrame(rows)


VALUE = {"v": 1.0}


@asset(
    partitions_def=simulated_days,
    backfill_policy=single_run,
    io_manager_key="parquet_io_manager",
    metadata=META,
)
def readings(context) -> pd.DataFrame:
    return frame_for(context.partition_keys, VALUE["v"])


@asset(
    partitions_def=simulated_days,
    backfill_policy=single_run,
    io_manager_key="parquet_io_manager",
    metadata=META,
)
def doubled(readings: DataFrame) -> DataFrame:
    return readings.withColumn("consumption_kwh", readings.consumption_kwh * 2)


@asset(
    partitions_def=simulated_days,
    backfill_policy=single_run,
    io_manager_key="warehouse_io_manager",
    metadata={**META, "primary_key": ["house_id", "simulated_timestamp"]},
    ins={"doubled": AssetIn("doubled")},
)
def doubled_table(doubled: DataFrame) -> DataFrame:
    return doubled.drop("day")


@asset(
    partitions_def=simulated_days,
    backfill_policy=single_run,
    io_manager_key="parquet_io_manager",
    metadata=META,
)
def from_table(doubled_table: pd.DataFrame) -> pd.DataFrame:
    return doubled_table


@asset(
    partitions_def=simulated_days,
    backfill_policy=single_run,
    io_manager_key="parquet_io_manager",
    metadata=META,
)
def as_arrow(readings: pa.Table) -> pa.Table:
    return readings


ALL = [readings, doubled, doubled_table, from_table, as_arrow]


def day_values(lake: Path, name: str, day: str) -> set[float]:
    files = sorted((lake / name / f"day={day}").glob("*.parquet"))
    return set(pd.concat(pd.read_parquet(f) for f in files)["consumption_kwh"])


def test_range_run_splits_by_day_and_round_trips(lake_dir, pg_url, pg_schema):
    resources = project_resources(lake_dir, pg_url, pg_schema)
    result = materialize_range(ALL, resources, "2024-01-01", "2024-01-03")
    assert result.success
    for name in ("readings", "doubled", "from_table", "as_arrow"):
        days = sorted(p.name for p in (lake_dir / name).glob("day=*"))
        assert days == ["day=2024-01-01", "day=2024-01-02", "day=2024-01-03"], name
    assert day_values(lake_dir, "doubled", "2024-01-02") == {2.0}
    assert day_values(lake_dir, "from_table", "2024-01-03") == {2.0}
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    meta = mats["readings"].materialization.metadata
    assert meta["dagster/row_count"].value == 3 * 48
    assert [c.name for c in meta["dagster/column_schema"].schema.columns] == [
        "house_id",
        "simulated_timestamp",
        "consumption_kwh",
    ]
    table = wh.TableTarget(
        pg_schema, "doubled_table", "simulated_timestamp", timezone=simulated_days.timezone
    )
    assert wh.read_arrow(pg_url, table).num_rows == 3 * 48
    # A small Parquet scan is loaded by the Dagster process itself; the metadata says so.
    route = mats["doubled_table"].materialization.metadata["copy_route"]
    assert route.value == "parquet in process"


def test_rematerializing_a_day_replaces_only_that_day(lake_dir, pg_url, pg_schema):
    resources = project_resources(lake_dir, pg_url, pg_schema)
    assert materialize_range(ALL, resources, "2024-01-01", "2024-01-02").success
    VALUE["v"] = 5.0
    try:
        assert materialize_range(ALL, resources, "2024-01-02", "2024-01-02").success
    finally:
        VALUE["v"] = 1.0
    assert day_values(lake_dir, "readings", "2024-01-01") == {1.0}
    assert day_values(lake_dir, "readings", "2024-01-02") == {5.0}
    table = wh.TableTarget(
        pg_schema, "doubled_table", "simulated_timestamp", timezone=simulated_days.timezone
    )
    day1 = wh.read_arrow(pg_url, table, dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    day2 = wh.read_arrow(pg_url, table, dt.date(2024, 1, 2), dt.date(2024, 1, 3))
    assert set(day1["consumption_kwh"].to_pylist()) == {2.0}
    assert set(day2["consumption_kwh"].to_pylist()) == {10.0}
    assert day2.num_rows == 48


def test_the_driver_reads_published_days_as_arrow(lake_dir, pg_url, pg_schema):
    """What benchmarks and evaluations read without Spark: each published day's current version
    (not the one it replaced), with its day; days never published are left out."""
    from dagster import AssetKey

    resources = project_resources(lake_dir, pg_url, pg_schema)
    assert materialize_range(
        ALL, resources, "2024-01-01", "2024-01-02", selection=[readings]
    ).success
    VALUE["v"] = 5.0
    try:
        assert materialize_range(
            ALL, resources, "2024-01-02", "2024-01-02", selection=[readings]
        ).success
    finally:
        VALUE["v"] = 1.0
    store = resources["parquet_io_manager"]
    days = [dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    table = store.read_arrow_days(AssetKey("readings"), days).to_pandas()
    assert table.groupby("day")["consumption_kwh"].agg(set).to_dict() == {
        days[0]: {1.0},
        days[1]: {5.0},
    }
    assert len(table) == 2 * 48
    with pytest.raises(ParquetStoreError, match="has published none of the 1 days"):
        store.read_arrow_days(AssetKey("readings"), days[2:])


def test_missing_upstream_day_names_it(lake_dir, pg_url, pg_schema):
    resources = project_resources(lake_dir, pg_url, pg_schema)
    assert materialize_range(
        ALL, resources, "2024-01-01", "2024-01-01", selection=[readings]
    ).success
    with pytest.raises(
        ParquetStoreError, match=r"Asset readings has no day 2024-01-02 at .*materialize it first"
    ):
        materialize_range(ALL, resources, "2024-01-01", "2024-01-02", selection=[doubled])


def test_corrupt_file_fails_with_its_name_and_writes_nothing(lake_dir, pg_url, pg_schema):
    resources = project_resources(lake_dir, pg_url, pg_schema)
    assert materialize_range(
        ALL, resources, "2024-01-01", "2024-01-01", selection=[readings]
    ).success
    victim = next((lake_dir / "readings" / "day=2024-01-01").glob("*.parquet"))
    victim.write_bytes(b"not parquet at all")
    with pytest.raises(ParquetStoreError, match=f"Parquet file {victim.resolve()} is corrupt"):
        materialize_range(ALL, resources, "2024-01-01", "2024-01-01", selection=[doubled])
    assert not (lake_dir / "doubled").exists()


def test_days_of_another_time_zone_are_refused(tmp_path):
    """An asset's folder keeps the time zone its days are local to; another one is refused."""
    asset_dir = tmp_path / "readings"
    claim_time_zone(asset_dir, "America/Santiago")
    claim_time_zone(asset_dir, "America/Santiago")
    with pytest.raises(ParquetStoreError, match="local days of America/Santiago.*ENERGY_DATA_DIR"):
        claim_time_zone(asset_dir, "Europe/London")
    # Day folders from before days were local were UTC days.
    legacy = tmp_path / "legacy"
    (legacy / "day=2024-01-01").mkdir(parents=True)
    with pytest.raises(ParquetStoreError, match="UTC days"):
        claim_time_zone(legacy, "America/Santiago")


def test_a_timestamp_splits_into_its_local_day():
    table = pa.table(
        {"simulated_timestamp": pa.array([dt.datetime(2024, 4, 7, 3, 30)], pa.timestamp("us"))}
    )
    assert local_dates(table["simulated_timestamp"], "America/Santiago").to_pylist() == [
        dt.date(2024, 4, 6)
    ]


def test_checks_ask_the_io_managers_where_an_asset_lives(lake_dir, pg_url):
    """A table override, a schema override and a key prefix are where the checks look."""
    from dagster import AssetKey

    from energy_assets.storage.postgres_io import PostgresIOManager

    resources = project_resources(lake_dir, pg_url, "energy")
    pg: PostgresIOManager = resources["warehouse_io_manager"]
    meta = {"table": "daily_v2", "schema": "analytics", "partition_expr": "day"}
    target = pg.table_of(AssetKey(["warehouse", "energy_daily"]), meta, simulated_days)
    assert (target.schema, target.table, target.partition_column) == (
        "analytics",
        "daily_v2",
        "day",
    )
    assert target.timezone == simulated_days.timezone
    assert pg.table_of(AssetKey(["warehouse", "houses"]), {}).partition_column is None
    parquet = resources["parquet_io_manager"]
    assert parquet.asset_dir(AssetKey(["lab", "readings"]).path) == lake_dir / "lab" / "readings"


def test_a_read_takes_the_schema_spark_would_infer_from_the_footer(spark, tmp_path):
    """Reads give Spark the first file's schema (no inference job): the same types and
    nullability as Spark's own inference, for files Spark wrote and files pyarrow wrote."""
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from energy_assets.storage.parquet_io import spark_file_schema, spark_read

    by_spark = tmp_path / "by_spark"
    spark.range(3).select(
        F.col("id").cast("string").alias("house_id"),
        F.timestamp_seconds(F.col("id")).cast("timestamp_ntz").alias("simulated_timestamp"),
        F.current_date().alias("day"),
        (F.col("id") * 0.5).alias("consumption_kwh"),
        F.lit("estimated").alias("quality_flags"),  # not nullable in the frame that wrote it
        (F.col("id") > 1).alias("is_estimated"),
    ).coalesce(1).write.parquet(str(by_spark))
    by_arrow = tmp_path / "by_arrow.parquet"
    pq.write_table(
        pa.table(
            {
                "house_id": pa.array(["H1", None]),
                "simulated_timestamp": pa.array([0, 60], pa.timestamp("us")),
                "at_utc": pa.array([0, 60], pa.timestamp("us", tz="UTC")),
                "day": pa.array([0, 1], pa.date32()),
                "n": pa.array([1, 2], pa.int64()),
            }
        ),
        by_arrow,
    )
    for file in [*sorted(by_spark.glob("*.parquet")), by_arrow]:
        inferred = spark.read.parquet(str(file))
        assert spark_file_schema(file) == inferred.schema
        read = spark_read(spark, [file])
        assert read.schema == inferred.schema
        assert sorted(map(str, read.collect())) == sorted(map(str, inferred.collect()))


def test_a_days_read_takes_each_files_day_from_its_folder(spark, tmp_path):
    """A read of published days carries each file's day as Spark's partition value (a filter on
    it prunes files, no expression a row), also where one day is still in the folder layout of
    an earlier version of the store."""
    import shutil

    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType

    from energy_assets.storage.folders import resolve
    from energy_assets.storage.parquet_io import day_dir, spark_read_days, write_spark_days

    days = [dt.date(2024, 3, 9), dt.date(2024, 3, 10), dt.date(2024, 3, 11)]
    frame = spark.createDataFrame(
        [(f"H{h}", d, float(h + k)) for k, d in enumerate(days) for h in range(3)],
        "house_id string, day date, consumption_kwh double",
    )
    asset_dir = tmp_path / "readings"
    write_spark_days(frame, asset_dir, days, None)
    # The last day as an earlier version of the store left it: a plain folder, not a link.
    legacy = day_dir(asset_dir, days[-1])
    version = resolve(legacy)
    legacy.unlink()
    shutil.copytree(version, legacy)

    read = spark_read_days(spark, asset_dir, days)
    assert read.schema["day"].dataType == DateType()
    assert sorted(map(tuple, read.select("house_id", "day", "consumption_kwh").collect())) == (
        sorted(map(tuple, frame.collect()))
    )
    one_day = spark_read_days(spark, asset_dir, days[:2]).where(F.col("day") == days[1])
    plan = one_day._jdf.queryExecution().executedPlan().toString()
    assert "PartitionFilters: [isnotnull(day" in plan, plan
    assert "file_path" not in plan, plan
    assert one_day.count() == 3


def test_an_input_asks_for_spark_by_its_class():
    """Both IO managers read Spark for a Spark frame's class, classic or Connect, and Arrow or
    pandas otherwise; a class merely from a pyspark module is not a frame."""
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql.classic.dataframe import DataFrame as ClassicFrame
    from pyspark.sql.connect.dataframe import DataFrame as ConnectFrame
    from pyspark.sql.types import StructType

    from energy_assets.storage.parquet_io import wants_spark

    assert all(wants_spark(t) for t in (SparkFrame, ClassicFrame, ConnectFrame))
    assert not any(wants_spark(t) for t in (pa.Table, pd.DataFrame, StructType, None, "DataFrame"))
