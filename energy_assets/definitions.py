"""The one ``Definitions`` object: assets, checks, resources, jobs, the executor.

``ENERGY_SOURCE`` chooses where raw readings come from: the simulator (``houses``,
``raw_readings`` and ``simulation_truth`` simulated, the clock sensor) or the landing folder
(``houses`` and ``raw_readings`` from landed files, the ``landing_files`` sensor). Everything
downstream is the same graph; what needs the simulator's truth is left out on landed data.
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    Definitions,
    define_asset_job,
    in_process_executor,
    map_asset_specs,
)

from energy_assets.assets.analytics import daily_aggregates
from energy_assets.assets.cleaning import build_vee
from energy_assets.assets.evaluation import cleaning_evaluation
from energy_assets.assets.landing import landed_houses, landed_readings
from energy_assets.assets.models import build_consumption_anomalies, household_classifier
from energy_assets.assets.reports import exploration_notebook
from energy_assets.assets.simulation import houses, simulated_meters
from energy_assets.assets.warehouse import (
    energy_anomalies,
    energy_daily,
    energy_data_cleaned,
    energy_data_raw,
    energy_data_rejected,
    household_classes,
    warehouse_houses,
)
from energy_assets.partitions import (
    follows_its_day,
    follows_its_readings,
    follows_upstream,
    follows_what_exists,
    simulated_days,
)
from energy_assets.resources import build_resources
from energy_assets.sensors import followers, landing_files, simulated_clock
from energy_assets.settings import Settings, load_settings

VEE_OUTPUTS = ("cleaned_readings", "rejected_readings", "load_shapes", "gap_estimates")
#: Assets that read a window of days, or all of them, follow what exists (partitions.py).
CONDITIONS = {
    **{key: follows_its_readings for key in VEE_OUTPUTS},
    "household_classifier": follows_its_day,
    "consumption_anomalies": follows_its_day,
    "exploration_notebook": follows_what_exists,
}


def build_definitions(settings: Settings) -> Definitions:
    """The project's definitions for the source ``settings`` names."""
    landed = settings.landed
    sources = (landed_houses, landed_readings) if landed else (houses, simulated_meters)
    downstream = [
        build_vee(landed),
        *([] if landed else [cleaning_evaluation]),  # scores the cleaning against the truth
        warehouse_houses,
        energy_data_raw,
        energy_data_cleaned,
        energy_data_rejected,
        daily_aggregates,
        energy_daily,
        household_classifier,
        household_classes,
        build_consumption_anomalies(landed),
        energy_anomalies,
        exploration_notebook,
    ]
    #: Every asset of the graph for a range of simulated days, as one run.
    everything = define_asset_job(
        "everything", selection=AssetSelection.all(), partitions_def=simulated_days
    )
    return Definitions(
        assets=[
            *sources,
            # What comes after the source follows new days on its own.
            *map_asset_specs(
                lambda spec: spec.replace_attributes(
                    automation_condition=CONDITIONS.get(spec.key.to_user_string(), follows_upstream)
                ),
                downstream,
            ),
        ],
        jobs=[everything],
        sensors=[landing_files if landed else simulated_clock, followers],
        resources=build_resources(settings),
        # One process per run, so one Spark JVM per run: the multiprocess executor would start
        # a JVM per step. Spark supplies the parallelism inside each step.
        executor=in_process_executor,
    )


settings = load_settings()
defs = build_definitions(settings)
