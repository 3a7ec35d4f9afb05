"""The warehouse for readers: notebooks and the dashboard ask PostgreSQL, not the Parquet lake.

The URL is ``ENERGY_PG_URL``, or the embedded server's (started if needed) when it is unset;
the schema is ``ENERGY_PG_SCHEMA`` (``energy``). Queries are composed with psycopg's ``sql``
module: table names are identifiers, values are parameters.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from energy_assets.calendar import local_day
from energy_assets.settings import load_settings


def warehouse_url() -> str:
    """The warehouse's URL: ``ENERGY_PG_URL`` or the embedded server's."""
    settings = load_settings()
    if settings.pg_url:
        return settings.pg_url
    from energy_assets.storage.embedded import ensure_embedded_server

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ensure_embedded_server(settings.home, "energy")


def utc_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants ``[start, end)`` of the local days ``first`` to ``last`` inclusive.

    Readings carry UTC timestamps; a simulated day is a local day of the neighbourhood, so a
    range of days is cut at local midnight (and PostgreSQL still prunes to the day partitions).
    """
    zone = load_settings().timezone
    return local_day(first, zone).start, local_day(last + dt.timedelta(days=1), zone).start


def table(name: str) -> sql.Identifier:
    """A warehouse table, qualified by the configured schema."""
    return sql.Identifier(load_settings().pg_schema, name)


def query(
    statement: str | sql.Composable,
    params: Sequence[Any] | dict[str, Any] | None = None,
    url: str | None = None,
    **tables: str,
) -> pd.DataFrame:
    """Run a query and return its rows as a DataFrame.

    ``{name}`` placeholders in a string statement are filled with the tables given by keyword:
    ``query("SELECT count(*) FROM {daily}", daily="energy_daily")``.
    """
    if isinstance(statement, str):
        statement = sql.SQL(statement).format(**{k: table(v) for k, v in tables.items()})
    with psycopg.connect(url or warehouse_url()) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)
