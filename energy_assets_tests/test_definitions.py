"""The whole Definitions object, loaded once: what it exposes and how it is wired."""

from dagster import EnvVar
from dagster._core.definitions.backfill_policy import BackfillPolicyType

from energy_assets.definitions import defs
from energy_assets.partitions import simulated_days
from energy_assets.settings import load_settings


def test_every_partitioned_asset_shares_one_definition_and_runs_ranges_in_one_run():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert len(keys) >= 5
    for key in keys:
        node = graph.get(key)
        assert node.backfill_policy is not None, key
        assert node.backfill_policy.policy_type == BackfillPolicyType.SINGLE_RUN, key
        # The registry and the report over the whole warehouse are not per day.
        if key.path[-1] not in ("houses", "exploration_notebook"):
            assert node.partitions_def == simulated_days, key


def test_partitions_are_two_years_of_the_climates_local_days():
    keys = simulated_days.get_partition_keys()
    assert keys[0] == "2024-01-01" and keys[-1] == "2025-12-31"
    assert simulated_days.timezone == load_settings().timezone
    assert load_settings({}).timezone == "America/Santiago"


def test_in_process_executor_and_the_job():
    assert defs.executor.name == "in_process"
    assert defs.resolve_job_def("everything") is not None


def test_no_secret_in_resource_config(monkeypatch):
    from energy_assets.resources import build_resources
    from energy_assets.settings import load_settings

    monkeypatch.setenv("ENERGY_PG_URL", "postgresql://u:hunter2@db:5432/energy")
    resources = build_resources(load_settings())
    url = resources["postgres"].url
    assert isinstance(url, EnvVar) and url.env_var_name == "ENERGY_PG_URL"


def test_the_plain_cli_validates_from_the_repository_root():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "energy_assets.definitions"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_landed_data_has_the_same_graph_without_what_needs_the_simulators_truth(tmp_path):
    import pytest

    from energy_assets.definitions import build_definitions
    from energy_assets.settings import SettingsError

    settings = load_settings({"ENERGY_SOURCE": "landing", "ENERGY_LANDING_DIR": str(tmp_path)})
    landed = build_definitions(settings)
    graph = landed.resolve_asset_graph()
    simulated = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {k.to_user_string() for k in simulated.get_all_asset_keys()} - keys == {
        "simulation_truth",
        "cleaning_evaluation",
    }
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    before = {(c.asset_key.to_user_string(), c.name) for c in simulated.asset_check_keys}
    simulator_only = {
        ("cleaning_evaluation", "faults_caught"),
        ("cleaning_evaluation", "good_kept"),
        ("cleaning_evaluation", "estimates_beat_simple_ways"),
        ("raw_readings", "every_house_every_day"),
        ("raw_readings", "row_count_matches_truth"),
        ("rejected_readings", "rejection_rate"),
        ("consumption_anomalies", "precision_recall_floor"),
    }
    assert before - checks == simulator_only
    assert checks - before == {("raw_readings", "rows_match_files")}
    # The checks left out say so where they are declared.
    for asset_key, name in simulator_only:
        spec = next(
            s
            for a in defs.assets
            for s in getattr(a, "check_specs", [])
            if s.name == name and s.asset_key.to_user_string() == asset_key
        )
        assert "not run on landed data" in spec.description, name
    assert [s.name for s in landed.sensors] == ["landing_files", "simulated_clock_followers"]
    with pytest.raises(SettingsError, match="ENERGY_LANDING_DIR"):
        load_settings({"ENERGY_SOURCE": "landing"})
    with pytest.raises(SettingsError, match="is not a source"):
        load_settings({"ENERGY_SOURCE": "files"})


def test_the_cleaning_writes_the_load_shapes_and_has_one_parent():
    from dagster import AssetKey

    graph = defs.resolve_asset_graph()
    cleaning = ("cleaned_readings", "rejected_readings", "load_shapes", "gap_estimates")
    for key in cleaning:
        # One job writes them all, from the day's raw readings alone: a second parent made
        # Dagster's backfills of the cleaning fail at random.
        assert graph.get(AssetKey(key)).parent_keys == {AssetKey("raw_readings")}, key
        assert graph.get(AssetKey(key)).execution_set_asset_keys == {AssetKey(k) for k in cleaning}
