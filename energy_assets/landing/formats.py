"""Head-end exports as raw readings: the long format and two public data sets' files.

A reader turns one delivered file into rows of the raw-readings contract (values as text, as
delivered; the interval start in UTC) or refuses the whole file with one sentence
(:class:`UnreadableFile`), which the landing source writes beside the file in quarantine. A
malformed *value* is not a reason to refuse a file: it is a reading the cleaning rejects with
its reason, like any other.

Formats, told apart by their header (a UTF-8 byte-order mark, CRLF line ends and spaces around
names are allowed):

- ``long``: ``meter_id,interval_start,energy_kwh[,temperature_c][,voltage_v]``; the start in
  ISO 8601 with its UTC offset (``2024-03-31T01:30:00+01:00``) or in UTC (``...Z``, or no
  offset at all).
- ``london_lcl``: the London "SmartMeter Energy Consumption Data in London Households"
  half-hourly CSV, ``LCLid,stdorToU,DateTime,KWH/hh (per half hour) `` (trailing space
  included), local wall-clock times of the neighbourhood's zone, ``Null`` for a missing value.
- ``uci_household``: the UCI "Individual household electric power consumption" file,
  ``Date;Time;Global_active_power;...;Voltage;...``, ``dd/mm/yyyy`` times on a clock without
  summer time (:data:`UCI_UTC_OFFSET`), kW averaged over each minute (so kWh = kW / 60), ``?``
  for missing; one household, meter id :data:`UCI_METER_ID`.

Local wall-clock times are placed as the clock reads them: a time the clocks skip refuses the
file (it names no instant); a time the clocks repeat is the earlier instant at its first
appearance for a meter and the later one at its second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from energy_assets.simulation.meter import RAW_SCHEMA

#: The UCI file holds one household and names none: its meter id.
UCI_METER_ID = "UCI-SCEAUX"
#: The UCI file's clock: its 2,075,259 minutes from 16/12/2006 17:24 to 26/11/2010 21:02 are
#: every minute between the two, none skipped or repeated at the clock changes, so its clock
#: does not keep summer time: it is read as French standard time (CET, UTC+1) all year.
UCI_UTC_OFFSET = pd.Timedelta(hours=1)
BOM = b"\xef\xbb\xbf"
#: A plain decimal number, as the exports write them.
NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


class UnreadableFile(ValueError):
    """A delivered file that cannot become raw readings; the message says why, in a sentence."""


@dataclass(frozen=True)
class Delivery:
    """One file's readings in the raw-readings contract, and what was learnt reading it."""

    format: str
    readings: pa.Table  # RAW_SCHEMA columns plus ``day``, the local date of each interval
    interval_minutes: int

    @property
    def rows(self) -> int:
        """Readings taken from the file: one a data line."""
        return self.readings.num_rows

    def rows_by_day(self) -> dict[str, int]:
        """Readings per local day."""
        counts = pc.value_counts(self.readings["day"]).to_pylist()
        return {str(c["values"]): int(c["counts"]) for c in counts}


@dataclass(frozen=True)
class Where:
    """What a reader needs to know of the neighbourhood and the pipeline."""

    timezone: str
    interval_minutes: int
    first_day: dt.date
    last_day: dt.date  # inclusive


@dataclass(frozen=True)
class Format:
    """A file format: its header, its delimiter, and how its columns become raw readings."""

    name: str
    delimiter: str
    matches: Callable[[list[str]], bool]
    columns: Callable[[pa.Table, str], dict[str, object]]


def _long_columns(table: pa.Table, timezone: str) -> dict[str, object]:
    names = {n.strip().lower(): n for n in table.column_names}
    text = _text(table)
    starts = text(names["interval_start"])
    instants = pd.to_datetime(pd.Series(starts), utc=True, format="ISO8601", errors="coerce")
    _refuse_unparsed(instants, starts, "interval_start", "an ISO 8601 time")
    return {
        "house_id": text(names["meter_id"]),
        "utc": instants.dt.tz_localize(None),
        "consumption_kwh": text(names["energy_kwh"]),
        "temperature": text(names["temperature_c"]) if "temperature_c" in names else None,
        "voltage": text(names["voltage_v"]) if "voltage_v" in names else None,
    }


def _lcl_columns(table: pa.Table, timezone: str) -> dict[str, object]:
    text = _text(table)
    meters = text(table.column_names[0])
    wall_text = text(table.column_names[2])
    wall = pd.to_datetime(pd.Series(wall_text), format="%Y-%m-%d %H:%M:%S.%f", errors="coerce")
    missing = wall.isna()
    if missing.any():  # the export has both forms: with and without fractions of a second
        wall[missing] = pd.to_datetime(
            pd.Series(wall_text)[missing], format="%Y-%m-%d %H:%M:%S", errors="coerce"
        )
    _refuse_unparsed(wall, wall_text, "DateTime", "a time of the form YYYY-MM-DD HH:MM:SS")
    return {
        "house_id": meters,
        "utc": _wall_to_utc(meters, wall, wall_text, timezone),
        "consumption_kwh": text(table.column_names[3]),
        "temperature": None,
        "voltage": None,
    }


def _uci_columns(table: pa.Table, timezone: str) -> dict[str, object]:
    text = _text(table)
    names = {n.strip(): n for n in table.column_names}
    wall_text = (pd.Series(text(names["Date"])) + " " + pd.Series(text(names["Time"]))).to_numpy()
    wall = pd.to_datetime(pd.Series(wall_text), format="%d/%m/%Y %H:%M:%S", errors="coerce")
    _refuse_unparsed(wall, wall_text, "Date;Time", "a time of the form dd/mm/yyyy;HH:MM:SS")
    meters = np.full(table.num_rows, UCI_METER_ID, dtype=object)
    return {
        "house_id": meters,
        "utc": wall - UCI_UTC_OFFSET,
        "consumption_kwh": _kw_minutes_as_kwh(text(names["Global_active_power"])),
        "temperature": None,
        "voltage": text(names["Voltage"]),
    }


FORMATS = (
    Format(
        "long",
        ",",
        lambda h: (
            [n.lower() for n in h[:3]] == ["meter_id", "interval_start", "energy_kwh"]
            and set(n.lower() for n in h[3:]) <= {"temperature_c", "voltage_v"}
        ),
        _long_columns,
    ),
    Format(
        "london_lcl",
        ",",
        lambda h: h == ["LCLid", "stdorToU", "DateTime", "KWH/hh (per half hour)"],
        _lcl_columns,
    ),
    Format(
        "uci_household",
        ";",
        lambda h: h[:3] == ["Date", "Time", "Global_active_power"] and "Voltage" in h,
        _uci_columns,
    ),
)


def _text(table: pa.Table) -> Callable[[str], np.ndarray]:
    return lambda name: table[name].to_numpy(zero_copy_only=False).astype(object)


def _refuse_unparsed(values: pd.Series, text, column: str, expected: str) -> None:
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        raise UnreadableFile(
            f"Line {bad[0] + 2}: {column} {str(text[bad[0]])!r} is not {expected} "
            f"({len(bad)} such line(s))."
        )


def _kw_minutes_as_kwh(kw: np.ndarray) -> pa.Array:
    """A minute's average kW as that minute's kWh, as text; what does not parse stays as it is."""
    text = pa.array(kw, pa.string())
    trimmed = pc.utf8_trim_whitespace(text)
    number = pc.cast(
        pc.if_else(pc.match_substring_regex(trimmed, NUMBER), trimmed, None), pa.float64()
    )
    # 3 decimals of kW are 7 of kWh a minute: rounding there keeps the file's precision.
    kwh = pc.cast(pc.round(pc.divide(number, 60.0), 7), pa.string())
    return pc.if_else(pc.is_null(number), text, kwh)


def _wall_to_utc(meters, wall: pd.Series, text, timezone: str) -> pd.Series:
    """Local wall-clock times as UTC instants: a repeated time's first appearance for a meter
    is the earlier instant, its second the later; a skipped time refuses the file."""
    frame = pd.DataFrame({"meter": meters, "wall": wall})
    first = (frame.groupby(["meter", "wall"]).cumcount() == 0).to_numpy()
    local = pd.DatetimeIndex(wall).tz_localize(timezone, ambiguous=first, nonexistent="NaT")
    skipped = np.flatnonzero(local.isna())
    if len(skipped):
        raise UnreadableFile(
            f"Line {skipped[0] + 2}: {str(text[skipped[0]])!r} does not exist in {timezone} "
            f"(the clocks skip it), so it names no instant ({len(skipped)} such line(s))."
        )
    return pd.Series(local.tz_convert("UTC").tz_localize(None))


def _first_line(path: Path) -> str:
    with path.open("rb") as f:
        head = f.readline(1 << 16)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    try:
        return head.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise UnreadableFile("Its first line is not UTF-8 text: it is no readings file.") from None


def detect(path: Path) -> tuple[Format, list[str]]:
    """The file's format and its column names as written, from its first line."""
    line = _first_line(path)
    for fmt in FORMATS:
        names = line.split(fmt.delimiter)
        if fmt.matches([n.strip() for n in names]):
            return fmt, names
    shown = line if len(line) <= 80 else line[:77] + "..."
    raise UnreadableFile(
        f"Its header {shown!r} is none of the known formats (long: "
        "meter_id,interval_start,energy_kwh[,temperature_c][,voltage_v]; London LCL; UCI "
        "household)."
    )


def _read_table(path: Path, fmt: Format, names: list[str]) -> pa.Table:
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=fmt.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0]
        raise UnreadableFile(f"It does not parse as {fmt.name} CSV: {reason}.") from None


def interval_of(meters: np.ndarray, utc: pd.Series) -> int:
    """Minutes between a meter's readings, the same for every meter of the file.

    A meter's interval is the most common step between its distinct times; a step that is no
    multiple of it (readings 30 and then 15 minutes apart) mixes intervals and refuses the file.
    """
    frame = pd.DataFrame({"meter": meters, "t": utc}).drop_duplicates().sort_values(["meter", "t"])
    step = frame.groupby("meter")["t"].diff().dt.total_seconds().div(60).dropna()
    if step.empty:
        return 0
    by_meter = step.groupby(frame.loc[step.index, "meter"])
    usual = by_meter.agg(lambda s: s.mode().iloc[0])
    off = step[(step % usual.reindex(frame.loc[step.index, "meter"]).to_numpy()) != 0]
    if not off.empty:
        meter = frame.loc[off.index[0], "meter"]
        raise UnreadableFile(
            f"Meter {meter} mixes intervals: readings {usual[meter]:g} and {off.iloc[0]:g} "
            "minutes apart."
        )
    if usual.nunique() > 1:
        raise UnreadableFile(
            f"Its meters read at different intervals ({', '.join(f'{v:g}' for v in sorted(usual.unique()))} "
            "minutes); a file holds one interval."
        )
    return int(usual.iloc[0])


def read_delivery(path: Path, where: Where, ingested_at: dt.datetime) -> Delivery:
    """The readings of one delivered file, or :class:`UnreadableFile` saying why not."""
    fmt, names = detect(path)
    table = _read_table(path, fmt, names)
    if table.num_rows == 0:
        raise UnreadableFile("It holds a header and no readings.")
    columns = fmt.columns(table, where.timezone)
    empty_id = np.flatnonzero(pd.Series(columns["house_id"]).str.strip().fillna("") == "")
    if len(empty_id):
        raise UnreadableFile(f"Line {empty_id[0] + 2} names no meter.")
    utc: pd.Series = columns["utc"]
    minutes = interval_of(columns["house_id"], utc)
    if minutes and minutes != where.interval_minutes:
        raise UnreadableFile(
            f"Its readings are {minutes} minutes apart, but the pipeline runs at "
            f"{where.interval_minutes} (ENERGY_INTERVAL_MINUTES)."
        )
    step = where.interval_minutes * 60
    seconds = (utc - pd.Timestamp(0)).dt.total_seconds().to_numpy()
    off_grid = np.flatnonzero(seconds % step != 0)
    if len(off_grid):
        raise UnreadableFile(
            f"Line {off_grid[0] + 2}: {utc.iloc[off_grid[0]]} UTC is not on the "
            f"{where.interval_minutes}-minute grid."
        )
    days = _local_days(utc, where.timezone)
    _refuse_outside(days, where)
    n = table.num_rows
    readings = pa.table(
        {
            "house_id": pc.utf8_trim_whitespace(pa.array(columns["house_id"], pa.string())),
            "simulated_timestamp": pa.array(utc.to_numpy("datetime64[us]"), pa.timestamp("us")),
            "ingested_at": pa.array(
                np.full(n, np.datetime64(ingested_at, "us")), pa.timestamp("us")
            ),
            "consumption_kwh": pa.array(columns["consumption_kwh"], pa.string()),
            "temperature": _optional(columns["temperature"], n),
            "voltage": _optional(columns["voltage"], n),
            "day": pa.array(days, pa.date32()),
        }
    )
    assert readings.schema.remove(readings.schema.get_field_index("day")) == RAW_SCHEMA
    return Delivery(fmt.name, readings, minutes or where.interval_minutes)


def _optional(values, n: int) -> pa.Array:
    return pa.nulls(n, pa.string()) if values is None else pa.array(values, pa.string())


def _local_days(utc: pd.Series, timezone: str) -> np.ndarray:
    local = pd.DatetimeIndex(utc).tz_localize("UTC").tz_convert(timezone)
    return local.tz_localize(None).normalize().to_numpy("datetime64[D]")


def _refuse_outside(days: np.ndarray, where: Where) -> None:
    first, last = days.min().astype(dt.date), days.max().astype(dt.date)
    if first < where.first_day:
        raise UnreadableFile(
            f"It holds readings of {first}, before the first day of the partitions "
            f"({where.first_day}, ENERGY_SIM_START)."
        )
    if last > where.last_day:
        raise UnreadableFile(
            f"It holds readings of {last}, after the last day of the partitions "
            f"({where.last_day}; ENERGY_SIM_END is the day after)."
        )
