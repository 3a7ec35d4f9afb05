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
from dataclasses import replace
from pathlib import Path

from energy_assets.settings import Settings

#: The neighbourhood of each pass over the graph: a small one takes every path of the cleaning
#: (gaps estimated from a history of several days, faults of every kind) in seconds; the second,
#: ``make run``'s default size, runs the hot loops as often as that run does, so that the JIT
#: has compiled them before the first run (with two passes of 20 houses, the first run after
#: a start took 22-30 s, later ones 20.5-23.5 s).
WARM_UP_HOUSES = (20, 100)
WARM_UP_DAYS = 7
#: Groups the warm-up leaves out: the warehouse loads (PostgreSQL, not Spark) and the notebook.
SKIPPED_GROUPS = ("warehouse", "reports")


def warm_up_assets(settings: Settings) -> list:
    """The simulated graph's assets (built as the definitions build them) but the warehouse
    loads and the notebook: every step that runs Spark or reads its frames."""
    from energy_assets.definitions import build_definitions

    defs = build_definitions(replace(settings, source="simulator", landing_dir=None))
    return [
        a
        for a in defs.assets
        if not any(group in SKIPPED_GROUPS for group in a.group_names_by_key.values())
    ]


def warm_graph(settings: Settings, passes: tuple[int, ...] = WARM_UP_HOUSES) -> None:
    """Materialize :func:`warm_up_assets` once for each neighbourhood size of ``passes``, with
    the resources ``settings`` give a run, each pass into its own scratch folder, in this
    process's Spark session (the server's, once attached)."""
    from dagster import DagsterInstance, materialize

    from energy_assets.partitions import range_tags
    from energy_assets.resources import build_resources

    # The first days the partitions have: the warm-up runs whatever range the environment sets.
    start = dt.date.fromisoformat(settings.sim_start)
    end = start + dt.timedelta(days=WARM_UP_DAYS - 1)
    simulated = replace(settings, source="simulator", landing_dir=None)
    assets = warm_up_assets(simulated)
    for houses in passes:
        with tempfile.TemporaryDirectory(prefix="energy-warm-up-") as scratch:
            scratch_settings = replace(simulated, houses=houses, data_dir=Path(scratch))
            resources = build_resources(scratch_settings)
            # A failed step raises here, and the server's log says which.
            with DagsterInstance.ephemeral() as instance:
                materialize(
                    assets,
                    resources=resources,
                    instance=instance,
                    tags=range_tags(start.isoformat(), end.isoformat()),
                )
