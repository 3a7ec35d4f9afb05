"""Failure drills: the database stops mid-load, a Spark job dies mid-write. Each time the
previous version of the day stays whole and visible, and the retried run equals a clean one."""

import datetime as dt
import threading
import time

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.dataset as ds
from dagster import Config, DagsterInstance, Output, asset, materialize
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from energy_assets.calendar import local_day
from energy_assets.partitions import simulated_days
from energy_assets.storage import warehouse as wh
from energy_assets.storage.embedded import ensure_embedded_server, stop_embedded_server
from energy_assets.storage.spark import SparkResource
from energy_assets_tests.helpers import project_resources

DAY = "2024-05-01"
#: The drill day's first instant: a partition is a local day, its timestamps UTC.
DAY_START = local_day(dt.date.fromisoformat(DAY), simulated_days.timezone).start
SCHEMA = "drills"


class Version(Config):
    """Which version of the day an asset writes, and whether it dies half-way."""

    value: float = 1.0
    rows: int = 2_000
    fail: bool = False


#: A day-partitioned PostgreSQL table of readings with the cleaned table's key.
KEYED_READINGS = {
    "partition_expr": "simulated_timestamp",
    "primary_key": ["house_id", "simulated_timestamp"],
}


@asset(
    partitions_def=simulated_days,
    io_manager_key="warehouse_io_manager",
    metadata=KEYED_READINGS,
)
def drill_readings(config: Version) -> pa.Table:
    """A day of readings from Arrow: ``rows`` readings of ``value`` kWh."""
    n = config.rows
    start = np.datetime64(DAY_START, "us")
    return pa.table(
        {
            "house_id": pa.array(np.char.add("H", (np.arange(n) % 10_000).astype(str))),
            "simulated_timestamp": pa.array(start + (np.arange(n) // 10_000) * 60_000_000),
            "consumption_kwh": np.full(n, config.value),
        }
    )


def spark_day(spark, config: Version) -> DataFrame:
    """A day of readings from Spark; with ``fail`` one task raises after others have written."""
    df = spark.range(0, config.rows, numPartitions=4).select(
        F.concat(F.lit("H"), (F.col("id") % 10_000).cast("string")).alias("house_id"),
        (F.lit(DAY_START) + F.make_interval(mins=(F.col("id") / 10_000).cast("int")))
        .cast("timestamp_ntz")
        .alias("simulated_timestamp"),
        F.lit(config.value).alias("consumption_kwh"),
        F.col("id"),
    )
    if config.fail:
        last = config.rows - 1
        df = df.withColumn(
            "consumption_kwh",
            F.when(F.col("id") == last, F.raise_error(F.lit("drill: the executor died"))).otherwise(
                F.col("consumption_kwh")
            ),
        )
    return df.drop("id")


@asset(
    partitions_def=simulated_days,
    io_manager_key="parquet_io_manager",
    metadata={"partition_expr": "simulated_timestamp"},
)
def drill_lake(config: Version, spark: SparkResource) -> DataFrame:
    """A Spark day written to Parquet."""
    return spark_day(spark.session, config)


@asset(
    partitions_def=simulated_days,
    io_manager_key="warehouse_io_manager",
    metadata=KEYED_READINGS,
)
def drill_spark_table(config: Version, spark: SparkResource):
    """A Spark day loaded into PostgreSQL by the executors."""
    yield Output(spark_day(spark.session, config))


def run(assets, resources, config: Version, name: str, instance=None):
    return materialize(
        assets,
        resources=resources,
        partition_key=DAY,
        run_config={"ops": {name: {"config": config.model_dump()}}},
        raise_on_error=False,
        instance=instance,
    )


def day_rows(url: str, table: str, schema: str = SCHEMA) -> tuple[int, float | None]:
    """Rows of a drill table and its largest value (which version of the day it holds)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            psycopg.sql.SQL("SELECT count(*), max(consumption_kwh) FROM {}").format(
                psycopg.sql.Identifier(schema, table)
            )
        ).fetchone()


def test_postgres_stops_in_the_middle_of_a_load(tmp_path):
    """The server goes down during the COPY: the old day survives; the retry succeeds."""
    home = tmp_path / "drill-home"
    url = ensure_embedded_server(home, "drill")
    lake = tmp_path / "data"
    try:
        with DagsterInstance.ephemeral() as instance:
            first = run(
                [drill_readings],
                project_resources(lake, url, SCHEMA),
                Version(value=1.0),
                "drill_readings",
                instance,
            )
            assert first.success
            assert day_rows(url, "drill_readings") == (2_000, 1.0)

            def stop_when_copying():
                deadline = time.time() + 120
                with psycopg.connect(url, autocommit=True) as watch:
                    while time.time() < deadline:
                        copying = watch.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY%%'"
                        ).fetchone()[0]
                        if copying:
                            break
                        time.sleep(0.02)
                stop_embedded_server(home)

            killer = threading.Thread(target=stop_when_copying)
            killer.start()
            broken = run(
                [drill_readings],
                project_resources(lake, url, SCHEMA),
                Version(value=2.0, rows=3_000_000),
                "drill_readings",
                instance,
            )
            killer.join()
            assert not broken.success
            failure = broken.get_step_failure_events()[0].event_specific_data.error
            assert "connection" in str(failure.cause or failure)  # the server went away

        url = ensure_embedded_server(home, "drill")  # back up (perhaps on another port)
        assert day_rows(url, "drill_readings") == (2_000, 1.0)

        retried = run(
            [drill_readings],
            project_resources(lake, url, SCHEMA),
            Version(value=2.0, rows=3_000_000),
            "drill_readings",
        )
        assert retried.success
        assert day_rows(url, "drill_readings") == (3_000_000, 2.0)
        assert (
            wh.read_arrow(
                url, wh.TableTarget(SCHEMA, "drill_readings", "simulated_timestamp")
            ).num_rows
            == 3_000_000
        )
    finally:
        stop_embedded_server(home)


def test_a_spark_job_dies_in_the_middle_of_a_write(spark, tmp_path, pg_url, pg_schema):
    """A task fails after others have written: no partial day in Parquet or PostgreSQL."""
    lake = tmp_path / "data"
    resources = project_resources(lake, pg_url, pg_schema)
    day_dir = lake / "drill_lake" / f"day={DAY}"
    rows = 200_000

    clean = [
        run([a], resources, Version(value=1.0, rows=rows), a.key.path[-1])
        for a in (drill_lake, drill_spark_table)
    ]
    assert all(r.success for r in clean)
    before = (
        ds.dataset(str(day_dir))
        .to_table()
        .sort_by([("house_id", "ascending"), ("simulated_timestamp", "ascending")])
    )
    assert before.num_rows == rows

    for a in (drill_lake, drill_spark_table):
        died = run([a], resources, Version(value=2.0, rows=rows, fail=True), a.key.path[-1])
        assert not died.success
        assert "the executor died" in str(
            died.get_step_failure_events()[0].event_specific_data.error.cause
            or died.get_step_failure_events()[0].event_specific_data.error
        )

    # Parquet: the previous day, whole, and no staging left beside it.
    after = (
        ds.dataset(str(day_dir))
        .to_table()
        .sort_by([("house_id", "ascending"), ("simulated_timestamp", "ascending")])
    )
    assert after.equals(before)
    # The day, the time zone record, and the versions and locks behind the day: no staging left.
    names = sorted(p.name for p in (lake / "drill_lake").iterdir())
    assert names == [".locks", ".versions", "_timezone", f"day={DAY}"]
    # PostgreSQL: the previous day, whole.
    assert day_rows(pg_url, "drill_spark_table", pg_schema) == (rows, 1.0)

    # The retried runs equal a clean run of the new version.
    for a in (drill_lake, drill_spark_table):
        assert run([a], resources, Version(value=2.0, rows=rows), a.key.path[-1]).success
    again = ds.dataset(str(day_dir)).to_table()
    assert again.num_rows == rows and pa.compute.max(again["consumption_kwh"]).as_py() == 2.0
    assert day_rows(pg_url, "drill_spark_table", pg_schema) == (rows, 2.0)
