"""Helpers shared by the tests: resources on temp storage, range runs."""

import time
from pathlib import Path

from dagster import DagsterInstance, materialize

from energy_assets.partitions import range_tags
from energy_assets.resources import SimulationResource
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.parquet_io import ParquetIOManager
from energy_assets.storage.postgres_io import PostgresIOManager, PostgresResource
from energy_assets.storage.spark import SparkResource


def project_resources(lake_dir: Path, pg_url: str, schema: str, **simulation: object) -> dict:
    """The project's resources on a temp data dir and a test schema of a real server."""
    spark = SparkResource(master="local[2]", ui=False)
    lake = LakeResource(data_dir=str(lake_dir))
    postgres = PostgresResource(url=pg_url, warehouse_schema=schema)
    return {
        "spark": spark,
        "lake": lake,
        "postgres": postgres,
        "simulation": SimulationResource(**simulation),
        "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
        "warehouse_io_manager": PostgresIOManager(
            postgres=postgres, spark=spark, schema_name=schema
        ),
    }


def materialize_range(
    assets,
    resources,
    start: str,
    end: str,
    selection=None,
    instance: DagsterInstance | None = None,
    raise_on_error: bool = True,
):
    """Materialize ``assets`` for the days ``start..end`` (inclusive) as one run."""
    return materialize(
        assets,
        resources=resources,
        selection=selection,
        instance=instance,
        tags=range_tags(start, end),
        raise_on_error=raise_on_error,
    )


def all_assets() -> list:
    """Every asset of the project's Definitions."""
    from energy_assets.definitions import defs

    return list(defs.assets)


def wait_until_up(url: str, seconds: float, log: Path | None = None) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log tail after ``seconds``."""
    import requests

    deadline = time.time() + seconds
    while True:
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        assert time.time() < deadline, log.read_text()[-3000:] if log else f"{url} never answered"
        time.sleep(0.5)
