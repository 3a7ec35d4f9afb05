"""The simulated clock and the assets that follow it, evaluated against a real Dagster instance."""

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DefaultSensorStatus,
    build_sensor_context,
    evaluate_automation_conditions,
)

from energy_assets.definitions import defs
from energy_assets.partitions import simulated_days
from energy_assets.sensors import followers, next_simulated_day, simulated_clock

FIRST = simulated_days.get_partition_keys()[0]


def materialized(instance: DagsterInstance, key: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(AssetMaterialization(key, partition=partition))


def test_the_next_day_is_after_the_last_simulated_one():
    assert next_simulated_day(set()) == FIRST
    assert next_simulated_day({"2024-01-01", "2024-01-05", "2024-01-02"}) == "2024-01-06"
    assert next_simulated_day({simulated_days.get_last_partition_key()}) is None


def test_the_clock_is_off_by_default_and_the_followers_are_on():
    assert simulated_clock.default_status == DefaultSensorStatus.STOPPED
    assert followers.default_status == DefaultSensorStatus.RUNNING


def test_each_tick_asks_for_the_next_day_once():
    with DagsterInstance.ephemeral() as instance:
        first = simulated_clock(build_sensor_context(instance=instance, definitions=defs))
        assert first.partition_key == FIRST and first.run_key == FIRST
        assert AssetKey("houses") in first.asset_selection
        materialized(instance, "houses")
        materialized(instance, "raw_readings", FIRST)
        second = simulated_clock(build_sensor_context(instance=instance, definitions=defs))
        assert second.partition_key == "2024-01-02"
        assert set(second.asset_selection) == {
            AssetKey("raw_readings"),
            AssetKey("simulation_truth"),
        }


def test_downstream_assets_follow_a_new_day():
    with DagsterInstance.ephemeral() as instance:
        materialized(instance, "houses")
        result = evaluate_automation_conditions(defs=defs, instance=instance)
        assert result.total_requested == 0  # nothing new yet
        for key in ("raw_readings", "simulation_truth"):
            materialized(instance, key, FIRST)
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        for key in (
            "cleaned_readings",
            "daily_aggregates",
            "household_classifier",
            "consumption_anomalies",
            ["warehouse", "energy_data_raw"],
        ):
            assert result.get_requested_partitions(AssetKey(key)) == {FIRST}, key
        # The next evaluation does not ask again for what it already asked.
        again = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert again.total_requested == 0


def add_clock_run(instance: DagsterInstance, day: str, status) -> None:
    """A run the clock launched for ``day`` that ended with ``status``."""
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.utils import make_new_run_id

    from energy_assets.sensors import CLOCK_TAG

    instance.add_run(
        DagsterRun(
            job_name="__ASSET_JOB",
            run_id=make_new_run_id(),
            status=status,
            tags={CLOCK_TAG: day},
        )
    )


def test_a_failed_day_is_asked_for_again_and_the_clock_moves_on():
    from dagster import DagsterRunStatus

    with DagsterInstance.ephemeral() as instance:
        materialized(instance, "houses")
        first = simulated_clock(build_sensor_context(instance=instance, definitions=defs))
        assert first.run_key == FIRST
        add_clock_run(instance, FIRST, DagsterRunStatus.FAILURE)  # day D failed once
        retry = simulated_clock(build_sensor_context(instance=instance, definitions=defs))
        assert retry.partition_key == FIRST and retry.run_key != FIRST
        # While the retry runs, the ticks keep asking with its key (Dagster drops duplicates).
        add_clock_run(instance, FIRST, DagsterRunStatus.STARTED)
        same = simulated_clock(build_sensor_context(instance=instance, definitions=defs))
        assert same.run_key == retry.run_key
        # The retry succeeded: the clock moves on to the next day.
        materialized(instance, "raw_readings", FIRST)
        nxt = simulated_clock(build_sensor_context(instance=instance, definitions=defs))
        assert nxt.partition_key == "2024-01-02" and nxt.run_key == "2024-01-02"


def test_windowed_models_and_the_notebook_follow_from_any_start_day():
    """Started on 1 July (earlier days never simulated): the models and the notebook still run."""
    day = "2024-07-01"
    with DagsterInstance.ephemeral() as instance:
        materialized(instance, "houses")
        result = evaluate_automation_conditions(defs=defs, instance=instance)
        for key in ("raw_readings", "simulation_truth"):
            materialized(instance, key, day)
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        # The whole day is asked for, the models included, though no earlier day exists.
        for key in (
            "cleaned_readings",
            "daily_aggregates",
            "household_classifier",
            "consumption_anomalies",
        ):
            assert result.get_requested_partitions(AssetKey(key)) == {day}, key
        for key in ("cleaned_readings", "rejected_readings", "daily_aggregates"):
            materialized(instance, key, day)
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        # The later days whose windows hold 1 July wait for their own readings.
        for key in ("household_classifier", "consumption_anomalies"):
            assert result.get_requested_partitions(AssetKey(key)) <= {day}, key
        for key in ("household_classifier", "consumption_anomalies", "cleaning_evaluation"):
            materialized(instance, key, day)
        materialized(instance, ["warehouse", "houses"])
        for name in (
            "energy_data_raw",
            "energy_data_cleaned",
            "energy_data_rejected",
            "energy_daily",
            "household_classes",
            "energy_anomalies",
        ):
            materialized(instance, ["warehouse", name], day)
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert result.get_num_requested(AssetKey("exploration_notebook")) == 1


def test_the_cleaning_follows_its_own_readings_not_a_later_day_of_history():
    """A day's cleaning reads the load shapes of the 28 days before: it runs though they are
    missing, and a day of history updated later does not re-clean the days after it."""
    days = ("2024-07-01", "2024-07-02")
    cleaning = ("cleaned_readings", "rejected_readings", "gap_estimates")
    with DagsterInstance.ephemeral() as instance:
        materialized(instance, "houses")
        result = evaluate_automation_conditions(defs=defs, instance=instance)
        for day in days:
            for key in ("raw_readings", "simulation_truth"):
                materialized(instance, key, day)
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        for key in ("load_shapes", *cleaning):
            assert result.get_requested_partitions(AssetKey(key)) == set(days), key
        for day in days:
            for key in ("load_shapes", *cleaning):
                materialized(instance, key, day)
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        # The first day's shapes again (a backfill of it, say): the second day stays as it is.
        materialized(instance, "load_shapes", days[0])
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        for key in cleaning:
            assert result.get_requested_partitions(AssetKey(key)) == set(), key
        # Its own readings again: the second day is cleaned again.
        materialized(instance, "raw_readings", days[1])
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert result.get_requested_partitions(AssetKey("cleaned_readings")) == {days[1]}


def test_the_landing_sensor_asks_for_the_days_waits_for_its_run_and_gives_up_after_three():
    import datetime as dt
    import tempfile
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from dagster import DagsterRunStatus
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.utils import make_new_run_id

    from energy_assets.assets.landing import LandingResource
    from energy_assets.sensors import LANDING_BATCH_TAG, LANDING_TAG, landing_files
    from energy_assets.storage.lake import LakeResource
    from energy_assets_tests.landing.files import long_file

    def add_run(instance, status, tags):
        run = DagsterRun(job_name="__ASSET_JOB", run_id=make_new_run_id(), status=status, tags=tags)
        instance.add_run(run)

    with tempfile.TemporaryDirectory() as tmp, DagsterInstance.ephemeral() as instance:
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        resources = {
            "landing": LandingResource(landing_dir=str(inbox), interval_minutes=15),
            "lake": LakeResource(data_dir=str(Path(tmp) / "data")),
        }

        def tick():
            with build_sensor_context(instance=instance, resources=resources) as context:
                return landing_files.evaluate_tick(context)

        tz = ZoneInfo("America/Santiago")
        long_file(inbox / "a.csv", ["A"], dt.datetime(2024, 3, 4, tzinfo=tz), 2 * 96)
        (request,) = tick().run_requests
        assert request.tags["dagster/asset_partition_range_start"] == "2024-03-04"
        assert request.tags["dagster/asset_partition_range_end"] == "2024-03-05"
        assert {k.to_user_string() for k in request.asset_selection} == {"raw_readings", "houses"}
        # While its run is on, a new file waits and nothing more is asked.
        add_run(instance, DagsterRunStatus.STARTED, {LANDING_TAG: "1"})
        long_file(inbox / "b.csv", ["B"], dt.datetime(2024, 3, 9, tzinfo=tz), 96)
        waiting = tick()
        assert not waiting.run_requests and "Waiting for run" in waiting.skip_message
        assert len(list((Path(tmp) / "data" / "landing" / "entries").glob("*.json"))) == 1
        for run in instance.get_runs():
            instance.delete_run(run.run_id)
        # The batch's runs failed three times: no fourth, and the sensor says so.
        batch = tick().run_requests[0].tags[LANDING_BATCH_TAG]
        for _ in range(3):
            add_run(
                instance, DagsterRunStatus.FAILURE, {LANDING_TAG: "1", LANDING_BATCH_TAG: batch}
            )
        stopped = tick()
        assert not stopped.run_requests and "failed 3 times" in stopped.skip_message
        # The days were written after all: both files move on, nothing is asked.
        for day in ("2024-03-04", "2024-03-05", "2024-03-09"):
            materialized(instance, "raw_readings", day)
        done = tick()
        assert not done.run_requests and "2 moved to processed" in done.skip_message
        assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["a.csv", "b.csv"]


def test_the_registry_is_rebuilt_only_when_new_meters_come():
    import datetime as dt
    import tempfile
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from energy_assets.assets.landing import REGISTRY_KEY, LandingResource
    from energy_assets.sensors import landing_files
    from energy_assets.storage.lake import LakeResource
    from energy_assets_tests.landing.files import long_file

    tz = ZoneInfo("America/Santiago")
    with tempfile.TemporaryDirectory() as tmp, DagsterInstance.ephemeral() as instance:
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        landing = LandingResource(landing_dir=str(inbox), interval_minutes=15)
        lake = LakeResource(data_dir=str(Path(tmp) / "data"))

        def selection():
            with build_sensor_context(
                instance=instance, resources={"landing": landing, "lake": lake}
            ) as context:
                (request,) = landing_files.evaluate_tick(context).run_requests
            return {k.to_user_string() for k in request.asset_selection}

        long_file(inbox / "a.csv", ["A"], dt.datetime(2024, 3, 4, tzinfo=tz), 96)
        assert selection() == {"raw_readings", "houses"}
        instance.report_runless_asset_event(
            AssetMaterialization(
                "houses",
                metadata={REGISTRY_KEY: landing.registry_key(landing.ledger(lake).entries())},
            )
        )
        assert selection() == {"raw_readings"}  # the same meters: the registry stands
        long_file(inbox / "b.csv", ["B"], dt.datetime(2024, 3, 5, tzinfo=tz), 96)
        assert selection() == {"raw_readings", "houses"}  # a new meter
