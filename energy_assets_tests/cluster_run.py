"""Materialize one simulated day through the cleaning on a given Spark master, in a fresh process.

A process has one SparkContext, and the test session's is local; so the cluster run lives here:
    python -m energy_assets_tests.cluster_run <data_dir> <spark_master> <day>
"""

import sys
from pathlib import Path

from dagster import materialize

from energy_assets.assets.cleaning import vee
from energy_assets.assets.simulation import houses, simulated_meters
from energy_assets.resources import SimulationResource
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.parquet_io import ParquetIOManager
from energy_assets.storage.spark import SparkResource

# Simulated in Spark tasks (not in the driver, as a run this small would be): on the executors.
SIMULATION = {"houses": 30, "houses_per_task": 10, "in_process_readings": 0}


def resources(data_dir: Path, master: str) -> dict:
    """The Parquet side's resources on ``master``."""
    spark = SparkResource(master=master, ui=False, driver_memory="1g")
    lake = LakeResource(data_dir=str(data_dir))
    return {
        "spark": spark,
        "lake": lake,
        "simulation": SimulationResource(**SIMULATION),
        "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
    }


def run(data_dir: Path, master: str, day: str) -> bool:
    """Houses, the day's raw readings and their cleaning; True on success."""
    result = materialize(
        [houses, simulated_meters, vee], resources=resources(data_dir, master), partition_key=day
    )
    if result.success:
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        print("master:", session.sparkContext.master if session else None)
    return result.success


if __name__ == "__main__":
    sys.exit(0 if run(Path(sys.argv[1]), sys.argv[2], sys.argv[3]) else 1)
