"""The sources' sensors: the simulated clock, or the landing folder; and their followers.

``landing_files`` (with ``ENERGY_SOURCE=landing``) looks at the landing folder every 30 s:
it settles files whose days committed, admits new ones, and asks for the days they touch
(docs/real-data.md).

The simulated clock: one simulated day after another, at a pace you set.

The original project advanced its clock in a loop; here each tick is a partition. The sensor
asks for the raw readings of the day after the last simulated one; everything downstream
follows by declarative automation (``partitions.follows_upstream``). Off by default: turn
``simulated_clock`` on in the UI (Automation), with the daemon running (``make dev``).
"""

import datetime as dt
import hashlib

from dagster import (
    AssetKey,
    AssetRecordsFilter,
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

from energy_assets.assets.landing import REGISTRY_KEY, LandingResource
from energy_assets.landing.ledger import Intake, take_in
from energy_assets.partitions import range_tags, simulated_days
from energy_assets.settings import load_settings
from energy_assets.storage.lake import LakeResource

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
    target=AssetSelection.all() - AssetSelection.groups("simulation", "landing"),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)


LANDING_TAG = "energy/landing"
LANDING_BATCH_TAG = "energy/landing_batch"
#: A batch of files whose run failed this many times is left for a person to look at.
LANDING_TRIES = 3
IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def committed_runs(instance, days: list[str]) -> dict[str, float]:
    """Per day, when the run that last wrote its raw readings started (seconds since 1970)."""
    started = {}
    for day in days:
        records = instance.fetch_materializations(
            AssetRecordsFilter(RAW, asset_partitions=[day]), limit=1
        ).records
        if not records:
            continue
        run = instance.get_run_record_by_id(records[0].run_id) if records[0].run_id else None
        if run is None:  # reported without a run: it counts from when it was reported
            started[day] = records[0].timestamp
        else:
            started[day] = run.start_time or run.create_timestamp.timestamp()
    return started


def registry_is_current(instance, key: str) -> bool:
    """The registry's last materialization was built from what ``key`` names."""
    event = instance.get_latest_materialization_event(AssetKey("houses"))
    if event is None or event.asset_materialization is None:
        return False
    built = event.asset_materialization.metadata.get(REGISTRY_KEY)
    return built is not None and built.value == key


def landing_requests(
    instance, intake: Intake, registry_current: bool = False
) -> list[RunRequest] | SkipReason:
    """One run a stretch of days to rebuild (with the registry when new meters came); none
    once a batch failed :data:`LANDING_TRIES` times."""
    if not intake.ranges:
        return SkipReason(f"Nothing to rebuild. {intake.summary()}.")
    batch = hashlib.sha256(" ".join(intake.unsettled).encode()).hexdigest()[:16]
    failed = instance.get_runs(
        filters=RunsFilter(tags={LANDING_BATCH_TAG: batch}, statuses=list(ENDED_WITHOUT_IT))
    )
    if len(failed) >= LANDING_TRIES:
        return SkipReason(
            f"The runs for these files failed {len(failed)} times (last: {failed[0].run_id}); "
            "fix the cause and land a file again to retry. " + intake.summary()
        )
    selection = [RAW] if registry_current else [RAW, AssetKey("houses")]
    return [
        RunRequest(
            asset_selection=selection,
            tags={LANDING_TAG: "1", LANDING_BATCH_TAG: batch, **range_tags(a, b)},
        )
        for a, b in intake.ranges
    ]


@sensor(
    name="landing_files",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    target=AssetSelection.assets(RAW, "houses"),
    description="Admits files from ENERGY_LANDING_DIR and rebuilds the days they touch; moves "
    "a file to processed/ once those days committed, an unreadable one to quarantine/.",
)
def landing_files(context: SensorEvaluationContext, landing: LandingResource, lake: LakeResource):
    """The landing source's one sensor: settle, admit, ask for the days (docs/real-data.md)."""
    on = context.instance.get_runs(
        filters=RunsFilter(tags={LANDING_TAG: "1"}, statuses=IN_PROGRESS), limit=1
    )
    intake = take_in(
        landing.ledger(lake),
        landing.where(),
        lambda days: committed_runs(context.instance, days),
        admit_new=not on,
    )
    context.log.info(intake.summary())
    for name, reason in intake.refused.items():
        context.log.warning(f"{name} quarantined: {reason}")
    if on:
        return SkipReason(f"Waiting for run {on[0].run_id}. {intake.summary()}.")
    current = registry_is_current(context.instance, landing.registry_key(intake.entries))
    return landing_requests(context.instance, intake, current)
