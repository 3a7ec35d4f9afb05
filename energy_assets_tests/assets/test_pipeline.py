"""The whole graph on a small simulated week: reconciliation, scores, warehouse twins, re-runs."""

import pyarrow.dataset as ds
import pytest
from dagster import AssetKey

from energy_assets.storage import warehouse as wh
from energy_assets_tests.helpers import all_assets, materialize_range

ASSETS = all_assets()


@pytest.fixture(scope="module")
def week(neighbourhood):
    """The session's small neighbourhood (a week of 40 houses), materialized as one run."""
    return neighbourhood


def test_every_error_check_passes_and_scores_meet_the_floors(week):
    result, *_ = week
    assert result.success
    checks = {
        (c.asset_key.to_user_string(), c.check_name): c
        for c in result.get_asset_check_evaluations()
    }
    for (asset, name), check in checks.items():
        if check.severity.value == "ERROR":
            assert check.passed, (asset, name, check.metadata)
    assert ("cleaned_readings", "nothing_lost") in checks
    assert ("warehouse/energy_data_cleaned", "matches_parquet") in checks
    score = next(
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key == AssetKey("cleaning_evaluation")
    )
    assert score["caught_share"].value >= 0.99, score
    assert score["refused_good_share"].value <= 0.001, score
    assert score["estimated_scored"].value > 0
    # From the sixth day a house has history enough: its gaps are estimated from similar days,
    # scored beside the simple ways by gap length.
    assert score["estimated_scored/analog"].value > 0
    assert "| <= 1 h |" in score["estimate_mae_by_gap_length"].value


def test_reconciliation_holds_exactly_in_parquet_and_postgres(week, pg_url):
    _, lake, schema, _ = week
    raw = ds.dataset(str(lake / "raw_readings"), partitioning="hive").count_rows()
    cleaned = ds.dataset(str(lake / "cleaned_readings"), partitioning="hive").to_table(
        columns=["is_estimated"]
    )
    rejected = ds.dataset(str(lake / "rejected_readings"), partitioning="hive").count_rows()
    from_raw = cleaned.num_rows - sum(cleaned["is_estimated"].to_pylist())
    assert raw == from_raw + rejected
    for name, rows in (
        ("energy_data_raw", raw),
        ("energy_data_cleaned", cleaned.num_rows),
        ("energy_data_rejected", rejected),
    ):
        assert (
            wh.read_arrow(pg_url, wh.TableTarget(schema, name, "simulated_timestamp")).num_rows
            == rows
        )


def test_the_cleaning_writes_one_file_a_day_for_a_small_run(week):
    """One writing task for each million rows: the week's days (a few thousand readings each)
    are one file apiece, which every later scan opens."""
    from energy_assets.storage.parquet_io import parquet_files

    _, lake, _, _ = week
    for asset in ("cleaned_readings", "rejected_readings", "load_shapes", "gap_estimates"):
        days = sorted((lake / asset).glob("day=*"))
        assert len(days) == 7, asset
        assert all(len(parquet_files(day)) == 1 for day in days), asset


def test_rerunning_a_day_changes_nothing(week, pg_url):
    _, lake, schema, resources = week
    before = ds.dataset(str(lake / "cleaned_readings"), partitioning="hive").to_table()
    again = materialize_range(ASSETS, resources, "2024-03-06", "2024-03-06")
    assert again.success
    after = ds.dataset(str(lake / "cleaned_readings"), partitioning="hive").to_table()
    keys = [(c, "ascending") for c in ("house_id", "simulated_timestamp")]
    assert after.sort_by(keys).equals(before.sort_by(keys))
    table = wh.TableTarget(schema, "energy_data_cleaned", "simulated_timestamp")
    assert wh.read_arrow(pg_url, table).num_rows == before.num_rows


def test_classifier_and_anomalies_reach_their_tables_with_computed_metrics(week, pg_url):
    result, lake, schema, _ = week
    meta = {
        m.asset_key.to_user_string(): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    clf = meta["household_classifier"]
    assert 0.0 <= clf["macro_f1"].value <= 1.0 and 0.0 <= clf["accuracy"].value <= 1.0
    assert clf["window_days"].value == 7  # the week is all the history there is
    assert (
        sum(v.value for k, v in clf.items() if k.startswith("confusion/"))
        == clf["test_houses"].value
    )
    assert clf["confusion_matrix"].value.startswith("![confusion](data:image/png;base64,")
    assert (lake / "household_classifier" / "models").is_dir()
    assert len(list((lake / "household_classifier" / "models").glob("*.joblib"))) == 7
    classes = wh.read_arrow(pg_url, wh.TableTarget(schema, "household_classes", "as_of_day"))
    assert classes.num_rows == 40 * 7
    assert set(classes["predicted_profile"].to_pylist()) <= {"low", "medium", "high"}
    anomalies = wh.read_arrow(pg_url, wh.TableTarget(schema, "energy_anomalies", "day"))
    assert anomalies.num_rows == 40 * 7
    # A week is shorter than the warm-up: expected values, but no verdicts yet.
    assert anomalies["is_anomaly"].null_count == anomalies.num_rows
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["precision_recall_floor"].passed
    assert "history" in (checks["precision_recall_floor"].description or "")


def test_every_check_of_a_partitioned_asset_is_recorded_for_each_day(week, neighbourhood_instance):
    """A 7-day range run records 7 results per partitioned check, read back from the instance."""
    from dagster import AssetCheckKey

    from energy_assets.definitions import defs
    from energy_assets.partitions import simulated_days

    days = {f"2024-03-{d:02d}" for d in range(4, 11)}
    specs = [s for a in defs.assets for s in getattr(a, "check_specs", [])]
    partitioned = [s for s in specs if s.partitions_def is not None]
    assert len(partitioned) >= 15 and all(s.partitions_def == simulated_days for s in partitioned)
    for spec in partitioned:
        key = AssetCheckKey(spec.asset_key, spec.name)
        records = neighbourhood_instance.event_log_storage.get_asset_check_execution_history(
            key, limit=50
        )
        by_day = {r.partition for r in records if r.partition is not None}
        assert by_day == days, key.to_user_string()
        # And one result over the range, which names the days it judged.
        run_level = [r for r in records if r.partition is None]
        assert len(run_level) == 1, key.to_user_string()
    # The partitioned asset's unpartitioned neighbour keeps one result.
    houses = AssetCheckKey(AssetKey(["warehouse", "houses"]), "matches_parquet")
    assert [s for s in specs if s.key == houses][0].partitions_def is None
