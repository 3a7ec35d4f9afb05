"""The whole pipeline at a size you choose, stage by stage, beside its peers in the same run.

    make bench                                   # 1,000 houses at 15 minutes, 2 days
    make bench HOUSES=10000 INTERVAL=1 BENCH_DAYS=1    # 14.4M readings

Materializes the graph (everything but the notebook report) for BENCH_DAYS simulated days from
BENCH_START as one Dagster run, in this process, on the embedded PostgreSQL (or ENERGY_PG_URL),
into a scratch data directory and the schema ``bench``. It samples the memory of this process
(the Dagster process) and of the Spark driver JVM while the run lasts, then measures the peers
on the same rows: a plain Parquet write of the raw readings (the simulator's peer), DuckDB
running the cleaning rules (the cleaning's), server-side ``COPY ... FROM 'file'`` of the same
raw and cleaned rows into bare tables (the loads'), and Spark's JDBC writer when its driver jar
is installed (``--jdbc``). Prints a table and writes it to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.simplefilter("ignore")

import psutil  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from psycopg import sql  # noqa: E402

SCHEMA = "bench"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")


class MemorySampler(threading.Thread):
    """Peak resident memory of this process and of its Java children, sampled twice a second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.peak_self = 0
        self.peak_jvm = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                self.peak_self = max(self.peak_self, self.me.memory_info().rss)
                jvm = sum(
                    c.memory_info().rss
                    for c in self.me.children(recursive=True)
                    if "java" in c.name()
                )
                self.peak_jvm = max(self.peak_jvm, jvm)
            except psutil.Error:
                pass
            time.sleep(0.5)


def warehouse_url() -> str:
    """ENERGY_PG_URL or the embedded server's ``energy`` database."""
    url = os.environ.get("ENERGY_PG_URL")
    if url:
        return url
    from energy_assets.storage.embedded import ensure_embedded_server

    return ensure_embedded_server(Path(os.environ.get("ENERGY_HOME", ".energy")).resolve())


def step_seconds(result) -> dict[str, float]:
    """Wall seconds of each step of a run, from its STEP_SUCCESS events."""
    return {
        e.step_key: e.event_specific_data.duration_ms / 1000
        for e in result.all_events
        if e.event_type_value == "STEP_SUCCESS"
    }


def server_copy(url: str, table: str, columns: list[str], work: Path, key: list[str]) -> dict:
    """Server-side COPY of a warehouse table's rows from a file: into a bare unlogged table,
    then key; and, with a key, into a logged table that has it already, as the warehouse's."""
    import psycopg

    from energy_assets.storage.embedded import superuser_url

    dump = work / f"{table}.csv"
    # Server-side files need the superuser (the pipeline's role may not read or write them).
    with psycopg.connect(superuser_url(url), autocommit=True) as conn:
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        conn.execute(
            sql.SQL("COPY (SELECT {} FROM {}) TO {} (FORMAT csv)").format(
                cols, sql.Identifier(SCHEMA, table), sql.Literal(str(dump))
            )
        )
        bare = sql.Identifier(SCHEMA, f"peer_{table}")
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(bare))
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                bare, cols, sql.Identifier(SCHEMA, table)
            )
        )
        start = time.perf_counter()
        conn.execute(sql.SQL("COPY {} FROM {} (FORMAT csv)").format(bare, sql.Literal(str(dump))))
        copy_s = time.perf_counter() - start
        key_s = 0.0
        if key:
            start = time.perf_counter()
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    bare, sql.SQL(", ").join(map(sql.Identifier, key))
                )
            )
            key_s = time.perf_counter() - start
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(bare)).fetchone()[0]
        conn.execute(sql.SQL("DROP TABLE {}").format(bare))
        keyed_s = 0.0
        if key:
            # The same rows into the warehouse table's shape: logged, with its key before the COPY.
            keyed = sql.Identifier(SCHEMA, f"peer_keyed_{table}")
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(keyed))
            conn.execute(
                sql.SQL("CREATE TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                    keyed, cols, sql.Identifier(SCHEMA, table)
                )
            )
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    keyed, sql.SQL(", ").join(map(sql.Identifier, key))
                )
            )
            start = time.perf_counter()
            conn.execute(
                sql.SQL("COPY {} FROM {} (FORMAT csv)").format(keyed, sql.Literal(str(dump)))
            )
            keyed_s = time.perf_counter() - start
            conn.execute(sql.SQL("DROP TABLE {}").format(keyed))
    dump.unlink()
    return {"rows": rows, "copy_s": copy_s, "key_s": key_s, "keyed_s": keyed_s}


def jdbc_write(spark, url: str, table: str, work: Path) -> float:
    """Spark's JDBC writer (batched) of a table's Parquet twin into a bare table."""
    import psycopg

    from energy_assets.storage.embedded import password_of

    info = psycopg.conninfo.conninfo_to_dict(url)
    frame = spark.read.parquet(str(work))
    start = time.perf_counter()
    frame.write.format("jdbc").options(
        url=f"jdbc:postgresql://{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/"
        f"{info['dbname']}",
        dbtable=f"{SCHEMA}.jdbc_{table}",
        user=info.get("user", "postgres"),
        password=password_of(url) or "",
        driver="org.postgresql.Driver",
        batchsize="10000",
        rewriteBatchedStatements="true",
    ).mode("overwrite").save()
    return time.perf_counter() - start


def main() -> int:
    """Run the pipeline, then the peers; print and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--houses", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=15)
    ap.add_argument("--start", default="2024-07-01")
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--jdbc", action="store_true", help="also time Spark's JDBC writer")
    ap.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args()
    if args.jdbc and JDBC_JAR.exists():
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"--jars {JDBC_JAR} pyspark-shell"

    from clean import duckdb_sql
    from dagster import AssetKey, DagsterInstance, materialize

    from energy_assets.assets.warehouse import RAW
    from energy_assets.cleaning.rules import CleaningParams
    from energy_assets.definitions import defs
    from energy_assets.resources import SimulationResource
    from energy_assets.storage.lake import LakeResource
    from energy_assets.storage.parquet_io import ParquetIOManager
    from energy_assets.storage.postgres_io import PostgresIOManager, PostgresResource
    from energy_assets.storage.spark import SparkResource

    start = dt.date.fromisoformat(args.start)
    end = start + dt.timedelta(days=args.days - 1)
    work = Path(tempfile.mkdtemp(prefix="energy-bench-"))
    os.chmod(work, 0o777)  # the server writes and reads the peers' files here
    url = warehouse_url()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:  # the benchmark's schema, from empty
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    spark = SparkResource(master="local[*]", ui=False, driver_memory=args.driver_memory)
    lake = LakeResource(data_dir=str(work / "data"))
    postgres = PostgresResource(url=url, warehouse_schema=SCHEMA)
    resources = {
        "spark": spark,
        "lake": lake,
        "postgres": postgres,
        "simulation": SimulationResource(houses=args.houses, interval_minutes=args.interval),
        "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
        "warehouse_io_manager": PostgresIOManager(postgres=postgres, spark=spark),
    }
    assets = [a for a in defs.assets if AssetKey("exploration_notebook") not in a.keys]

    sampler = MemorySampler()
    sampler.start()
    t0 = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            assets,
            resources=resources,
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": end.isoformat(),
            },
        )
    wall = time.perf_counter() - t0
    sampler.running = False
    sampler.join()
    steps = step_seconds(result)

    def rows(asset: str) -> int:
        return ds.dataset(
            str(work / "data" / asset), format="parquet", partitioning="hive"
        ).count_rows()

    raw, cleaned = rows("raw_readings"), rows("cleaned_readings")
    # The run's own figures first: a peer that fails must not take them with it.
    print(
        f"run: {'success' if result.success else 'FAILED'}, wall {wall:.1f} s, {raw:,} raw and"
        f" {cleaned:,} cleaned readings; peak memory: Dagster process"
        f" {sampler.peak_self / 2**30:.2f} GiB, Spark driver JVM {sampler.peak_jvm / 2**30:.2f} GiB;"
        f" steps (s): {json.dumps({k: round(v, 1) for k, v in sorted(steps.items())})}",
        flush=True,
    )

    # Peers, on the same rows, after the run (their memory is not the pipeline's). The Parquet
    # write goes a day at a time: a week of raw readings in memory at once is 20 GB.
    session = spark.session
    parquet_s = 0.0
    for day_dir in sorted((work / "data" / "raw_readings").glob("day=*")):
        raw_day = ds.dataset(str(day_dir), format="parquet").to_table()
        t = time.perf_counter()
        pq.write_table(raw_day, work / f"peer_raw_{day_dir.name}.parquet", compression="zstd")
        parquet_s += time.perf_counter() - t
        del raw_day
    print(f"peer: Parquet write {parquet_s:.1f} s", flush=True)

    import duckdb

    params = CleaningParams(
        interval_minutes=args.interval,
        nominal_voltage=resources["simulation"].settings().climate_preset.nominal_voltage,
    )
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    # Beside a Spark driver and PostgreSQL: a bounded heap, spilling to the work directory.
    con.execute("SET memory_limit = '6GB'")
    con.execute(f"SET temp_directory = '{work / 'duck_tmp'}'")
    (work / "duck").mkdir()
    t = time.perf_counter()
    con.execute(
        duckdb_sql(str(work / "data" / "raw_readings" / "**" / "*.parquet"), work / "duck", params)
    )
    duck_s = time.perf_counter() - t
    con.close()
    print(f"peer: DuckDB cleaning {duck_s:.1f} s", flush=True)

    raw_cols = list(RAW)
    copy_raw = server_copy(url, "energy_data_raw", raw_cols, work, [])
    copy_clean = server_copy(
        url,
        "energy_data_cleaned",
        [*raw_cols, "is_estimated", "quality_flags"],
        work,
        ["house_id", "simulated_timestamp"],
    )
    print(f"peer: server-side COPY raw {copy_raw}, cleaned {copy_clean}", flush=True)
    jdbc_s = None
    if args.jdbc and JDBC_JAR.exists():
        jdbc_s = jdbc_write(session, url, "cleaned", work / "data" / "cleaned_readings")

    cores = os.cpu_count()
    mem_gib = psutil.virtual_memory().total / 2**30

    def per_s(n: int, s: float) -> str:
        return f"{n / s:,.0f}" if s else "-"

    step = lambda *keys: sum(steps.get(k, 0.0) for k in keys)  # noqa: E731
    sim_s = step("simulated_meters")
    clean_s = step("vee")
    load_raw_s = step("warehouse__energy_data_raw")
    load_clean_s = step("warehouse__energy_data_cleaned")
    load_rej_s = step("warehouse__energy_data_rejected")
    daily_s = step("daily_aggregates")
    load_daily_s = step("warehouse__energy_daily")
    classify_s = step("household_classifier")
    anomalies_s = step("consumption_anomalies")
    bare_clean_s = copy_clean["copy_s"]
    keyed_clean_s = copy_clean["keyed_s"]
    lines = [
        "# Benchmark results\n",
        f"`make bench HOUSES={args.houses} INTERVAL={args.interval} BENCH_DAYS={args.days} BENCH_START={args.start}`"
        f" on a machine with {cores} cores and {mem_gib:.0f} GiB; {raw:,} raw readings,"
        f" {cleaned:,} cleaned; one Dagster run, wall {wall:.0f} s"
        f" ({'success' if result.success else 'FAILED'}).\n",
        "| stage | seconds | readings/s | peer in the same run | peer seconds | peer readings/s |",
        "|---|---|---|---|---|---|",
        f"| simulate (raw readings + truth, Parquet) | {sim_s:.1f} | {per_s(raw, sim_s)} | pyarrow Parquet write of the same raw rows | {parquet_s:.1f} | {per_s(raw, parquet_s)} |",
        f"| clean (VEE, cleaned + rejected Parquet, checks) | {clean_s:.1f} | {per_s(raw, clean_s)} | DuckDB, same rules | {duck_s:.1f} | {per_s(raw, duck_s)} |",
        f"| load energy_data_raw (+ twin check) | {load_raw_s:.1f} | {per_s(raw, load_raw_s)} | server-side COPY from a file, bare table | {copy_raw['copy_s']:.1f} | {per_s(raw, copy_raw['copy_s'])} |",
        f"| load energy_data_cleaned (+ key, twin check) | {load_clean_s:.1f} | {per_s(cleaned, load_clean_s)} | server-side COPY from a file, bare table, then key | {bare_clean_s:.1f} + {copy_clean['key_s']:.1f} | {per_s(cleaned, bare_clean_s + copy_clean['key_s'])} |",
        f"| | | | server-side COPY from a file into a logged table keyed like energy_data_cleaned | {keyed_clean_s:.1f} | {per_s(cleaned, keyed_clean_s)} |",
    ]
    if jdbc_s is not None:
        lines.append(
            f"| (peer) Spark JDBC, batched, cleaned rows | | | | {jdbc_s:.1f} | {per_s(cleaned, jdbc_s)} |"
        )
    lines += [
        f"| load energy_data_rejected | {load_rej_s:.1f} | | | | |",
        f"| daily aggregates (+ sum check) | {daily_s:.1f} | {per_s(cleaned, daily_s)} | | | |",
        f"| load energy_daily | {load_daily_s:.1f} | | | | |",
        f"| household classifier (one model a day) | {classify_s:.1f} | | | | |",
        f"| consumption anomalies | {anomalies_s:.1f} | | | | |",
        f"| **whole run** | **{wall:.1f}** | **{per_s(raw, wall)}** | COPY of the cleaned rows into a logged table keyed like energy_data_cleaned | {keyed_clean_s:.1f} | pipeline / keyed COPY = **{wall / keyed_clean_s:.1f}×** |",
        f"| | | | COPY of the cleaned rows into a bare unlogged table (no key) | {bare_clean_s:.1f} | pipeline / bare COPY = **{wall / bare_clean_s:.1f}×** |",
        "",
        f"Peak memory: Dagster process {sampler.peak_self / 2**30:.2f} GiB; Spark driver JVM"
        f" {sampler.peak_jvm / 2**30:.2f} GiB (driver memory setting {args.driver_memory}).",
        "",
        "Other steps (seconds): "
        + ", ".join(
            f"{k} {v:.1f}"
            for k, v in sorted(steps.items())
            if k
            not in {
                "simulated_meters",
                "vee",
                "warehouse__energy_data_raw",
                "warehouse__energy_data_cleaned",
                "warehouse__energy_data_rejected",
                "daily_aggregates",
                "warehouse__energy_daily",
                "household_classifier",
                "consumption_anomalies",
            }
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.results).write_text(text)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
