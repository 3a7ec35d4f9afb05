"""The one ``Definitions`` object: assets, checks, resources, jobs, the executor."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from energy_assets.assets.analytics import daily_aggregates
from energy_assets.assets.cleaning import vee
from energy_assets.assets.evaluation import cleaning_evaluation
from energy_assets.assets.models import consumption_anomalies, household_classifier
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
from energy_assets.partitions import simulated_days
from energy_assets.resources import build_resources
from energy_assets.settings import load_settings

settings = load_settings()

#: Every asset of the graph for a range of simulated days, as one run.
everything = define_asset_job(
    "everything", selection=AssetSelection.all(), partitions_def=simulated_days
)

defs = Definitions(
    assets=[
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
    ],
    jobs=[everything],
    resources=build_resources(settings),
    # One process per run, so one Spark JVM per run: the multiprocess executor would start a
    # JVM per step. Spark supplies the parallelism inside each step.
    executor=in_process_executor,
)
