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


class ProjectStorage(DagsterPostgresStorage):
    """Dagster's PostgreSQL storage on the project's server; configured by the environment."""

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> ProjectStorage:  # noqa: ARG003
        return cls(postgres_url=storage_url(), inst_data=inst_data)
