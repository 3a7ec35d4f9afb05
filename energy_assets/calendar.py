"""Simulated days are the neighbourhood's local days; timestamps are UTC.

A day runs from the first instant of its local date to the first instant of the next one, so it
lasts 23, 24 or 25 hours across daylight-saving changes. Plain Python, numpy and Arrow (the same
rule as Spark expressions is :mod:`energy_assets.calendar_spark`): the simulator, the cleaning,
the warehouse and the checks all take a day's bounds from here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = dt.datetime(1970, 1, 1)
MINUTES_PER_DAY = 1440


def day_start_utc(day: dt.date, timezone: str) -> dt.datetime:
    """The UTC instant (naive) at which local ``day`` begins.

    Where local midnight does not exist (Santiago springs forward at 00:00) the day begins when
    the clocks jump; where it happens twice, at its first occurrence.
    """
    local = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(timezone))  # fold=0
    return local.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class LocalDay:
    """One local day: its date, time zone and UTC bounds ``[start, end)``."""

    day: dt.date
    timezone: str
    start: dt.datetime
    end: dt.datetime

    @property
    def minutes(self) -> int:
        """The day's length in minutes: 1,380, 1,440 or 1,500 across clock changes."""
        return int((self.end - self.start).total_seconds() // 60)

    def intervals(self, interval_minutes: int) -> int:
        """Readings a meter delivers this day at ``interval_minutes``."""
        return self.minutes // interval_minutes

    @property
    def start_minute(self) -> int:
        """The day's first minute, in minutes since 1970 UTC."""
        return int((self.start - EPOCH).total_seconds() // 60)

    def utc_minutes(self) -> np.ndarray:
        """Every minute of the day, as UTC minutes since 1970."""
        return self.start_minute + np.arange(self.minutes, dtype=np.int64)

    def wall_minutes(self) -> np.ndarray:
        """The local clock's minute of the day (0..1439) at every minute of the day.

        On a 25-hour day the repeated hour reads the same twice; on a 23-hour day the skipped
        hour never appears.
        """
        return _wall_minutes(self)


def _epoch_minutes(day: dt.date) -> int:
    return (day - EPOCH.date()).days * MINUTES_PER_DAY


def _offsets(day: LocalDay) -> np.ndarray:
    """The UTC offset in minutes at every minute of the day (at most one change a day)."""
    zone = ZoneInfo(day.timezone)

    def offset_at(minute: int) -> int:
        instant = (EPOCH + dt.timedelta(minutes=minute)).replace(tzinfo=dt.UTC)
        return int(instant.astimezone(zone).utcoffset().total_seconds() // 60)

    first, last = day.start_minute, day.start_minute + day.minutes - 1
    before, after = offset_at(first), offset_at(last)
    out = np.full(day.minutes, before, dtype=np.int64)
    if before != after:
        lo, hi = first, last  # offset_at(lo) == before, offset_at(hi) == after
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if offset_at(mid) == before else (lo, mid)
        out[hi - first :] = after
    return out


@lru_cache(maxsize=1024)
def _wall_minutes(day: LocalDay) -> np.ndarray:
    wall = day.utc_minutes() + _offsets(day) - _epoch_minutes(day.day)
    wall.flags.writeable = False  # shared by every caller through the cache
    return wall


@lru_cache(maxsize=4096)
def local_day(day: dt.date, timezone: str) -> LocalDay:
    """The :class:`LocalDay` of ``day`` in ``timezone``."""
    return LocalDay(
        day, timezone, day_start_utc(day, timezone), day_start_utc(day + dt.timedelta(1), timezone)
    )


def local_dates(values: pa.ChunkedArray | pa.Array, timezone: str) -> pa.ChunkedArray:
    """The local dates in ``timezone`` of UTC timestamps (Arrow; dates pass unchanged)."""
    if pa.types.is_date(values.type):
        return pc.cast(values, pa.date32())
    as_utc = pc.cast(values, pa.timestamp("us", "UTC")) if values.type.tz is None else values
    return pc.cast(pc.local_timestamp(pc.cast(as_utc, pa.timestamp("us", timezone))), pa.date32())
