"""The cleaning job (Spark) against DuckDB executing the same rules, on the same raw Parquet.

    .venv/bin/python benchmarks/clean.py --houses 700 10000 --interval 1

For each size: raw readings are simulated once (10,000 houses at 1 minute is 14.4M readings a
day), then cleaned by the project's Spark job (classify, write cleaned and rejected Parquet, as
the asset does) and by DuckDB running the same rules as SQL (row rules, latest valid delivery,
stuck runs, gap interpolation, quality flags), writing the same two Parquet outputs. Both
results are compared row by row — every cleaned reading's values (to 1e-9), estimate mark and
flags, every rejected reading's raw text and reason, as multisets both ways — and rows/s
printed. The Spark job runs ``--spark-runs`` times on each size in one JVM (2 by default): the
first in a JVM that has not run it (class loading, code generation, the JIT), the second as in
the warm Spark server that ``make run`` attaches to; each is timed, the last one's output is
the one compared.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

from energy_assets.cleaning.rules import (  # noqa: E402
    SENTINELS,
    TEMPERATURE_RANGE_C,
    VOLTAGE_RANGE_OF_NOMINAL,
    CleaningParams,
)

DAY = dt.date(2024, 7, 1)


def duckdb_sql(raw_glob: str, out: Path, p: CleaningParams) -> str:
    """The rules of energy_assets/cleaning/rules.py and vee.py, in DuckDB's SQL."""
    sent = ", ".join(str(s) for s in SENTINELS)
    lo_v, hi_v = (p.nominal_voltage * f for f in VOLTAGE_RANGE_OF_NOMINAL)
    lo_t, hi_t = TEMPERATURE_RANGE_C

    markers = "".join(f", '{m}'" for m in p.missing_markers)

    def field(col: str, label: str, parsed: str) -> str:
        return (
            f"WHEN {col} IS NULL OR trim({col}) IN (''{markers}) THEN '{label}_missing' "
            f"WHEN isnan({parsed}) THEN '{label}_nan' "
            f"WHEN {parsed} IN ({sent}) THEN '{label}_sentinel' "
            f"WHEN {parsed} IS NULL THEN '{label}_not_numeric' "
        )

    step = p.interval_minutes * 60
    max_missing = p.max_gap_minutes // p.interval_minutes
    # A day is a local day of the neighbourhood; timestamps are UTC (ICU's timezone()).
    local_date = f"timezone('{p.timezone}', timezone('UTC', simulated_timestamp))::DATE"

    def day_start(day: str) -> str:
        return f"timezone('UTC', timezone('{p.timezone}', ({day})::TIMESTAMP))"

    return f"""
    CREATE TEMP TABLE classified AS
    WITH p AS (
      SELECT *, {local_date} AS day,
             TRY_CAST(trim(consumption_kwh) AS DOUBLE) AS k,
             TRY_CAST(trim(temperature) AS DOUBLE) AS t,
             TRY_CAST(trim(voltage) AS DOUBLE) AS v
      FROM read_parquet('{raw_glob}', hive_partitioning = false)
    ), r AS (
      SELECT *, CASE {field("consumption_kwh", "consumption", "k")}
        WHEN k < 0 THEN 'consumption_negative' WHEN k > {p.max_kwh} THEN 'consumption_above_service'
        {field("temperature", "temperature", "t")}
        WHEN NOT (t BETWEEN {lo_t} AND {hi_t}) THEN 'temperature_implausible'
        {field("voltage", "voltage", "v")}
        WHEN NOT (v BETWEEN {lo_v} AND {hi_v}) THEN 'voltage_implausible' END AS reason0
      FROM p
    ), d AS (
      SELECT *,
        CASE WHEN reason0 IS NULL AND
               lag(ingested_at) OVER w IS NOT DISTINCT FROM ingested_at AND
               lag(consumption_kwh) OVER w IS NOT DISTINCT FROM consumption_kwh AND
               lag(temperature) OVER w IS NOT DISTINCT FROM temperature AND
               lag(voltage) OVER w IS NOT DISTINCT FROM voltage AND
               row_number() OVER w > 1 THEN 'duplicate_identical'
             WHEN reason0 IS NULL AND coalesce(sum((reason0 IS NULL)::INT) OVER
               (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) > 0
             THEN 'duplicate_superseded' ELSE reason0 END AS reason1,
        -- The kept delivery disagrees with the next valid one of its interval.
        coalesce(reason0 IS NULL AND lead(reason0 IS NULL) OVER w
                 AND lead(k) OVER w IS DISTINCT FROM k, false) AS conflict
      FROM r
      WINDOW w AS (PARTITION BY house_id, day, simulated_timestamp
                   ORDER BY ingested_at DESC, k, t, v, consumption_kwh, temperature, voltage)
    ), s AS (
      SELECT *, sum((reason1 IS NULL)::INT) OVER (h ROWS UNBOUNDED PRECEDING) AS kept_idx,
        last_value(CASE WHEN reason1 IS NULL THEN k END IGNORE NULLS)
          OVER (h ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_k
      FROM d WINDOW h AS (PARTITION BY house_id, day ORDER BY simulated_timestamp, ingested_at DESC)
    ), runs AS (
      SELECT *, (reason1 IS NULL AND (prev_k IS NULL OR prev_k <> k)) AS new_run FROM s
    ), runs2 AS (
      SELECT *,
        last_value(CASE WHEN new_run THEN kept_idx END IGNORE NULLS) OVER (h ROWS UNBOUNDED PRECEDING) AS run_start,
        first_value(CASE WHEN new_run THEN kept_idx END IGNORE NULLS)
          OVER (h ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_start,
        sum((reason1 IS NULL)::INT) OVER (PARTITION BY house_id, day) AS total_kept
      FROM runs WINDOW h AS (PARTITION BY house_id, day ORDER BY simulated_timestamp, ingested_at DESC)
    )
    SELECT house_id, simulated_timestamp, ingested_at, consumption_kwh, temperature, voltage, day,
           k, t, v,
           concat_ws(',', CASE WHEN conflict THEN 'conflict_resolved' END,
                     CASE WHEN epoch(ingested_at) - epoch(simulated_timestamp) >
                               {(p.interval_minutes + p.late_after_minutes) * 60}
                          THEN 'late_delivery' END) AS flags,
           CASE WHEN reason1 IS NULL AND kept_idx > run_start AND
                     coalesce(next_start, total_kept + 1) - run_start >= {p.stuck_run + 1}
                THEN 'stuck_meter' ELSE reason1 END AS reason
    FROM runs2;

    CREATE TEMP TABLE kept AS
    SELECT *, lag(simulated_timestamp) OVER h AS prev_ts, lag(k) OVER h AS pk, lag(t) OVER h AS pt,
           lag(v) OVER h AS pv, lead(simulated_timestamp) OVER h AS next_ts
    FROM classified WHERE reason IS NULL
    WINDOW h AS (PARTITION BY house_id, day ORDER BY simulated_timestamp);

    COPY (
      SELECT house_id, simulated_timestamp, ingested_at, k AS consumption_kwh, t AS temperature,
             v AS voltage, false AS is_estimated, flags AS quality_flags, day FROM kept
      UNION ALL
      SELECT house_id, prev_ts + to_seconds(g * {step}) AS simulated_timestamp, NULL, pk + (k - pk) * g / (n + 1),
             pt + (t - pt) * g / (n + 1), pv + (v - pv) * g / (n + 1), true, 'estimated', day
      FROM (SELECT *, (epoch(simulated_timestamp) - epoch(prev_ts)) // {step} - 1 AS n FROM kept
            WHERE prev_ts IS NOT NULL) gaps, generate_series(1, n::BIGINT) AS s(g)
      WHERE n BETWEEN 1 AND {max_missing}
      UNION ALL
      SELECT house_id, {day_start("day")} + to_seconds((g - 1) * {step}), NULL, k, t, v, true,
             'estimated', day
      FROM (SELECT *, (epoch(simulated_timestamp) - epoch({day_start("day")})) // {step} AS n FROM kept
            WHERE prev_ts IS NULL) lead_gaps, generate_series(1, n::BIGINT) AS s(g)
      WHERE n BETWEEN 1 AND {max_missing}
      UNION ALL
      SELECT house_id, simulated_timestamp + to_seconds(g * {step}), NULL, k, t, v, true,
             'estimated', day
      FROM (SELECT *, (epoch({day_start("day + 1")}) - epoch(simulated_timestamp)) // {step} - 1 AS n
            FROM kept WHERE next_ts IS NULL) trail_gaps, generate_series(1, n::BIGINT) AS s(g)
      WHERE n BETWEEN 1 AND {max_missing}
    ) TO '{out / "cleaned"}' (FORMAT parquet, PARTITION_BY (day), COMPRESSION zstd);

    COPY (SELECT house_id, simulated_timestamp, ingested_at, consumption_kwh, temperature, voltage,
                 reason, day FROM classified WHERE reason IS NOT NULL)
      TO '{out / "rejected"}' (FORMAT parquet, PARTITION_BY (day), COMPRESSION zstd);
    """


#: What a cleaned reading is, compared: its key, values (to 1e-9), estimate mark and flags.
CLEANED_ROW = (
    "house_id, simulated_timestamp, ingested_at, round(consumption_kwh, 9), "
    "round(temperature, 9), round(voltage, 9), is_estimated, quality_flags"
)
#: What a rejected reading is, compared: its raw text as delivered and its reason.
REJECTED_ROW = (
    "house_id, simulated_timestamp, ingested_at, consumption_kwh, temperature, voltage, reason"
)


def differing_rows(con, work: Path) -> dict[str, int]:
    """Rows one output has and the other has not, as multisets, each way (0 everywhere: same)."""

    def scan(path: Path, columns: str) -> str:
        return (
            f"SELECT {columns} FROM read_parquet('{path}/**/*.parquet', hive_partitioning = false)"
        )

    out = {}
    for name, columns, spark, duck in [
        ("cleaned", CLEANED_ROW, work / "spark_cleaned", work / "duck" / "cleaned"),
        ("rejected", REJECTED_ROW, work / "spark_rejected", work / "duck" / "rejected"),
    ]:
        a, b = scan(spark, columns), scan(duck, columns)
        out[f"{name} only in Spark"] = con.execute(
            f"SELECT count(*) FROM ({a} EXCEPT ALL {b})"
        ).fetchone()[0]
        out[f"{name} only in DuckDB"] = con.execute(
            f"SELECT count(*) FROM ({b} EXCEPT ALL {a})"
        ).fetchone()[0]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--houses", type=int, nargs="+", default=[700, 10_000])
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument(
        "--spark-runs",
        type=int,
        default=2,
        help="times the Spark job runs on each size in the same JVM: the first pays the JVM's "
        "class loading and JIT, later ones run as in the warm Spark server runs attach to",
    )
    args = parser.parse_args()

    import duckdb
    from pyspark import StorageLevel

    from energy_assets.cleaning.vee import classify, cleaned, rejected
    from energy_assets.simulation.houses import make_houses
    from energy_assets.simulation.on_spark import simulate_to_parquet
    from energy_assets.simulation.settings import SimulationSettings
    from energy_assets.storage.spark import cache_compression, get_spark

    spark = get_spark("local[*]", ui=False, driver_memory="6g")
    print(f"machine: {os.cpu_count()} cores; one day at {args.interval} minute(s)")
    print(
        f"| {'houses':>7} | {'raw rows':>11} | {'run':>3} | {'Spark s':>8} | {'Spark rows/s':>12} | "
        f"{'DuckDB s':>8} | {'DuckDB rows/s':>13} | {'Spark/DuckDB':>12} | {'same result':>11} |"
    )
    print(
        f"|{'-' * 9}|{'-' * 13}|{'-' * 5}|{'-' * 10}|{'-' * 14}|{'-' * 10}|{'-' * 15}|"
        f"{'-' * 14}|{'-' * 13}|"
    )
    for n_houses in args.houses:
        work = Path(tempfile.mkdtemp(prefix="energy-clean-bench-"))
        try:
            settings = SimulationSettings(houses=n_houses, interval_minutes=args.interval)
            counts = simulate_to_parquet(
                spark, make_houses(settings), [DAY], settings, work / "raw", work / "truth"
            )
            raw_rows = sum(counts.values())
            params = CleaningParams(
                interval_minutes=args.interval,
                nominal_voltage=settings.climate_preset.nominal_voltage,
                timezone=settings.climate_preset.timezone,
            )

            spark_times = []
            for _ in range(args.spark_runs):
                start = time.perf_counter()
                with cache_compression(spark, raw_rows):  # as the asset sets it
                    raw = spark.read.option("basePath", str(work / "raw")).parquet(
                        str(work / "raw")
                    )
                    c = classify(raw, params).persist(StorageLevel.MEMORY_AND_DISK)
                    cleaned(c, params).write.mode("overwrite").partitionBy("day").parquet(
                        str(work / "spark_cleaned")
                    )
                    rejected(raw, c).write.mode("overwrite").partitionBy("day").parquet(
                        str(work / "spark_rejected")
                    )
                    c.unpersist()
                spark_times.append(time.perf_counter() - start)

            start = time.perf_counter()
            con = duckdb.connect()
            con.execute(f"SET threads = {os.cpu_count()}")
            (work / "duck").mkdir()
            con.execute(duckdb_sql(str(work / "raw" / "**" / "*.parquet"), work / "duck", params))
            duck_s = time.perf_counter() - start

            differ = differing_rows(con, work)
            con.close()
            same = "yes" if not any(differ.values()) else "NO " + str(differ)
            for run, spark_s in enumerate(spark_times, start=1):
                print(
                    f"| {n_houses:>7,} | {raw_rows:>11,} | {run:>3} | {spark_s:>8.1f} | "
                    f"{raw_rows / spark_s:>12,.0f} | {duck_s:>8.1f} | {raw_rows / duck_s:>13,.0f} | "
                    f"{spark_s / duck_s:>11.1f}x | {same:>11} |"
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
