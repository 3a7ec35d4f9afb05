"""Readings per second of the simulator, through the asset, against a plain numpy peer.

    .venv/bin/python benchmarks/simulate.py --houses 10000 --interval 1

In one run, on one machine:
  * the ``simulated_meters`` asset materialized by Dagster for one day (Spark tasks running the
    numpy core over chunks of houses, raw readings written to Parquet by the IO manager, truth
    and the blocking checks included), Spark already started;
  * the same, timed from the step's start to the raw readings' Parquet being written;
  * the peer: a simple numpy model of the same number of readings (a daily curve plus noise,
    values rendered as text) written to Parquet by one process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

DAY = "2024-07-01"


def peer(houses: int, interval: int, out: Path) -> tuple[int, float]:
    """A simple model at the same size: numpy curve + noise, text values, one Parquet file."""
    start = time.perf_counter()
    n_i = 1440 // interval
    rng = np.random.default_rng(0)
    base = 0.3 + 0.2 * np.sin(np.linspace(0, 2 * np.pi, n_i))
    kwh = np.round(
        (base[None, :] * rng.lognormal(0, 0.3, (houses, n_i))).ravel() * interval / 60, 4
    )
    ids = pa.array([f"H{h:05d}" for h in range(1, houses + 1)])
    idx = np.repeat(np.arange(houses), n_i)
    ts = np.datetime64(DAY, "us") + (np.tile(np.arange(n_i), houses) * interval).astype(
        "timedelta64[m]"
    )
    table = pa.table(
        {
            "house_id": ids.take(pa.array(idx)),
            "simulated_timestamp": pa.array(ts, pa.timestamp("us")),
            "ingested_at": pa.array(ts + np.timedelta64(5, "m"), pa.timestamp("us")),
            "consumption_kwh": pc.cast(pa.array(kwh), pa.string()),
            "temperature": pc.cast(pa.array(np.round(rng.normal(12, 3, kwh.size), 1)), pa.string()),
            "voltage": pc.cast(pa.array(np.round(rng.normal(226, 3, kwh.size), 1)), pa.string()),
        }
    )
    pq.write_table(table, out / "peer.parquet", compression="zstd")
    return table.num_rows, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--houses", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--houses-per-task", type=int, default=500)
    args = parser.parse_args()

    from dagster import DagsterEventType, DagsterInstance, materialize

    from energy_assets.assets.simulation import houses, simulated_meters
    from energy_assets.resources import SimulationResource
    from energy_assets.storage.lake import LakeResource
    from energy_assets.storage.parquet_io import ParquetIOManager
    from energy_assets.storage.spark import SparkResource, get_spark

    work = Path(tempfile.mkdtemp(prefix="energy-sim-bench-"))
    try:
        get_spark("local[*]", ui=False, driver_memory="4g")  # started, as in a run's later steps
        spark = SparkResource(master="local[*]", ui=False, driver_memory="4g")
        lake = LakeResource(data_dir=str(work / "data"))
        resources = {
            "spark": spark,
            "lake": lake,
            "simulation": SimulationResource(
                houses=args.houses,
                interval_minutes=args.interval,
                houses_per_task=args.houses_per_task,
            ),
            "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
        }
        instance = DagsterInstance.ephemeral()
        materialize([houses], resources=resources, instance=instance)
        # Warm the Python workers with a small day, as a run's first task does.
        materialize(
            [houses, simulated_meters],
            resources=resources,
            selection=[simulated_meters],
            partition_key="2024-06-30",
            instance=instance,
        )
        start = time.perf_counter()
        result = materialize(
            [houses, simulated_meters],
            resources=resources,
            selection=[simulated_meters],
            partition_key=DAY,
            instance=instance,
        )
        step_seconds = time.perf_counter() - start
        events = instance.all_logs(result.run_id)
        t0 = next(
            e.timestamp
            for e in events
            if e.dagster_event and e.dagster_event_type == DagsterEventType.STEP_START
        )
        t_raw = next(
            e.timestamp
            for e in events
            if e.dagster_event
            and e.dagster_event_type == DagsterEventType.HANDLED_OUTPUT
            and e.dagster_event.event_specific_data.output_name == "raw_readings"
        )
        rows = next(
            m.materialization.metadata["dagster/row_count"].value
            for m in result.get_asset_materialization_events()
            if m.asset_key.path == ["raw_readings"]
        )
        peer_rows, peer_seconds = peer(args.houses, args.interval, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"machine: {os.cpu_count()} cores; {args.houses:,} houses at {args.interval} minute(s), one day"
    )
    print(f"| {'what':<62} | {'rows':>12} | {'seconds':>8} | {'readings/s':>12} |")
    print(f"|{'-' * 64}|{'-' * 14}|{'-' * 10}|{'-' * 14}|")
    for label, n, secs in (
        ("raw_readings through the asset: step start to Parquet written", rows, t_raw - t0),
        ("whole simulated_meters run (truth, checks, Dagster included)", rows, step_seconds),
        ("peer: simple numpy model + one Parquet write, one process", peer_rows, peer_seconds),
    ):
        print(f"| {label:<62} | {n:>12,} | {secs:>8.2f} | {n / secs:>12,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
