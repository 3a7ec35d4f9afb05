"""Dagster's own storage (runs, events, schedules) on the project's PostgreSQL."""

import os
import re

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from energy_assets.instance import ProjectStorage
from energy_assets.storage.embedded import dagster_url, with_database
from energy_assets.summary import took

DATABASE = "storage_pool_test"


@pytest.fixture
def storage(pg_url):
    """A ProjectStorage in a fresh database of the test server."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    made = ProjectStorage(postgres_url=dagster_url(with_database(pg_url, DATABASE)))
    yield made
    for part in (made.run_storage, made.event_log_storage, made.schedule_storage):
        part._engine.dispose()
    # The instance of a test keeps its pooled connections until the process ends.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )


def _backend(connect) -> tuple[int, str]:
    with connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        timeout = conn.execute(sa.text("SHOW statement_timeout")).scalar()
    return pid, timeout


def test_each_storage_keeps_one_connection_without_a_statement_timeout(storage):
    """A run stores hundreds of events: each storage reuses its connection rather than opening
    one a query (Dagster's default), and queries are not cut short."""
    for connect in (
        storage.event_log_storage.index_connection,
        storage.run_storage.connect,
        storage.schedule_storage.connect,
    ):
        seen = {_backend(connect) for _ in range(3)}
        assert len(seen) == 1, seen
        assert next(iter(seen))[1] == "0"


def test_a_run_stored_through_pooled_connections(storage, pg_url, monkeypatch):
    """dagster.yaml's storage class, as every entry point loads it, stores and reads a run."""
    from dagster import asset, instance_for_test, materialize

    @asset
    def one() -> int:
        return 1

    monkeypatch.setenv("DAGSTER_PG_URL", with_database(pg_url, DATABASE))
    storage_config = {
        "custom": {"module": "energy_assets.instance", "class": "ProjectStorage", "config": {}}
    }
    with instance_for_test(overrides={"storage": storage_config}) as instance:
        result = materialize([one], instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run.is_success
        assert instance.get_latest_materialization_event(one.key) is not None
        # The summary of `make run` says how long the run took, from its stored start and end.
        assert re.fullmatch(r" in \d+\.\d s", took(instance, run))


def test_a_runs_days_are_stored_in_a_batch_and_each_recorded(storage, pg_url, monkeypatch):
    """The storage turns on Dagster's batched asset events: a run of three days stores its
    three materializations at once, and each day is still recorded as materialized."""
    from dagster import (
        BackfillPolicy,
        DailyPartitionsDefinition,
        MaterializeResult,
        asset,
        instance_for_test,
        materialize,
    )

    from energy_assets.partitions import range_tags

    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)

    @asset(
        partitions_def=DailyPartitionsDefinition(start_date="2024-01-01"),
        backfill_policy=BackfillPolicy.single_run(),
    )
    def days() -> MaterializeResult:
        return MaterializeResult()

    monkeypatch.setenv("DAGSTER_PG_URL", with_database(pg_url, DATABASE))
    storage_config = {
        "custom": {"module": "energy_assets.instance", "class": "ProjectStorage", "config": {}}
    }
    with instance_for_test(overrides={"storage": storage_config}) as instance:
        assert int(os.environ["DAGSTER_EVENT_BATCH_SIZE"]) > 1
        stored = []
        batch = type(instance._event_storage_impl).store_event_batch

        def spy(self, events):
            stored.append(len(events))
            return batch(self, events)

        monkeypatch.setattr(type(instance._event_storage_impl), "store_event_batch", spy)
        result = materialize([days], instance=instance, tags=range_tags("2024-01-01", "2024-01-03"))
        assert result.success
        assert 3 in stored
        assert instance.get_materialized_partitions(days.key) == {
            "2024-01-01",
            "2024-01-02",
            "2024-01-03",
        }
