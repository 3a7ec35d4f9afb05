"""The JVM COPY of computed Spark frames against a real PostgreSQL and a real Spark."""

import datetime as dt
import os

import pyarrow as pa
import pytest

from energy_assets.storage import jvm_copy
from energy_assets.storage import warehouse as wh
from energy_assets.storage.postgres_io import arrow_copy_writer, spark_copy_writer

D1 = dt.date(2024, 1, 1)

#: Every type the JVM encodes, with NULLs, empty and multi-byte text, NaN, -0.0, extremes,
#: dates and timestamps before PostgreSQL's epoch (2000-01-01) and on the microsecond.
ROWS = pa.table(
    {
        "k": pa.array(["a", "", None, "ñandú ✓", 'q"uote,\nline', "z" * 70_000]),
        "f": pa.array([1.5, float("nan"), None, -0.0, 1e300, -2.5]),
        "r": pa.array([1.5, None, 2.25, 0.0, -3.0, 3.4e38], pa.float32()),
        "i": pa.array([1, None, -3, 2**40, 0, -(2**63)], pa.int64()),
        "j": pa.array([1, 2, None, -7, 0, 2**31 - 1], pa.int32()),
        "s": pa.array([1, 2, 3, None, -1, -(2**15)], pa.int16()),
        "b": pa.array([True, False, None, True, False, True]),
        "d": pa.array(
            [dt.date(2024, 1, 1), None, dt.date(1999, 12, 31), dt.date(2000, 1, 1)]
            + [dt.date(1970, 1, 1), dt.date(1969, 7, 20)]
        ),
        "ts": pa.array(
            [
                dt.datetime(2024, 1, 1, 0, 0, 0, 1),
                None,
                dt.datetime(1990, 5, 5, 12, 0, 0, 999_999),
                dt.datetime(2000, 1, 1),
                dt.datetime(2025, 12, 31, 23, 59),
                dt.datetime(1969, 12, 31, 23, 59, 59, 500_000),
            ],
            pa.timestamp("us", tz="UTC"),
        ),
    }
)


@pytest.fixture(scope="module")
def jvm_session(spark):
    """The test session, which must carry the JVM COPY in CI (``.ci/run`` installs the
    driver and ``make install`` compiles the class); elsewhere its tests skip without it."""
    if not jvm_copy.available(spark.range(1)):
        if os.environ.get("CI") == "true":
            pytest.fail("CI's Spark session has no JVM COPY: was the JDBC driver installed?")
        pytest.skip("no JVM COPY here: needs PostgreSQL's JDBC driver and a JDK at install")
    return spark


def as_rows(table: pa.Table) -> list[dict]:
    """Rows sorted by their text, NaN made comparable."""
    rows = table.to_pylist()
    for row in rows:
        for name, value in row.items():
            if isinstance(value, float) and value != value:
                row[name] = "NaN"
            elif isinstance(value, dt.datetime):
                row[name] = value.replace(tzinfo=None)
    return sorted(rows, key=repr)


def test_a_computed_frame_is_copied_by_the_jvm_as_the_arrow_path_copies_it(
    jvm_session, pg_url, pg_schema
):
    frame = jvm_session.createDataFrame(ROWS).repartition(3)  # from Arrow: NaN stays NaN
    writer = spark_copy_writer(frame, pg_url, ROWS.column_names)
    by_jvm = wh.TableTarget(pg_schema, "by_jvm")
    assert wh.load_table(pg_url, by_jvm, ROWS.schema, writer).rows == ROWS.num_rows
    assert writer.route == "jvm"
    by_arrow = wh.TableTarget(pg_schema, "by_arrow")
    wh.load_table(pg_url, by_arrow, ROWS.schema, arrow_copy_writer(ROWS, pg_url))
    jvm_rows = as_rows(wh.read_arrow(pg_url, by_jvm))
    assert jvm_rows == as_rows(wh.read_arrow(pg_url, by_arrow))
    assert jvm_rows == as_rows(ROWS)


def test_a_day_of_readings_from_the_jvm_is_swapped_in_like_any_other(
    jvm_session, pg_url, pg_schema
):
    from pyspark.sql import functions as F

    frame = (
        jvm_session.range(0, 3 * 1440, 1, 4)
        .select(
            F.format_string("H%05d", (F.col("id") % 3).cast("int")).alias("house_id"),
            (
                F.lit("2024-01-01").cast("timestamp")
                + F.make_interval(mins=(F.col("id") / 3).cast("int"))
            ).alias("simulated_timestamp"),
            (F.col("id") / 1000).alias("consumption_kwh"),
        )
        .where("id % 5 != 0")
    )
    columns = ["house_id", "simulated_timestamp", "consumption_kwh"]
    schema = pa.schema(
        [("house_id", pa.string()), ("simulated_timestamp", pa.timestamp("us", tz="UTC"))]
        + [("consumption_kwh", pa.float64())]
    )
    tgt = wh.TableTarget(
        pg_schema, "readings", "simulated_timestamp", ("house_id", "simulated_timestamp")
    )
    writer = spark_copy_writer(frame, pg_url, columns, schema)
    result = wh.load_days(pg_url, tgt, schema, [D1], writer)
    assert writer.route == "jvm"
    assert result.rows_by_day == {D1: frame.count()} == wh.rows_per_day(pg_url, tgt, [D1])
    # A reading of the next day is refused by the day's partition, as on the Arrow path.
    late = frame.withColumn(
        "simulated_timestamp", F.col("simulated_timestamp") + F.expr("INTERVAL 1 DAY")
    )
    with pytest.raises(wh.WarehouseError, match="Rows outside the days"):
        wh.load_days(pg_url, tgt, schema, [D1], spark_copy_writer(late, pg_url, columns, schema))
    assert wh.rows_per_day(pg_url, tgt, [D1]) == {D1: frame.count()}


def test_columns_of_other_types_than_the_table_take_the_arrow_path(spark, pg_url, pg_schema):
    # With or without the JVM COPY: the Arrow path casts the frame to the table's types.
    frame = spark.createDataFrame([("a", 1.5)], "k string, v float")
    # The table keeps v as double precision: the JVM would send a real, which COPY refuses.
    schema = pa.schema([("k", pa.string()), ("v", pa.float64())])
    writer = spark_copy_writer(frame, pg_url, ["k", "v"], schema)
    assert wh.load_table(pg_url, wh.TableTarget(pg_schema, "mixed"), schema, writer).rows == 1
    assert writer.route == "arrow"


def test_the_endpoint_of_a_connection_names_its_server_without_the_url_text(pg_url):
    with wh.connect(pg_url) as conn:
        endpoint = jvm_copy.endpoint_of(conn)
        host, port, user = conn.info.host, conn.info.port, conn.info.user
    assert endpoint is not None
    assert endpoint.jdbc_url.startswith(f"jdbc:postgresql://{host}:{port}/")
    assert endpoint.user == user
    assert "password" not in endpoint.jdbc_url


def test_a_session_without_the_class_takes_the_arrow_path(spark):
    # py4j names an unknown class a package: that is "not available", not an error.
    assert not jvm_copy.available(spark.range(1), "energy_assets.NoSuchCopy")


def test_a_large_parquet_scan_is_copied_by_the_jvm(
    jvm_session, pg_url, pg_schema, tmp_path, monkeypatch
):
    """A scan too large for this process goes through the JVM's reader and COPY, not through
    Python workers; a small one is still read here."""
    import pyarrow.parquet as pq

    from energy_assets.storage import postgres_io

    table = ROWS.select(["k", "f", "i", "b", "ts"])
    folder = tmp_path / "scan"
    folder.mkdir()
    pq.write_table(table.slice(0, 3), folder / "a.parquet", row_group_size=2)
    pq.write_table(table.slice(3), folder / "b.parquet", row_group_size=2)
    scan = jvm_session.read.parquet(str(folder))
    cols = table.column_names
    for rows_in_process, route in ((table.num_rows, "parquet in process"), (2, "jvm")):
        monkeypatch.setattr(postgres_io, "IN_PROCESS_ROWS", rows_in_process)
        writer = spark_copy_writer(scan, pg_url, cols, table.schema)
        tgt = wh.TableTarget(pg_schema, f"scan_{route.split()[0]}")
        assert wh.load_table(pg_url, tgt, table.schema, writer).rows == table.num_rows
        assert writer.route == route
        assert as_rows(wh.read_arrow(pg_url, tgt)) == as_rows(table)
