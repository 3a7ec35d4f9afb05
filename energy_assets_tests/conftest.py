"""Shared fixtures: one Spark session and one PostgreSQL server for the whole test session.

PostgreSQL is the server ``ENERGY_PG_URL`` names, or the embedded one under ``ENERGY_HOME``;
each test gets its own schema, dropped afterwards. Never a mock.
"""

import os
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

warnings.filterwarnings("ignore", category=DeprecationWarning)
os.environ.setdefault("ENERGY_SPARK_UI", "0")


@pytest.fixture(scope="session")
def spark():
    """The test session's one local Spark session (2 cores, no UI)."""
    from energy_assets.storage.spark import get_spark

    session = get_spark("local[2]", ui=False, driver_memory="2g")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A URL of a real PostgreSQL server: ENERGY_PG_URL, else the embedded server."""
    url = os.environ.get("ENERGY_PG_URL")
    if url:
        return url
    from energy_assets.storage.embedded import ensure_embedded_server

    home = Path(os.environ.get("ENERGY_HOME", Path(__file__).resolve().parents[1] / ".energy"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ensure_embedded_server(home, "energy_test")


@pytest.fixture
def pg_schema(pg_url: str):
    """A fresh schema for one test (with a space and a quote, to keep identifiers honest)."""
    name = f'test {uuid.uuid4().hex[:8]} "q'
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    """An empty data directory."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def neighbourhood_instance():
    """The Dagster instance that keeps the shared week's run, its events and check records."""
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture(scope="session")
def neighbourhood(tmp_path_factory, pg_url, neighbourhood_instance):
    """A week of 40 houses at 15 minutes, the whole graph materialized as one run.

    Shared by the pipeline, notebook and dashboard tests: (result, lake, schema, resources).
    """
    from energy_assets_tests.helpers import all_assets, materialize_range, project_resources

    lake = tmp_path_factory.mktemp("week") / "data"
    lake.mkdir()
    schema = "test pipeline 'week'"
    resources = project_resources(lake, pg_url, schema, houses=40, houses_per_task=20)
    result = materialize_range(
        all_assets(), resources, "2024-03-04", "2024-03-10", instance=neighbourhood_instance
    )
    yield result, lake, schema, resources
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
