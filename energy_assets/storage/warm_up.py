"""The warm-up of a Spark server: the graph's Spark steps on a small neighbourhood, as a run.

A query's first runs in a JVM pay for loading classes, Janino's compilation of the generated
code and the JIT; a server that has run the graph's own steps (the simulation's checks, the
cleaning with its estimates and checks, the evaluation, the aggregates, the models' reads)
serves the next run warm. The warm-up materializes those assets through Dagster, with the
project's IO managers, into a scratch folder that is removed after; nothing reaches the
warehouse or the run history.
"""

from __future__ import annotations

import datetime as dt
import tempfile

#: The neighbourhood of each pass over the graph: a small one takes every path of the cleaning
#: (gaps estimated from a history of several days, faults of every kind) in seconds; the second,
#: ``make run``'s default size, runs the hot loops as often as that run does, so that the JIT
#: has compiled them before the first run (with two passes of 20 houses, the first run after
#: a start took 22-30 s, later ones 20.5-23.5 s).
WARM_UP_HOUSES = (20, 100)
WARM_UP_DAYS = 7


def warm_up_assets() -> list:
    """The simulated graph's assets that run Spark or read its frames: not the warehouse's
    (PostgreSQL) nor the notebook's, whatever source this environment's runs take."""
    from energy_assets.assets.analytics import daily_aggregates
    from energy_assets.assets.cleaning import build_vee
    from energy_assets.assets.evaluation import cleaning_evaluation
    from energy_assets.assets.models import build_consumption_anomalies, household_classifier
    from energy_assets.assets.simulation import houses, simulated_meters

    return [
        houses,
        simulated_meters,
        build_vee(landed=False),
        cleaning_evaluation,
        daily_aggregates,
        household_classifier,
        build_consumption_anomalies(landed=False),
    ]


def warm_graph(master: str, passes: tuple[int, ...] = WARM_UP_HOUSES) -> None:
    """Materialize :func:`warm_up_assets` once for each neighbourhood size of ``passes``, each
    into its own scratch folder, in this process's Spark session (the server's, once attached)."""
    from dagster import DagsterInstance, materialize

    from energy_assets.partitions import range_tags
    from energy_assets.resources import SimulationResource
    from energy_assets.storage.lake import LakeResource
    from energy_assets.storage.parquet_io import ParquetIOManager
    from energy_assets.storage.spark import SparkResource

    start = dt.date(2024, 1, 1)
    end = start + dt.timedelta(days=WARM_UP_DAYS - 1)
    spark = SparkResource(master=master, ui=False)
    assets = warm_up_assets()
    for houses in passes:
        with tempfile.TemporaryDirectory(prefix="energy-warm-up-") as scratch:
            lake = LakeResource(data_dir=scratch)
            resources = {
                "spark": spark,
                "lake": lake,
                "simulation": SimulationResource(houses=houses),
                "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
            }
            # A failed step raises here, and the server's log says which.
            with DagsterInstance.ephemeral() as instance:
                materialize(
                    assets,
                    resources=resources,
                    instance=instance,
                    tags=range_tags(start.isoformat(), end.isoformat()),
                )
