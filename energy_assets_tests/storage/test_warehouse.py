"""The warehouse loader against a real PostgreSQL: COPY, the atomic day swap, failures."""

import datetime as dt
import threading

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from psycopg import sql

from energy_assets.storage import warehouse as wh
from energy_assets.storage.postgres_io import arrow_copy_writer, read_spark, spark_copy_writer

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)


def readings(days: list[dt.date], houses: int = 3, value: float = 1.0, step: int = 60) -> pa.Table:
    """Readings of the contract's shape: every ``step`` minutes for ``houses`` houses."""
    rows = {"house_id": [], "simulated_timestamp": [], "consumption_kwh": [], "note": []}
    for day in days:
        for h in range(houses):
            for m in range(0, 1440, step):
                rows["house_id"].append(f"H{h:05d}")
                rows["simulated_timestamp"].append(
                    dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=m)
                )
                rows["consumption_kwh"].append(value + m / 1e4)
                rows["note"].append('a "quoted", text' if m == 0 else None)
    return pa.table(
        rows,
        schema=pa.schema(
            [
                ("house_id", pa.string()),
                ("simulated_timestamp", pa.timestamp("us")),
                ("consumption_kwh", pa.float64()),
                ("note", pa.string()),
            ]
        ),
    )


def target(schema: str, table: str = "energy data 'raw'") -> wh.TableTarget:
    return wh.TableTarget(schema, table, "simulated_timestamp", ("house_id", "simulated_timestamp"))


def load(url: str, tgt: wh.TableTarget, table: pa.Table, days: list[dt.date]) -> wh.LoadResult:
    return wh.load_days(url, tgt, table.schema, days, arrow_copy_writer(table, url))


def partitions(url: str, tgt: wh.TableTarget) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(%s) ORDER BY 1",
                (tgt.ident.as_string(conn),),
            )
        ]


def test_arrow_round_trip_with_text_nulls_and_quotes(pg_url, pg_schema):
    tgt = target(pg_schema)
    table = readings([D1])
    result = load(pg_url, tgt, table, [D1])
    assert result.rows_by_day == {D1: table.num_rows}
    back = wh.read_arrow(pg_url, tgt, D1, D2).sort_by(
        [("house_id", "ascending"), ("simulated_timestamp", "ascending")]
    )
    assert back.to_pylist() == table.to_pylist()


def test_multi_day_output_lands_in_one_partition_a_day(pg_url, pg_schema):
    tgt = target(pg_schema)
    result = load(pg_url, tgt, readings([D1, D2, D3]), [D1, D2, D3])
    assert result.rows_by_day == {D1: 72, D2: 72, D3: 72}
    assert partitions(pg_url, tgt) == [tgt.day_table(d) for d in (D1, D2, D3)]


def test_text_columns_compare_byte_wise_in_every_day(pg_url, pg_schema):
    tgt = target(pg_schema)
    load(pg_url, tgt, readings([D1, D2]), [D1, D2])
    with psycopg.connect(pg_url) as conn:
        collations = conn.execute(
            "SELECT DISTINCT c.relname, a.attname, l.collname FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_collation l ON l.oid = a.attcollation"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0"
            " AND a.atttypid = 'text'::regtype",
            (pg_schema,),
        ).fetchall()
    # The table and each day's partition: house_id and note, both in the C collation.
    assert len(collations) == 6 and {c for _, _, c in collations} == {"C"}


def test_reloading_a_day_replaces_it_and_leaves_the_others(pg_url, pg_schema):
    tgt = target(pg_schema)
    load(pg_url, tgt, readings([D1, D2], value=1.0), [D1, D2])
    load(pg_url, tgt, readings([D2], houses=2, value=5.0), [D2])
    day1 = wh.read_arrow(pg_url, tgt, D1, D2)
    day2 = wh.read_arrow(pg_url, tgt, D2, D3)
    assert day1.num_rows == 72 and min(day1["consumption_kwh"].to_pylist()) == 1.0
    assert day2.num_rows == 48 and min(day2["consumption_kwh"].to_pylist()) == 5.0


def test_duplicate_key_fails_and_keeps_the_previous_day(pg_url, pg_schema):
    tgt = target(pg_schema)
    load(pg_url, tgt, readings([D1]), [D1])
    doubled = pa.concat_tables([readings([D1], value=9.0)] * 2)
    with pytest.raises(wh.WarehouseError, match="Duplicate primary key"):
        load(pg_url, tgt, doubled, [D1])
    day1 = wh.read_arrow(pg_url, tgt, D1, D2)
    assert day1.num_rows == 72 and max(day1["consumption_kwh"].to_pylist()) < 9
    with psycopg.connect(pg_url) as conn:  # no staging table left behind
        left = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
            (pg_schema, "%\\_\\_stage\\_%"),
        ).fetchone()[0]
    assert left == 0


def test_killed_connection_mid_copy_keeps_the_previous_day(pg_url, pg_schema):
    tgt = target(pg_schema)
    load(pg_url, tgt, readings([D1]), [D1])
    new = readings([D1], value=7.0)

    def dying_writer(staging) -> int:
        with psycopg.connect(pg_url) as conn:
            pid = conn.info.backend_pid
            with conn.cursor().copy(
                sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(staging)
            ) as copy:
                copy.write(b"H00000,2024-01-01 00:00:00,7.0,\n")
                with psycopg.connect(pg_url, autocommit=True) as killer:
                    killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
                copy.write(b"H00001,2024-01-01 00:00:00,7.0,\n")
        return new.num_rows

    with pytest.raises((psycopg.Error, wh.WarehouseError)):
        wh.load_days(pg_url, tgt, new.schema, [D1], dying_writer)
    day1 = wh.read_arrow(pg_url, tgt, D1, D2)
    assert day1.num_rows == 72 and max(day1["consumption_kwh"].to_pylist()) < 7


@pytest.mark.parametrize("days", [[D1], [D1, D2]])
def test_a_writer_that_commits_twice_keeps_the_previous_days(pg_url, pg_schema, days):
    """A retried Spark task whose first attempt had committed: its rows land twice."""
    tgt = target(pg_schema)
    load(pg_url, tgt, readings(days), days)
    new = readings(days, value=7.0)

    def retried_writer(staging) -> int:
        arrow_copy_writer(new, pg_url)(staging)
        return arrow_copy_writer(new, pg_url)(staging)  # the retry's count only

    with pytest.raises(wh.WarehouseError, match="previous version is kept"):
        wh.load_days(pg_url, tgt, new.schema, days, retried_writer)
    back = wh.read_arrow(pg_url, tgt, D1, D3)
    assert back.num_rows == 72 * len(days) and max(back["consumption_kwh"].to_pylist()) < 7


def test_rows_outside_the_run_days_are_refused(pg_url, pg_schema):
    tgt = target(pg_schema)
    with pytest.raises(wh.WarehouseError, match="outside the days"):
        load(pg_url, tgt, readings([D1, D3]), [D1, D2])
    assert partitions(pg_url, tgt) == []


def test_two_concurrent_loads_of_a_day_leave_one_copy(pg_url, pg_schema):
    tgt = target(pg_schema)
    load(pg_url, tgt, readings([D1]), [D1])
    errors: list[BaseException] = []

    def run(value: float) -> None:
        try:
            load(pg_url, tgt, readings([D1], houses=4, value=value), [D1])
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(v,)) for v in (2.0, 3.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    day1 = wh.read_arrow(pg_url, tgt, D1, D2)
    assert day1.num_rows == 96
    assert len({round(v) for v in day1["consumption_kwh"].to_pylist()}) == 1
    assert partitions(pg_url, tgt) == [tgt.day_table(D1)]


def test_whole_table_replace(pg_url, pg_schema):
    tgt = wh.TableTarget(pg_schema, "houses", None, ("house_id",))
    first = pa.table({"house_id": ["H1", "H2"], "profile": ["low", "high"]})
    wh.load_table(pg_url, tgt, first.schema, arrow_copy_writer(first, pg_url))
    second = pa.table({"house_id": ["H3"], "profile": ["medium"]})
    wh.load_table(pg_url, tgt, second.schema, arrow_copy_writer(second, pg_url))
    assert wh.read_arrow(pg_url, tgt).to_pylist() == [{"house_id": "H3", "profile": "medium"}]


def test_spark_round_trip_from_the_executors(spark, pg_url, pg_schema):
    tgt = target(pg_schema)
    table = readings([D1, D2])
    df = spark.createDataFrame(table.to_pandas()).repartition(3)
    schema = pa.schema(
        [
            f.with_type(pa.timestamp("us")) if f.name == "simulated_timestamp" else f
            for f in table.schema
        ]
    )
    result = wh.load_days(
        pg_url, tgt, schema, [D1, D2], spark_copy_writer(df, pg_url, schema.names)
    )
    assert result.rows == table.num_rows
    back = read_spark(spark, pg_url, tgt, D1, D3)
    assert back.count() == table.num_rows
    assert back.where("note IS NOT NULL").count() == 6


def test_unreachable_server_is_one_sentence():
    with pytest.raises(wh.WarehouseError, match=r"^PostgreSQL at .*:1/nowhere is unreachable"):
        wh.connect("postgresql://nobody:secret@127.0.0.1:1/nowhere")


def test_missing_table_read_says_materialize_first(pg_url, pg_schema):
    with pytest.raises(wh.WarehouseError, match="does not exist: materialize it first"):
        wh.read_arrow(pg_url, target(pg_schema, "never"))


def test_long_names_stay_unique_within_63_bytes():
    a = wh.bounded_name("x" * 70, "_p20240101")
    b = wh.bounded_name("x" * 69 + "y", "_p20240101")
    assert len(a.encode()) <= 63 and len(b.encode()) <= 63 and a != b


def test_binary_copy_round_trips_every_type_with_nulls(pg_url, pg_schema):
    table = pa.table(
        {
            "k": pa.array(["a", "", None, "ñandú ✓", 'q"uote,'], pa.string()),
            "big": pa.array(["x", None, "y", "z", "w"], pa.large_string()),
            "f": pa.array([1.5, float("nan"), None, -0.0, 1e300]),
            "r": pa.array([1.5, None, 2.25, 0.0, -3.0], pa.float32()),
            "i": pa.array([1, None, -3, 2**40, 0], pa.int64()),
            "j": pa.array([1, 2, None, -7, 0], pa.int32()),
            "s": pa.array([1, 2, 3, None, -1], pa.int16()),
            "b": pa.array([True, False, None, True, False]),
            "d": pa.array(
                [
                    dt.date(2024, 1, 1),
                    None,
                    dt.date(1999, 12, 31),
                    dt.date(2000, 1, 1),
                    dt.date(2030, 6, 1),
                ]
            ),
            "ts": pa.array(
                [
                    dt.datetime(2024, 1, 1, 0, 0, 0, 1),
                    None,
                    dt.datetime(1990, 5, 5),
                    dt.datetime(2000, 1, 1),
                    dt.datetime(2025, 12, 31, 23, 59),
                ],
                pa.timestamp("ns"),
            ),
        }
    )
    tgt = wh.TableTarget(pg_schema, "types")
    wh.load_table(pg_url, tgt, table.schema, arrow_copy_writer(table, pg_url))
    back = wh.read_arrow(pg_url, tgt)
    expected = table.to_pylist()
    got = back.to_pylist()
    assert len(got) == len(expected)
    by_key = {str(r["k"]): r for r in got}
    for row in expected:
        other = by_key[str(row["k"])]
        for name, value in row.items():
            if isinstance(value, float) and value != value:
                assert other[name] != other[name]
            elif name == "ts" and value is not None:
                assert other[name] == value.replace(tzinfo=None)
            else:
                assert other[name] == value, name


def test_binary_copy_with_many_nullable_columns(pg_url, pg_schema):
    cols = {
        f"c{i}": pa.array([None if (r + i) % 3 == 0 else float(r * i) for r in range(50)])
        for i in range(70)
    }
    cols["name"] = pa.array([f"row {r}" * (r % 4) for r in range(50)])
    table = pa.table(cols)
    tgt = wh.TableTarget(pg_schema, "wide")
    wh.load_table(pg_url, tgt, table.schema, arrow_copy_writer(table, pg_url))
    back = wh.read_arrow(pg_url, tgt).sort_by("c1")
    assert back.num_rows == 50
    assert sorted(back.to_pylist(), key=lambda r: r["name"] + str(r["c1"])) == sorted(
        table.to_pylist(), key=lambda r: r["name"] + str(r["c1"])
    )


def test_spark_parquet_scan_is_copied_from_the_files(spark, pg_url, pg_schema, tmp_path):
    from energy_assets.storage.postgres_io import parquet_scan_files

    table = readings([D1], houses=5)
    folder = tmp_path / "scan" / "day=2024-01-01"
    folder.mkdir(parents=True)
    import pyarrow.parquet as pq

    pq.write_table(table.slice(0, 50), folder / "a.parquet", row_group_size=20)
    pq.write_table(table.slice(50), folder / "b.parquet", row_group_size=20)
    df = spark.read.option("basePath", str(tmp_path / "scan")).parquet(str(folder))
    cols = table.column_names
    assert parquet_scan_files(df.select(*cols), cols) is not None
    assert parquet_scan_files(df.where("consumption_kwh > 1"), cols) is None
    tgt = target(pg_schema)
    schema = pa.schema([table.schema.field(c) for c in cols])
    # A small scan is read by this process; a large one (forced here) by the executors.
    for route in ("parquet in process", "parquet files"):
        writer = spark_copy_writer(df.select(*cols), pg_url, cols, routes=(route,))
        assert wh.load_days(pg_url, tgt, schema, [D1], writer).rows == table.num_rows
        assert writer.route == route
        back = wh.read_arrow(pg_url, tgt).sort_by(
            [("house_id", "ascending"), ("simulated_timestamp", "ascending")]
        )
        assert back.to_pylist() == table.to_pylist()
    assert spark_copy_writer(df.select(*cols), pg_url, cols).route is None  # chosen when written


def test_a_local_day_partition_spans_its_23_or_25_hours(pg_url, pg_schema):
    """Santiago's 6 April 2024 is 25 hours long: one partition holds all of it, by UTC bounds."""
    tgt = wh.TableTarget(
        pg_schema,
        "local",
        "simulated_timestamp",
        ("house_id", "simulated_timestamp"),
        timezone="America/Santiago",
    )
    apr6 = dt.date(2024, 4, 6)
    start = dt.datetime(2024, 4, 6, 3)  # local midnight at UTC-3
    hours = [start + dt.timedelta(hours=k) for k in range(25)]
    table = pa.table(
        {"house_id": [f"H{k:02d}" for k in range(25)], "simulated_timestamp": hours},
        schema=pa.schema([("house_id", pa.string()), ("simulated_timestamp", pa.timestamp("us"))]),
    )
    assert load(pg_url, tgt, table, [apr6]).rows_by_day == {apr6: 25}
    assert wh.rows_per_day(pg_url, tgt, [apr6]) == {apr6: 25}
    assert wh.read_arrow(pg_url, tgt, apr6, apr6 + dt.timedelta(days=1)).num_rows == 25
    with psycopg.connect(pg_url) as conn:
        comment = conn.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class')", (tgt.ident.as_string(conn),)
        ).fetchone()[0]
    assert "local days of America/Santiago" in comment and "UTC" in comment
    # A reading of 7 April (04:00 UTC is 00:00 local, UTC-4) is refused by the 6th's partition.
    late = table.slice(0, 1).set_column(
        1, "simulated_timestamp", pa.array([dt.datetime(2024, 4, 7, 4)], pa.timestamp("us"))
    )
    with pytest.raises(wh.WarehouseError, match="Rows outside the days"):
        load(pg_url, tgt, late, [apr6])


def test_days_of_another_time_zone_are_refused(pg_url, pg_schema):
    santiago = wh.TableTarget(
        pg_schema, "zoned", "simulated_timestamp", timezone="America/Santiago"
    )
    table = readings([D1]).drop_columns(["note"])
    shifted = table.set_column(
        1,
        "simulated_timestamp",
        # Santiago keeps UTC-3 in January: its 1 January starts at 03:00 UTC.
        pc.add(table["simulated_timestamp"], pa.scalar(dt.timedelta(hours=3))),
    )
    load(pg_url, santiago, shifted, [D1])
    london = wh.TableTarget(pg_schema, "zoned", "simulated_timestamp", timezone="Europe/London")
    with pytest.raises(wh.WarehouseError, match="local days of America/Santiago.*ENERGY_PG_SCHEMA"):
        load(pg_url, london, table, [D1])
    assert wh.rows_per_day(pg_url, santiago, [D1]) == {D1: 72}


def test_a_column_the_asset_gains_is_added_and_other_changes_are_refused(pg_url, pg_schema):
    tgt = target(pg_schema, "grows")
    load(pg_url, tgt, readings([D1]), [D1])
    more = readings([D2]).append_column("reason", pa.array(["ok"] * 72))
    load(pg_url, tgt, more, [D2])
    rows = wh.read_arrow(pg_url, tgt).to_pandas()
    assert rows[rows.simulated_timestamp.dt.date == D1].reason.isna().all()
    assert (rows[rows.simulated_timestamp.dt.date == D2].reason == "ok").all()
    fewer = readings([D3]).drop_columns(["note"])
    with pytest.raises(wh.WarehouseError, match="drop the table or migrate it"):
        load(pg_url, tgt, fewer, [D3])
