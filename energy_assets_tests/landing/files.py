"""Landing files written by the tests: readings of made-up homes in each format."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np


def home_load(house: int, when: list[dt.datetime], interval_minutes: int) -> np.ndarray:
    """kWh per interval of a plain home: a base, an evening peak, a little noise."""
    rng = np.random.default_rng(house)
    hours = np.array([w.hour + w.minute / 60 for w in when])
    evening = np.exp(-(((hours - 20) / 2.5) ** 2))
    kw = 0.15 + 0.05 * house % 7 + 1.2 * evening + rng.gamma(2.0, 0.05, len(when))
    return kw * interval_minutes / 60


def long_file(
    path: Path,
    houses: list[str],
    start: dt.datetime,
    intervals: int,
    interval_minutes: int = 15,
    temperature: bool = True,
    newline: str = "\n",
    bom: bool = False,
) -> int:
    """A long-format file: ``start`` is aware; times written with their UTC offset. Rows."""
    zone = start.tzinfo
    when = [
        (start.astimezone(dt.UTC) + dt.timedelta(minutes=interval_minutes * k)).astimezone(zone)
        for k in range(intervals)
    ]
    header = "meter_id,interval_start,energy_kwh" + (
        ",temperature_c,voltage_v" if temperature else ""
    )
    lines = [header]
    for i, house in enumerate(houses):
        kwh = home_load(i, when, interval_minutes)
        for w, v in zip(when, kwh, strict=True):
            extra = (
                f",{14 + 6 * np.sin(w.hour / 24 * 2 * np.pi):.1f},{220 + i % 5:.1f}"
                if temperature
                else ""
            )
            lines.append(f"{house},{w.isoformat()},{v:.4f}{extra}")
    text = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return len(lines) - 1


def lcl_file(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """A London LCL file (BOM, CRLF, the header's trailing space) of (LCLid, DateTime, kWh)."""
    lines = ["LCLid,stdorToU,DateTime,KWH/hh (per half hour) "]
    lines += [f"{meter},Std,{when}.0000000,{kwh}" for meter, when, kwh in rows]
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())


def lcl_day(meter: str, day: dt.date, zone: str) -> list[tuple[str, str, str]]:
    """Every half hour of a local day as the LCL export writes it: wall-clock times, a repeated
    hour written twice, a skipped hour absent; every tenth value ``Null``."""
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(1), dt.time(), tzinfo=tz).astimezone(dt.UTC)
    rows, t, k = [], start, 0
    while t < end:
        wall = t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        rows.append((meter, wall, "Null" if k % 10 == 9 else f"{0.1 + 0.01 * (k % 7):.3f} "))
        t += dt.timedelta(minutes=30)
        k += 1
    return rows


def uci_file(path: Path, start: dt.datetime, minutes: int) -> None:
    """A UCI household file: ``;`` separated, dd/mm/yyyy, kW per minute, ``?`` missing."""
    lines = [
        "Date;Time;Global_active_power;Global_reactive_power;Voltage;Global_intensity;"
        "Sub_metering_1;Sub_metering_2;Sub_metering_3"
    ]
    for k in range(minutes):
        w = start + dt.timedelta(minutes=k)
        if k % 50 == 49:
            lines.append(f"{w:%d/%m/%Y};{w:%H:%M:%S};?;?;?;?;?;?;")
        else:
            lines.append(
                f"{w:%d/%m/%Y};{w:%H:%M:%S};{1.2 + (k % 9) * 0.1:.3f};0.100;234.500;5.000;0.000;1.000;17.000"
            )
    path.write_text("\n".join(lines) + "\n")
