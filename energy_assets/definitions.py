"""The one ``Definitions`` object: assets, checks, resources, jobs, the executor."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    Definitions,
    define_asset_job,
    in_process_executor,
    map_asset_specs,
)

from energy_assets.assets.analytics import daily_aggregates
from energy_assets.assets.cleaning import vee
from energy_assets.assets.evaluation import cleaning_evaluation
from energy_assets.assets.models import consumption_anomalies, household_classifier
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
    follows_upstream,
    follows_what_exists,
    simulated_days,
)
from energy_assets.resources import build_resources
from energy_assets.sensors import followers, simulated_clock
from energy_assets.settings import load_settings

settings = load_settings()

#: Every asset of the graph for a range of simulated days, as one run.
everything = define_asset_job(
    "everything", selection=AssetSelection.all(), partitions_def=simulated_days
)

#: Every asset of the graph; what comes after the simulation follows new days on its own.
SOURCES = (houses, simulated_meters)
#: Assets that read a window of days, or all of them, follow what exists (partitions.py).
CONDITIONS = {
    "household_classifier": follows_its_day,
    "consumption_anomalies": follows_its_day,
    "exploration_notebook": follows_what_exists,
}
assets = [
    houses,
    simulated_meters,
    vee,
    cleaning_evaluation,
    warehouse_houses,
    energy_data_raw,
    energy_data_cleaned,
    energy_data_rejected,
    daily_aggregates,
    energy_daily,
    household_classifier,
    household_classes,
    consumption_anomalies,
    energy_anomalies,
    exploration_notebook,
]
assets = [
    *SOURCES,
    *map_asset_specs(
        lambda spec: spec.replace_attributes(
            automation_condition=CONDITIONS.get(spec.key.to_user_string(), follows_upstream)
        ),
        [a for a in assets if a not in SOURCES],
    ),
]

defs = Definitions(
    assets=assets,
    jobs=[everything],
    sensors=[simulated_clock, followers],
    resources=build_resources(settings),
    # One process per run, so one Spark JVM per run: the multiprocess executor would start a
    # JVM per step. Spark supplies the parallelism inside each step.
    executor=in_process_executor,
)
