"""Load readings into PostgreSQL through the IO manager's loader and through its peers.

    .venv/bin/python benchmarks/warehouse_load.py --rows 1000000 10000000

For each size, in the same run against the same server (ENERGY_PG_URL, else the embedded one):
  * the loader from Arrow (COPY streams from this process) and from Spark (COPY from the
    executors: a Parquet scan's files read by Python workers, or Spark's rows encoded in the
    JVM when the JVM COPY is built; a computed frame through Arrow and through the JVM), each
    including staging, primary key build and the atomic day swap;
  * server-side ``COPY ... FROM 'file'`` into a table with its primary key, and into a bare
    table followed by ``ADD PRIMARY KEY``;
  * Spark's JDBC writer (what the original project used), default and batched.
Rows are one simulated day of readings, minute by minute across houses, as meters deliver them.
Up to 2M rows every method is timed three times and its median printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

from energy_assets.storage import jvm_copy  # noqa: E402
from energy_assets.storage import warehouse as wh  # noqa: E402
from energy_assets.storage.embedded import password_of, superuser_url  # noqa: E402
from energy_assets.storage.postgres_io import arrow_copy_writer, spark_copy_writer  # noqa: E402

DAY = dt.date(2024, 7, 1)
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
SCHEMA = "bench"
KEY = ("house_id", "simulated_timestamp")


def readings(n: int) -> pa.Table:
    """``n`` readings of one day, ordered by minute then house (as they arrive)."""
    houses = max(1, -(-n // 1440))
    i = np.arange(n)
    minute, house = i // houses, i % houses
    start = np.datetime64(DAY.isoformat(), "us")
    ts = start + minute.astype("timedelta64[m]")
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "ingested_at": pa.array(ts + np.timedelta64(5, "m"), pa.timestamp("us")),
            "simulated_timestamp": pa.array(ts, pa.timestamp("us")),
            "house_id": pa.array([f"H{h:05d}" for h in range(houses)]).take(pa.array(house)),
            "consumption_kwh": np.round(rng.gamma(2, 0.01, n), 4),
            "temperature": np.round(rng.normal(12, 4, n), 1),
            "voltage": np.round(rng.normal(226, 3, n), 1),
        }
    )


def url_of_server() -> str:
    url = os.environ.get("ENERGY_PG_URL")
    if url:
        return url
    from energy_assets.storage.embedded import ensure_embedded_server

    return ensure_embedded_server(
        Path(os.environ.get("ENERGY_HOME", ".energy")).resolve(), "energy"
    )


def columns_sql(table: pa.Table, key: bool) -> sql.Composed:
    # Shaped as the IO manager shapes its tables (types, text collation).
    cols = [wh.column_sql(f.name, wh.pg_type(f.type)) for f in table.schema]
    if key:
        cols.append(sql.SQL("PRIMARY KEY (house_id, simulated_timestamp)"))
    return sql.SQL(", ").join(cols)


def fresh(conn: psycopg.Connection, name: str, table: pa.Table, key: bool) -> sql.Composed:
    ident = sql.Identifier(SCHEMA, name)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, columns_sql(table, key)))
    return ident


#: Sizes up to this are timed three times (the median is kept), every method alike: at 1M rows
#: a load lasts about a second and one sample varies by 10 %.
REPEAT_UP_TO = 2_000_000


def timed(fn, prepare=None, repeats: int = 1) -> float:
    """Median seconds of ``repeats`` runs of ``fn``; ``prepare`` (untimed) runs before each."""
    samples = []
    for _ in range(repeats):
        if prepare is not None:
            prepare()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return sorted(samples)[len(samples) // 2]


def run(size: int, url: str, spark, work: Path) -> list[tuple[str, float]]:
    repeats = 3 if size <= REPEAT_UP_TO else 1

    def timed_here(fn, prepare=None) -> float:
        return timed(fn, prepare, repeats)

    def time_routes(frame, target: wh.TableTarget, routes: list[tuple[str, tuple[str, ...]]]):
        """Seconds of the IO manager's load of ``frame`` by each route alone."""
        for label, only in routes:

            def load(only=only) -> None:
                writer = spark_copy_writer(frame, url, frame.columns, routes=only)
                wh.load_days(url, target, table.schema, [DAY], writer)

            yield label, timed_here(load)

    table = readings(size)
    csv_path = work / f"readings_{size}.csv"
    pacsv.write_csv(table, csv_path, pacsv.WriteOptions(include_header=False))
    os.chmod(work, 0o755)
    os.chmod(csv_path, 0o644)
    parquet_dir = work / f"readings_{size}"
    parquet_dir.mkdir(exist_ok=True)
    pq.write_table(table, parquet_dir / "part-0.parquet", row_group_size=256_000)
    results = []
    with psycopg.connect(url, autocommit=True) as own:  # the pipeline's role owns the schema
        own.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
    # The peers COPY server-side files, which needs the superuser on the embedded server.
    with psycopg.connect(superuser_url(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA, "io_arrow"))
        )
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA, "io_spark"))
        )

        target = wh.TableTarget(SCHEMA, "io_arrow", "simulated_timestamp", KEY)
        secs = timed_here(
            lambda: wh.load_days(url, target, table.schema, [DAY], arrow_copy_writer(table, url))
        )
        results.append(("IO manager, from Arrow (COPY streams, key, swap)", secs))

        scan = spark.read.parquet(str(parquet_dir))
        schema = table.schema
        target = wh.TableTarget(SCHEMA, "io_scan", "simulated_timestamp", KEY)
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA, "io_scan"))
        )
        # Warm the Python workers (imports, first connection) as a run's earlier steps have:
        # one small load through each Spark path, untimed.
        warm = wh.TableTarget(SCHEMA, "warm_up", "simulated_timestamp", KEY)
        for frame in (scan, scan.limit(1000).repartition(2)):
            wh.load_days(url, warm, schema, [DAY], spark_copy_writer(frame, url, schema.names))
        routes = [
            ("read by this process, COPY streams", ("parquet in process",)),
            ("executors read, COPY", ("parquet files",)),
        ]
        if jvm_copy.available(scan):
            routes.append(("read by Spark, JVM COPY", ("jvm",)))
        for label, secs in time_routes(scan, target, routes):
            results.append((f"IO manager, from Spark: Parquet scan ({label})", secs))

        df = spark.read.parquet(str(parquet_dir)).repartition(os.cpu_count() or 2).cache()
        df.count()
        # Warm the Python workers once, as a run's earlier steps have (they are reused).
        df.limit(10).mapInArrow(lambda it: (b.slice(0, 0) for b in it), df.schema).collect()
        target = wh.TableTarget(SCHEMA, "io_spark", "simulated_timestamp", KEY)
        routes = [("via Arrow", ("arrow",))]
        if jvm_copy.available(df):
            routes.append(("JVM COPY", ("jvm",)))
        for label, secs in time_routes(df, target, routes):
            results.append((f"IO manager, from Spark: computed frame ({label})", secs))

        ident = sql.Identifier(SCHEMA, "copy_keyed")
        secs = timed_here(
            lambda: conn.execute(
                sql.SQL("COPY {} FROM {} (FORMAT csv)").format(ident, sql.Literal(str(csv_path)))
            ),
            prepare=lambda: fresh(conn, "copy_keyed", table, key=True),
        )
        results.append(("server COPY FROM file, into keyed table", secs))

        ident = sql.Identifier(SCHEMA, "copy_bare")

        def bare_then_key() -> None:
            conn.execute(
                sql.SQL("COPY {} FROM {} (FORMAT csv)").format(ident, sql.Literal(str(csv_path)))
            )
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (house_id, simulated_timestamp)").format(
                    ident
                )
            )

        results.append(
            (
                "server COPY FROM file, bare then key",
                timed_here(
                    bare_then_key, prepare=lambda: fresh(conn, "copy_bare", table, key=False)
                ),
            )
        )

        if JDBC_JAR.exists():
            info = psycopg.conninfo.conninfo_to_dict(url)
            jdbc = f"jdbc:postgresql://{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{info.get('dbname')}"
            props = {"user": info.get("user", "postgres"), "driver": "org.postgresql.Driver"}
            if password_of(url):
                props["password"] = password_of(url)
            mine = psycopg.connect(url, autocommit=True)
            for label, extra in (
                ("Spark JDBC writer, default", {}),
                (
                    "Spark JDBC writer, batched",
                    {"batchsize": "10000", "reWriteBatchedInserts": "true"},
                ),
            ):
                options = {**props, **extra}
                jdbc_url = jdbc + ("?reWriteBatchedInserts=true" if extra else "")
                secs = timed_here(
                    lambda o=options, u=jdbc_url: df.write.mode("append").jdbc(
                        u, f"{SCHEMA}.jdbc", properties=o
                    ),
                    # Owned by the role the writer connects as (the pipeline's).
                    prepare=lambda: fresh(mine, "jdbc", table, key=True),
                )
                results.append((label, secs))
            mine.close()
        df.unpersist()
    shutil.rmtree(parquet_dir, ignore_errors=True)
    csv_path.unlink()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    from pyspark.sql import SparkSession

    from energy_assets.storage.spark import spark_conf

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for k, v in spark_conf("local[*]", ui=False, driver_memory="4g").items():
        builder = builder.config(k, v)
    jars = jvm_copy.spark_jars() or ([str(JDBC_JAR)] if JDBC_JAR.exists() else [])
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    url = url_of_server()
    work = Path(tempfile.mkdtemp(prefix="energy-bench-"))
    print(f"machine: {os.cpu_count()} cores; PostgreSQL: {wh.redact(url)}")
    try:
        for size in args.rows:
            results = run(size, url, spark, work)
            bare = dict(results)["server COPY FROM file, bare then key"]
            jdbc = [s for label, s in results if label.startswith("Spark JDBC")]
            print(f"\n{size:,} rows")
            print(
                f"| {'method':<52} | {'seconds':>8} | {'rows/s':>10} | {'vs bare+key':>11} | {'vs best JDBC':>12} |"
            )
            print(f"|{'-' * 54}|{'-' * 10}|{'-' * 12}|{'-' * 13}|{'-' * 14}|")
            for label, secs in results:
                vs_jdbc = f"{min(jdbc) / secs:.1f}x" if jdbc else "n/a"
                print(
                    f"| {label:<52} | {secs:>8.2f} | {size / secs:>10,.0f} | {bare / secs:>10.2f}x | {vs_jdbc:>12} |"
                )
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        shutil.rmtree(work, ignore_errors=True)
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
