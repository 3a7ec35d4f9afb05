"""The simulation and warehouse assets in real Dagster runs on Spark and PostgreSQL."""

import pyarrow.dataset as ds
from dagster import AssetKey

from energy_assets.assets.simulation import houses, simulated_meters
from energy_assets.assets.warehouse import energy_data_raw, warehouse_houses
from energy_assets.storage import warehouse as wh
from energy_assets_tests.helpers import materialize_range, project_resources

ASSETS = [houses, simulated_meters, warehouse_houses, energy_data_raw]


def test_two_days_end_to_end_and_rerun_replaces(lake_dir, pg_url, pg_schema):
    resources = project_resources(lake_dir, pg_url, pg_schema, houses=12, houses_per_task=5)
    result = materialize_range(ASSETS, resources, "2024-02-01", "2024-02-02")
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {
        "every_house_every_day",
        "row_count_matches_truth",
        "matches_parquet",
    }
    assert all(c.passed for c in checks)

    raw = ds.dataset(str(lake_dir / "raw_readings"), partitioning="hive").to_table()
    truth = ds.dataset(str(lake_dir / "simulation_truth"), partitioning="hive").to_table()
    assert raw.num_rows > 12 * 96 * 2 * 0.95
    assert truth.num_rows > 0
    table = wh.TableTarget(pg_schema, "energy_data_raw", "simulated_timestamp")
    assert wh.read_arrow(pg_url, table).num_rows == raw.num_rows
    assert wh.read_arrow(pg_url, wh.TableTarget(pg_schema, "houses")).num_rows == 12
    mats = {
        m.asset_key: m.materialization.metadata for m in result.get_asset_materialization_events()
    }
    assert mats[AssetKey("raw_readings")]["dagster/row_count"].value == raw.num_rows

    # Re-running a day replaces it: same rows, nothing duplicated, the other day untouched.
    again = materialize_range(ASSETS, resources, "2024-02-02", "2024-02-02")
    assert again.success
    raw2 = ds.dataset(str(lake_dir / "raw_readings"), partitioning="hive").to_table()
    assert raw2.sort_by([(c, "ascending") for c in raw2.column_names if c != "day"]).equals(
        raw.sort_by([(c, "ascending") for c in raw.column_names if c != "day"])
    )
    assert wh.read_arrow(pg_url, table).num_rows == raw.num_rows


def test_a_small_run_without_java_fails_at_once_and_writes_no_readings(
    lake_dir, pg_url, pg_schema, monkeypatch, tmp_path
):
    """Simulated in the Dagster process, a small run still needs Spark for its checks: without
    Java it stops with the one sentence before a reading is written."""
    resources = project_resources(lake_dir, pg_url, pg_schema, houses=4)
    assert materialize_range([houses], resources, "2024-02-05", "2024-02-05").success
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = materialize_range(
        [houses, simulated_meters],
        resources,
        "2024-02-05",
        "2024-02-05",
        selection=[AssetKey("raw_readings"), AssetKey("simulation_truth")],
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "Spark needs Java 17 or newer and none was found" in str(failure.event_specific_data)
    for asset in ("raw_readings", "simulation_truth"):
        assert not list((lake_dir / asset).glob("day=*"))
