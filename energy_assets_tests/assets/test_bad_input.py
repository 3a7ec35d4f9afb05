"""Bad raw files fail the cleaning step with one clear sentence, and nothing downstream is written."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energy_assets.assets.cleaning import RawSchemaError, vee
from energy_assets.assets.simulation import houses, simulated_meters
from energy_assets.storage.folders import publish
from energy_assets.storage.parquet_io import ParquetStoreError
from energy_assets_tests.helpers import materialize_range, project_resources

ASSETS = [houses, simulated_meters, vee]
DAY = "2024-05-01"


def write_raw(lake, table: pa.Table) -> None:
    """A raw day as a head-end export would be landed: published whole, with its manifest."""
    staged = lake / "staged"
    staged.mkdir(parents=True)
    pq.write_table(table, staged / "part-0.parquet")
    publish(staged, lake / "raw_readings" / f"day={DAY}")


def raw_table(**overrides) -> pa.Table:
    ts = pa.array([dt.datetime(2024, 5, 1, 0, 0)], pa.timestamp("us"))
    cols = {
        "house_id": pa.array(["H00001"]),
        "simulated_timestamp": ts,
        "ingested_at": ts,
        "consumption_kwh": pa.array(["0.1"]),
        "temperature": pa.array(["12"]),
        "voltage": pa.array(["226"]),
    }
    cols.update(overrides)
    return pa.table({k: v for k, v in cols.items() if v is not None})


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"voltage": None}, "have no column 'voltage'"),
        (
            {"consumption_kwh": pa.array([0.1])},
            "column 'consumption_kwh' is double, expected string",
        ),
    ],
)
def test_wrong_raw_schema_names_the_problem(lake_dir, pg_url, pg_schema, overrides, message):
    write_raw(lake_dir, raw_table(**overrides))
    resources = project_resources(lake_dir, pg_url, pg_schema)
    with pytest.raises(
        RawSchemaError, match=f"Raw readings at {lake_dir / 'raw_readings'}.*{message}"
    ):
        materialize_range(ASSETS, resources, DAY, DAY, selection=[vee])
    assert not (lake_dir / "cleaned_readings").exists()
    assert not (lake_dir / "rejected_readings").exists()


def test_corrupt_raw_file_names_the_file(lake_dir, pg_url, pg_schema):
    write_raw(lake_dir, raw_table())
    victim = lake_dir / "raw_readings" / f"day={DAY}" / "part-0.parquet"
    victim.write_bytes(victim.read_bytes()[:20])
    resources = project_resources(lake_dir, pg_url, pg_schema)
    with pytest.raises(ParquetStoreError, match=f"Parquet file {victim.resolve()} is corrupt"):
        materialize_range(ASSETS, resources, DAY, DAY, selection=[vee])
    assert not (lake_dir / "cleaned_readings").exists()


def test_unknown_partition_is_refused(lake_dir, pg_url, pg_schema):
    from dagster import DagsterInvalidSubsetError, DagsterUnknownPartitionError

    resources = project_resources(lake_dir, pg_url, pg_schema)
    with pytest.raises((DagsterUnknownPartitionError, DagsterInvalidSubsetError, Exception)) as err:
        materialize_range(ASSETS, resources, "2031-01-01", "2031-01-01", selection=[vee])
    assert "2031-01-01" in str(err.value)
    assert not (lake_dir / "cleaned_readings").exists()
