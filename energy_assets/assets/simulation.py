"""Simulation assets: the neighbourhood, what its meters deliver, and what really happened."""

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    Output,
    ResourceParam,
    asset,
    multi_asset,
)

from energy_assets.assets.outputs import lake_out
from energy_assets.assets.verdicts import Verdict, day_check, day_results
from energy_assets.partitions import day_time_zone, simulated_days, single_run
from energy_assets.resources import SimulationResource
from energy_assets.simulation.houses import make_houses
from energy_assets.simulation.meter import RAW_SCHEMA, TRUTH_SCHEMA
from energy_assets.simulation.on_spark import simulate_in_process, simulate_to_parquet
from energy_assets.storage.folders import staging_folder, sweep_staging
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.parquet_io import DAY, ParquetIOManager, StagedParquet
from energy_assets.storage.spark import SparkResource

GROUP = "simulation"


@asset(
    group_name=GROUP,
    io_manager_key="parquet_io_manager",
    backfill_policy=single_run,
    kinds={"python", "parquet"},
)
def houses(context: AssetExecutionContext, simulation: SimulationResource) -> pa.Table:
    """The neighbourhood registry: one row a household, deterministic from the seed."""
    table = make_houses(simulation.settings())
    counts = pc.value_counts(table["profile"]).to_pylist()
    context.add_output_metadata({f"houses/{c['values']}": c["counts"] for c in counts})
    return table


RAW_CHECKS = [
    day_check(
        "every_house_every_day",
        "raw_readings",
        "Every house of the registry delivered readings on the day (simulated data only: "
        "it is not run on landed data, where a meter may be silent for a day).",
        blocking=True,
    ),
    day_check(
        "row_count_matches_truth",
        "raw_readings",
        "Rows = houses x the local day's intervals (23, 24 or 25 hours) - gap "
        "intervals + duplicate deliveries, as recorded in simulation_truth (simulated data "
        "only: it is not run on landed data, whose rows rows_match_files reconciles).",
        blocking=True,
    ),
]


@multi_asset(
    outs={
        "raw_readings": lake_out(
            "What the meters deliver, as delivered: values as text, with faults.",
            "simulated_timestamp",
        ),
        "simulation_truth": lake_out(
            "Every injected fault, anomaly and change; read only by checks and evaluation."
        ),
    },
    partitions_def=simulated_days,
    backfill_policy=single_run,
    group_name=GROUP,
    check_specs=RAW_CHECKS,
)
def simulated_meters(
    context: AssetExecutionContext,
    houses: pa.Table,
    spark: SparkResource,
    simulation: SimulationResource,
    lake: LakeResource,
    parquet_io_manager: ResourceParam[ParquetIOManager],
):
    """Simulate the run's days inside Spark (a small run in this process, while Spark starts
    for the checks and the cleaning); raw readings and their truth come out together."""
    settings = simulation.settings()
    day_time_zone(settings)
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    in_process = settings.simulates_in_process(len(days))
    if in_process:
        spark.start_in_background(quick_compiler=True)
    staging_root = lake.path(".staging")
    staging_root.mkdir(parents=True, exist_ok=True)
    sweep_staging(staging_root, "simulation-")  # what runs that died left behind
    with staging_folder(staging_root, "simulation-") as run_dir:
        raw_staging, truth_staging = run_dir / "raw_readings", run_dir / "simulation_truth"
        if in_process:
            rows_by_day = simulate_in_process(houses, days, settings, raw_staging, truth_staging)
        else:
            rows_by_day = simulate_to_parquet(
                spark.session, houses, days, settings, raw_staging, truth_staging
            )
        yield Output(
            StagedParquet(raw_staging, RAW_SCHEMA),
            "raw_readings",
            metadata={
                "houses": houses.num_rows,
                "interval_minutes": settings.interval_minutes,
                "seed": settings.seed,
                "climate": settings.climate,
                "simulated_in": "this process" if in_process else "Spark tasks",
            },
        )
        truth_table = ds.dataset(
            str(truth_staging), format="parquet", partitioning="hive"
        ).to_table(columns=["kind", DAY])
        kinds = pc.value_counts(truth_table["kind"]).to_pylist()
        yield Output(
            StagedParquet(truth_staging, TRUTH_SCHEMA.remove(TRUTH_SCHEMA.get_field_index(DAY))),
            "simulation_truth",
            metadata={f"kind/{k['values']}": k["counts"] for k in kinds},
        )
        yield from raw_checks(
            context,
            parquet_io_manager,
            days,
            houses.num_rows,
            {d: settings.intervals_on(d) for d in days},
            truth_table,
            rows_by_day,
        )


def raw_checks(
    context: AssetExecutionContext,
    store: ParquetIOManager,
    days,
    n_houses: int,
    intervals: dict[dt.date, int],
    truth: pa.Table,
    simulated_rows: dict[str, int],
):
    """The raw-readings checks, computed on the Parquet that was just written."""
    from pyspark.sql import functions as F

    stats = (
        store.read_days(AssetKey("raw_readings"), days)
        .groupBy(DAY)
        .agg(F.count("*").alias("rows"), F.countDistinct("house_id").alias("houses"))
        .collect()
    )
    by_day = {str(r[DAY]): (r["rows"], r["houses"]) for r in stats}
    truth_df = truth.to_pandas()
    truth_df[DAY] = truth_df[DAY].astype(str)
    counts = truth_df.groupby([DAY, "kind"]).size()
    houses_ok: dict[str, Verdict] = {}
    rows_ok: dict[str, Verdict] = {}
    for day in days:
        d = str(day)
        rows, present = by_day.get(d, (0, 0))
        houses_ok[d] = Verdict(
            present == n_houses,
            f"all {n_houses} houses delivered"
            if present == n_houses
            else f"{n_houses - present} of {n_houses} houses delivered nothing",
            {"houses": present},
        )
        gaps = int(counts.get((d, "gap"), 0))
        dups = int(counts.get((d, "duplicate_identical"), 0)) + int(
            counts.get((d, "duplicate_conflicting"), 0)
        )
        expected = n_houses * intervals[day] - gaps + dups
        simulated = simulated_rows.get(d, 0)
        rows_ok[d] = Verdict(
            rows == expected == simulated,
            f"{rows:,} rows = {n_houses} houses x {intervals[day]} intervals - {gaps} gaps + "
            f"{dups} duplicates"
            if rows == expected == simulated
            else f"{rows:,} rows, but the truth predicts {expected:,} (the simulator wrote "
            f"{simulated:,})",
            {"rows": rows, "expected": expected},
        )
    yield day_results(
        context, "raw_readings", "every_house_every_day", AssetCheckSeverity.ERROR, houses_ok
    )
    yield day_results(
        context, "raw_readings", "row_count_matches_truth", AssetCheckSeverity.ERROR, rows_ok
    )
