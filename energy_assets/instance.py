"""Dagster's own storage (runs, events, schedules) for every entry point, from one dagster.yaml.

The repository's ``dagster.yaml`` names :class:`ProjectStorage`, which finds its PostgreSQL the
way the rest of the project does: ``DAGSTER_PG_URL``, else the warehouse's database
(``ENERGY_PG_URL``, shared), else the embedded server's ``dagster`` database (started if needed). So
``make run``, ``make dev``, ``dg launch``, ``dagster dev`` started by hand in the repository
root, and docker-compose all keep their runs in the same place, and the file holds no secret.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from dagster_postgres import DagsterPostgresStorage

from energy_assets.settings import load_settings
from energy_assets.storage.embedded import dagster_url, ensure_embedded_server


def storage_url() -> str:
    """The PostgreSQL URL of Dagster's storage for this environment (SQLAlchemy form)."""
    url = os.environ.get("DAGSTER_PG_URL")
    if url:
        return dagster_url(url)
    settings = load_settings()
    if settings.pg_url:
        return dagster_url(settings.pg_url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dagster_url(ensure_embedded_server(Path(settings.home), "dagster"))


#: Dagster's PostgreSQL storages open a connection for every query by default (SQLAlchemy's
#: NullPool), and a run stores each event with several: a 7-day ``make run`` (about 500 events)
#: spent 6-7 s of its 40 s connecting (a password handshake and a server process each). Each
#: storage keeps one connection instead, as the webserver's storages do, with a few more for
#: threads that store at the same time.
POOL_OVERFLOW = 4
#: Pooled connections are replaced after an hour, as the webserver's are by default.
POOL_RECYCLE_S = 3600
#: Dagster's opt-in batching of asset events (``DAGSTER_EVENT_BATCH_SIZE``): the days of an
#: output a run writes are stored in one insert and one index transaction instead of one each
#: (a 7-day ``make run`` stores about 130 materializations; 1-2 s of its 25 s went to them).
EVENT_BATCH_SIZE = 100


class ProjectStorage(DagsterPostgresStorage):
    """Dagster's PostgreSQL storage on the project's server; configured by the environment."""

    def __init__(self, postgres_url: str, inst_data=None) -> None:
        super().__init__(postgres_url=postgres_url, inst_data=inst_data)
        # Read by Dagster where it stores events, in every process this storage serves; a
        # value set in the environment wins (0 turns batching off).
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
        # Dagster's own switch to pooled connections; no statement timeout (0), as without it.
        for storage in (self.run_storage, self.event_log_storage, self.schedule_storage):
            storage.optimize_for_webserver(
                statement_timeout=0, pool_recycle=POOL_RECYCLE_S, max_overflow=POOL_OVERFLOW
            )

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> ProjectStorage:  # noqa: ARG003
        return cls(postgres_url=storage_url(), inst_data=inst_data)
