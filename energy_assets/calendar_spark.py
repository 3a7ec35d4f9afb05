"""The calendar's rule (:mod:`energy_assets.calendar`) as Spark column expressions.

A simulated day is a local day of the neighbourhood; timestamps are UTC and the session keeps
UTC. Spark resolves a local midnight that the clocks skip to the instant they jump, and one they
repeat to its first occurrence, as :func:`energy_assets.calendar.day_start_utc` does.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def epoch_seconds(col: Column) -> Column:
    """Seconds since 1970 of a UTC timestamp (with or without zone; the session is UTC)."""
    return col.cast("timestamp").cast("long")


def day_start(day: Column, timezone: str) -> Column:
    """Seconds since 1970 (UTC) at which the local date ``day`` begins in ``timezone``."""
    return epoch_seconds(F.to_utc_timestamp(day.cast("timestamp"), timezone))


def day_end(day: Column, timezone: str) -> Column:
    """Seconds since 1970 (UTC) at which the local date ``day`` ends: the next day's start."""
    return day_start(F.date_add(day, 1), timezone)


def local_date(timestamp: Column, timezone: str) -> Column:
    """The local date in ``timezone`` of a UTC timestamp."""
    return F.to_date(F.from_utc_timestamp(timestamp.cast("timestamp"), timezone))
