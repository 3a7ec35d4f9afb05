"""The simulated clock: one simulated day after another, at a pace you set.

The original project advanced its clock in a loop; here each tick is a partition. The sensor
asks for the raw readings of the day after the last simulated one; everything downstream
follows by declarative automation (``partitions.follows_upstream``). Off by default: turn
``simulated_clock`` on in the UI (Automation), with the daemon running (``make dev``).
"""

import datetime as dt

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from energy_assets.partitions import simulated_days
from energy_assets.settings import load_settings

RAW = AssetKey("raw_readings")
CLOCK_TAG = "energy/simulated_clock"


def next_simulated_day(materialized: set[str]) -> str | None:
    """The day after the last simulated one (the first day if none), or None at the end."""
    keys = simulated_days.get_partition_keys()
    if not materialized:
        return keys[0] if keys else None
    nxt = (dt.date.fromisoformat(max(materialized)) + dt.timedelta(days=1)).isoformat()
    return nxt if simulated_days.has_partition_key(nxt) else None


#: Runs of a day that ended without simulating it: the clock asks for that day again.
ENDED_WITHOUT_IT = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def run_key_for(day: str, earlier_runs: list) -> str:
    """The day's run key: a new one for each run of the day that failed or was cancelled.

    Dagster skips a run key that has a run in any state, so one failed run of a day would stop
    the clock for good if the key were the day alone; while a day's run is queued or running,
    the key is unchanged and the next ticks' requests are dropped as duplicates.
    """
    failed = sum(1 for run in earlier_runs if run.status in ENDED_WITHOUT_IT)
    return day if failed == 0 else f"{day} (try {failed + 1})"


def build_clock(pace_seconds: int):
    """The clock sensor, ticking at most once every ``pace_seconds``."""

    @sensor(
        name="simulated_clock",
        minimum_interval_seconds=pace_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        target=AssetSelection.assets(RAW, "simulation_truth") | AssetSelection.assets("houses"),
        description=f"Simulates the next day every {pace_seconds} s (ENERGY_CLOCK_SECONDS); "
        "downstream assets follow by declarative automation.",
    )
    def simulated_clock(context: SensorEvaluationContext):
        done = set(context.instance.get_materialized_partitions(RAW))
        day = next_simulated_day(done)
        if day is None:
            return SkipReason(f"The clock reached the last simulated day ({max(done)}).")
        houses_missing = not context.instance.get_latest_materialization_event(AssetKey("houses"))
        selection = [RAW, AssetKey("simulation_truth")]
        if houses_missing:
            selection.append(AssetKey("houses"))
        earlier = context.instance.get_runs(filters=RunsFilter(tags={CLOCK_TAG: day}), limit=100)
        return RunRequest(
            run_key=run_key_for(day, list(earlier)),
            partition_key=day,
            asset_selection=selection,
            tags={CLOCK_TAG: day},
        )

    return simulated_clock


simulated_clock = build_clock(load_settings().clock_seconds)

#: Evaluates ``follows_upstream`` for the downstream assets; running by default, so that the
#: clock is the one switch. It only acts when an upstream day was updated.
followers = AutomationConditionSensorDefinition(
    "simulated_clock_followers",
    target=AssetSelection.all() - AssetSelection.assets(RAW, "simulation_truth", "houses"),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
