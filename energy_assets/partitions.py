"""Simulated-day partitions: the one definition every partitioned asset shares."""

from __future__ import annotations

from dagster import AssetSelection, AutomationCondition, BackfillPolicy, DailyPartitionsDefinition

from energy_assets.settings import SettingsError, load_settings
from energy_assets.simulation.settings import SimulationSettings

_settings = load_settings()

#: One partition per simulated day: the neighbourhood's local day, midnight to midnight in its
#: climate's time zone (23, 24 or 25 hours). Two definitions with different bounds would split
#: backfills into odd chunks, so every partitioned asset uses this one.
simulated_days = DailyPartitionsDefinition(
    start_date=_settings.sim_start,
    end_date=_settings.sim_end,
    timezone=_settings.timezone,
    fmt="%Y-%m-%d",
)


def day_time_zone(simulation: SimulationSettings) -> str:
    """The time zone whose local days the partitions are; the simulation's climate must agree."""
    zone = simulation.climate_preset.timezone
    if zone != simulated_days.timezone:
        raise SettingsError(
            f"The simulation's climate {simulation.climate!r} lives by {zone}, but the simulated "
            f"days are local days of {simulated_days.timezone}: set ENERGY_CLIMATE="
            f"{simulation.climate} in the environment, so that the partitions follow it too."
        )
    return zone


#: A range of days is one run and one Spark job, not one run per day.
single_run = BackfillPolicy.single_run()

#: The tags that make a run of a range of days (one run, as ``single_run`` backfills are).
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def range_tags(start: str, end: str) -> dict[str, str]:
    """The tags of a run of the days ``start..end`` (ISO dates, inclusive)."""
    return {RANGE_START: start, RANGE_END: end}


#: Downstream assets follow new simulated days: Dagster's eager condition without its
#: "latest time window only" clause, which would compare simulated days with today's date.
follows_upstream = AutomationCondition.eager().without(AutomationCondition.in_latest_time_window())

#: For an asset that reads every day (the notebook): the eager condition would wait for every day
#: to exist, which never happens when the simulation started later than the first partition; it
#: runs on what exists.
follows_what_exists = follows_upstream.without(~AutomationCondition.any_deps_missing())

#: For a model of day D that reads a trailing window: due once day D's own readings exist
#: (its same-day dependency), whatever earlier days of its window are missing; its reader
#: tolerates missing history and reports how much it had.
follows_its_day = follows_what_exists & ~AutomationCondition.any_deps_missing().allow(
    AssetSelection.assets("cleaned_readings")
)

#: For the cleaning of day D: due once day D's raw readings exist, and again only when they
#: change. Its estimates also read the load shapes of the days before (what exists of them); a
#: day of history arriving later does not re-clean the days after it (backfill them for that).
_raw = AssetSelection.assets("raw_readings")
follows_its_readings = follows_upstream.replace(
    "any_deps_updated", AutomationCondition.any_deps_updated().allow(_raw)
).replace("any_deps_missing", AutomationCondition.any_deps_missing().allow(_raw))
