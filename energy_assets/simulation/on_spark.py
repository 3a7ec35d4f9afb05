"""Run the simulator inside Spark: one task per (day, chunk of houses), nothing via the driver.

Each task calls the plain numpy core :func:`energy_assets.simulation.meter.simulate_day` and
streams its raw readings back as Arrow batches; its truth rows go to a staging folder as one
Parquet file named after the task, so a retried task overwrites rather than duplicates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from energy_assets.simulation.meter import RAW_SCHEMA, simulate_day
from energy_assets.simulation.settings import SimulationSettings

#: Spark's view of the raw readings: timestamps are UTC wall-clock values without zone.
RAW_SPARK_SCHEMA = (
    "house_id string, simulated_timestamp timestamp_ntz, ingested_at timestamp_ntz, "
    "consumption_kwh string, temperature string, voltage string"
)
BATCH_ROWS = 131_072


def simulation_tasks(
    n_houses: int, days: Sequence[dt.date], houses_per_task: int
) -> list[tuple[str, int, int]]:
    """(day, first house row, end house row) for every task of a run."""
    step = max(1, houses_per_task)
    return [
        (day.isoformat(), lo, min(lo + step, n_houses))
        for day in days
        for lo in range(0, n_houses, step)
    ]


def simulate_on_spark(
    spark: Any,
    houses: pa.Table,
    days: Sequence[dt.date],
    settings: SimulationSettings,
    truth_staging: Path,
) -> Any:
    """A Spark frame of the raw readings of ``days``; truth lands in ``truth_staging`` as it runs."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, houses.schema) as writer:
        writer.write_table(houses)
    houses_ipc = spark.sparkContext.broadcast(sink.getvalue().to_pybytes())
    staging = str(truth_staging)
    tasks = simulation_tasks(houses.num_rows, days, settings.houses_per_task)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        registry = pa.ipc.open_stream(houses_ipc.value).read_all()
        for batch in batches:
            for day_text, lo, hi in zip(
                *(batch.column(c).to_pylist() for c in ("day", "lo", "hi")), strict=True
            ):
                day = dt.date.fromisoformat(day_text)
                raw, truth = simulate_day(registry.slice(lo, hi - lo), day, settings)
                folder = Path(staging) / f"day={day_text}"
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(truth.drop_columns(["day"]), folder / f"part-{lo:08d}.parquet")
                yield from raw.to_batches(BATCH_ROWS)

    seeds = spark.createDataFrame(tasks, "day string, lo int, hi int").repartition(
        max(1, len(tasks))
    )
    return seeds.mapInArrow(run, RAW_SPARK_SCHEMA)


__all__ = ["RAW_SCHEMA", "RAW_SPARK_SCHEMA", "simulate_on_spark", "simulation_tasks"]
