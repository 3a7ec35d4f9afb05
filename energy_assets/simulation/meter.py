"""From load to what the head-end delivers: interval readings, voltage, faults, and the truth.

``simulate_day`` is the simulator's plain core: houses and a day in, two Arrow tables out
(the raw readings as text, and one truth row per injected fault, anomaly or change).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from energy_assets.calendar import LocalDay, local_day
from energy_assets.simulation import streams as S
from energy_assets.simulation.houses import HOUSES_PER_FEEDER, house_index
from energy_assets.simulation.load import TEMPLATES, DayLoad, Episodes, HouseArrays, simulate_load
from energy_assets.simulation.randomness import keyed, normal, uniform, uniform_grid
from energy_assets.simulation.settings import SimulationSettings
from energy_assets.simulation.weather import epoch_day, seasonal_position

RAW_SCHEMA = pa.schema(
    [
        ("house_id", pa.string()),
        ("simulated_timestamp", pa.timestamp("us")),
        ("ingested_at", pa.timestamp("us")),
        ("consumption_kwh", pa.string()),
        ("temperature", pa.string()),
        ("voltage", pa.string()),
    ]
)
TRUTH_SCHEMA = pa.schema(
    [
        ("house_id", pa.string()),
        ("day", pa.date32()),
        ("simulated_timestamp", pa.timestamp("us")),
        ("kind", pa.string()),
        ("category", pa.string()),
        ("field", pa.string()),
        ("delivered_value", pa.string()),
        ("true_value", pa.float64()),
        ("ingested_at", pa.timestamp("us")),
    ]
)
#: The malformed values the original project's meters sent, in the order of their sub-ranges.
MALFORMED = (None, "error", "-9999", "9999", "NaN")
MALFORMED_KINDS = ("null", "error", "sentinel_-9999", "sentinel_9999", "nan")
VALUE_FIELDS = ("consumption_kwh", "temperature", "voltage")
US_PER_MIN = 60_000_000


def houses_arrays(houses: pa.Table) -> HouseArrays:
    """Numpy arrays of the registry columns the load model needs."""
    idx = house_index(houses["house_id"])
    return HouseArrays(
        index=idx,
        occupants=houses["occupants"].to_numpy(),
        annual_kwh=houses["annual_kwh"].to_numpy(),
        electric_heating=pc.equal(houses["heating"], "electric").to_numpy(zero_copy_only=False),
        has_ac=houses["has_ac"].to_numpy(zero_copy_only=False),
        has_shower=houses["has_electric_shower"].to_numpy(zero_copy_only=False),
        feeder=(idx - 1) // HOUSES_PER_FEEDER + 1,
    )


def register_deltas(energy_kwh: np.ndarray, decimals: int = 4) -> np.ndarray:
    """Interval energies as a meter reports them: differences of its rounded register.

    Rounding each interval on its own would drift when a home draws a steady load (every
    minute of a 50 W night rounds the same way); the register's differences add up to the
    day's energy whatever the interval.
    """
    register = np.round(np.cumsum(energy_kwh, axis=1), decimals)
    return np.round(np.diff(register, axis=1, prepend=0.0), decimals)


def _text(values: np.ndarray, decimals: int) -> pa.Array:
    return pc.cast(pa.array(np.round(values, decimals)), pa.string())


def _as_text(values: np.ndarray) -> np.ndarray:
    """Delivered values as the truth lists them: text, as they were."""
    return pc.cast(pa.array(values), pa.string()).to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class MeterDay:
    """What every step of a day's metering shares: the settings, the houses and the local day."""

    settings: SimulationSettings
    houses: HouseArrays
    local: LocalDay

    @property
    def seed(self) -> int:
        """The simulation's seed."""
        return self.settings.seed

    @cached_property
    def dnum(self) -> int:
        """The day as days since 1970: a key of the day's random draws."""
        return epoch_day(self.local.day)

    @property
    def step(self) -> int:
        """Minutes of an interval."""
        return self.settings.interval_minutes

    @cached_property
    def starts(self) -> np.ndarray:
        """Each interval's start, in minutes from the day's start."""
        return np.arange(self.local.intervals(self.step)) * self.step

    @cached_property
    def timestamps(self) -> np.ndarray:
        """Each interval's start, in microseconds since 1970 UTC."""
        return self.local.start_minute * US_PER_MIN + self.starts.astype(np.int64) * US_PER_MIN

    def grid(self, stream: int) -> np.ndarray:
        """One uniform draw of ``stream`` per house and interval of the day."""
        return uniform_grid(
            keyed(self.seed, stream, self.houses.index, self.dnum), self.starts.size
        )


@dataclass(frozen=True)
class Channels:
    """The meter's true channels, house by interval: energy (kWh), temperature, voltage."""

    energy: np.ndarray
    temperature: np.ndarray
    voltage: np.ndarray


@dataclass(frozen=True)
class Faults:
    """Where the meter's faults struck (house-by-interval masks) and the energy it delivered."""

    in_gap: np.ndarray
    stuck: np.ndarray
    malformed: np.ndarray
    malformed_kind: np.ndarray  # an index into MALFORMED
    malformed_field: np.ndarray  # an index into VALUE_FIELDS
    unit_error: np.ndarray
    negative: np.ndarray
    delivered_kwh: np.ndarray

    @cached_property
    def present(self) -> np.ndarray:
        """The readings delivered at all."""
        return ~self.in_gap


@dataclass(frozen=True)
class Deliveries:
    """When each reading reached the head-end, and which came late, out of order or twice."""

    ingested: np.ndarray  # microseconds since 1970 UTC
    delay_draw: np.ndarray  # the uniform draw that set a late or early delivery's shift
    late: np.ndarray
    out_of_order: np.ndarray
    dup_same: np.ndarray
    dup_conflict: np.ndarray


@dataclass(frozen=True)
class Conflicts:
    """The earlier, wrong deliveries of conflicting duplicates, in row-major order."""

    wrong: np.ndarray
    earlier_at: np.ndarray

    @classmethod
    def none(cls) -> Conflicts:
        """No conflicting duplicate today."""
        return cls(np.array([]), np.array([], dtype=np.int64))


def simulate_day(
    houses: pa.Table, day: dt.date, settings: SimulationSettings
) -> tuple[pa.Table, pa.Table]:
    """Raw readings and truth for ``houses`` on the local ``day``: a pure function of its inputs.

    The day is the neighbourhood's local day (23, 24 or 25 hours); timestamps are UTC.
    """
    if houses.num_rows == 0:
        return RAW_SCHEMA.empty_table(), TRUTH_SCHEMA.empty_table()
    meter = MeterDay(
        settings, houses_arrays(houses), local_day(day, settings.climate_preset.timezone)
    )
    load = simulate_load(
        meter.houses, meter.local, settings.climate_preset, meter.seed, settings.events
    )
    channels = _channels(meter, load)
    faults = _faults(meter, channels.energy)
    deliveries = _deliveries(meter, faults)
    raw, conflicts = _raw_readings(houses, meter, channels, faults, deliveries)
    truth = _truth(houses, meter, channels, faults, deliveries, conflicts, load.events)
    return raw, truth


def _channels(meter: MeterDay, load: DayLoad) -> Channels:
    """Interval energy from the load, the house's temperature sensor, and its voltage."""
    n_h, step = meter.houses.index.size, meter.step
    energy = register_deltas(load.power_kw.reshape(n_h, meter.starts.size, step).sum(axis=2) / 60.0)
    bias = 0.4 * normal(meter.seed, S.HOUSE_SENSOR, meter.houses.index)
    temp_noise = 0.15 * (meter.grid(S.TEMPERATURE_NOISE) - 0.5) * np.sqrt(12)
    temperature = load.outdoor_c[meter.starts][None, :] + bias[:, None] + temp_noise
    voltage = _voltage(meter, energy * 60.0 / step)
    return Channels(energy, temperature, voltage)


def _gaps(meter: MeterDay) -> np.ndarray:
    """Readings never delivered: one run of lost deliveries in some house-days."""
    seed, idx, dnum, step = meter.seed, meter.houses.index, meter.dnum, meter.step
    gap_on = uniform(seed, S.FAULT_GAP, idx, dnum) < meter.settings.faults.gap_per_house_day
    gap_start = np.floor(uniform(seed, S.FAULT_GAP_START, idx, dnum) * meter.local.minutes)
    gap_minutes = np.clip(
        np.exp(np.log(45) + normal(seed, S.FAULT_GAP_LENGTH, idx, dnum)), step, 360
    )
    gap_len = np.maximum(1, np.round(gap_minutes / step)) * step
    starts = meter.starts[None, :]
    return (
        gap_on[:, None] & (starts >= gap_start[:, None]) & (starts < (gap_start + gap_len)[:, None])
    )


def _stuck(
    meter: MeterDay, energy: np.ndarray, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A stuck register: a run repeating the reading before it. The run's mask (where the
    repeat is wrong) and the energy delivered."""
    seed, idx, dnum, n_i = meter.seed, meter.houses.index, meter.dnum, meter.starts.size
    stuck_on = uniform(seed, S.FAULT_STUCK, idx, dnum) < meter.settings.faults.stuck_per_house_day
    stuck_start = 1 + np.floor(uniform(seed, S.FAULT_STUCK_START, idx, dnum) * (n_i - 1)).astype(
        int
    )
    stuck_len = np.maximum(
        2, np.round((60 + 300 * uniform(seed, S.FAULT_STUCK_LENGTH, idx, dnum)) / meter.step)
    )
    cols = np.arange(n_i)[None, :]
    stuck = (
        stuck_on[:, None]
        & (cols >= stuck_start[:, None])
        & (cols < (stuck_start + stuck_len)[:, None])
    )
    stuck &= present
    delivered_kwh = np.round(energy, 4)
    last_value = delivered_kwh[np.arange(idx.size), stuck_start - 1]
    delivered_kwh = np.where(stuck, last_value[:, None], delivered_kwh)
    stuck &= delivered_kwh != np.round(energy, 4)  # a repeat of the right value is no fault
    return stuck, delivered_kwh


def _faults(meter: MeterDay, energy: np.ndarray) -> Faults:
    """Gaps first (rows never delivered), then stuck meters, then value faults."""
    rates = meter.settings.faults
    in_gap = _gaps(meter)
    present = ~in_gap
    stuck, delivered_kwh = _stuck(meter, energy, present)
    u_value = meter.grid(S.FAULT_VALUE)
    u_field = meter.grid(S.FAULT_FIELD)
    ok = present & ~stuck
    malformed = ok & (u_value < rates.malformed)
    unit_error = ok & (u_value >= rates.malformed) & (u_value < rates.malformed + rates.unit_error)
    lo_neg = rates.malformed + rates.unit_error
    negative = ok & (u_value >= lo_neg) & (u_value < lo_neg + rates.negative)
    unit_error &= delivered_kwh > 0
    negative &= delivered_kwh > 0
    delivered_kwh = np.where(unit_error, np.round(energy * 1000.0, 1), delivered_kwh)
    delivered_kwh = np.where(negative, -delivered_kwh, delivered_kwh)
    return Faults(
        in_gap=in_gap,
        stuck=stuck,
        malformed=malformed,
        malformed_kind=np.minimum((u_value / max(rates.malformed, 1e-12) * 5).astype(int), 4),
        malformed_field=np.where(u_field < 0.6, 0, np.where(u_field < 0.8, 1, 2)),
        unit_error=unit_error,
        negative=negative,
        delivered_kwh=delivered_kwh,
    )


def _deliveries(meter: MeterDay, faults: Faults) -> Deliveries:
    """A few minutes after the interval ends; some late, some out of order, some twice."""
    rates, present = meter.settings.faults, faults.present
    lag_s = 30 + np.floor(meter.grid(S.DELIVERY_LAG) * 270)
    ingested = meter.timestamps[None, :] + (meter.step * 60 + lag_s).astype(np.int64) * 1_000_000
    u_del = meter.grid(S.FAULT_DELIVERY)
    u_delay = meter.grid(S.FAULT_DELAY)
    late = present & (u_del < rates.late)
    out_of_order = present & (u_del >= rates.late) & (u_del < rates.late + rates.out_of_order)
    out_of_order[:, 0] = False
    ingested = np.where(
        late, ingested + (3600 + u_delay * 35 * 3600).astype(np.int64) * 1_000_000, ingested
    )
    previous = np.concatenate([ingested[:, :1], ingested[:, :-1]], axis=1)
    ingested = np.where(
        out_of_order, previous - (1 + u_delay * 119).astype(np.int64) * 1_000_000, ingested
    )
    u_dup = meter.grid(S.FAULT_DUPLICATE)
    clean = present & ~faults.stuck & ~faults.malformed & ~faults.unit_error & ~faults.negative
    dup_same = clean & (u_dup < rates.duplicate_identical)
    dup_conflict = (
        clean
        & (u_dup >= rates.duplicate_identical)
        & (u_dup < rates.duplicate_identical + rates.duplicate_conflicting)
    )
    return Deliveries(ingested, u_delay, late, out_of_order, dup_same, dup_conflict)


def _raw_readings(
    houses: pa.Table, meter: MeterDay, channels: Channels, faults: Faults, deliveries: Deliveries
) -> tuple[pa.Table, Conflicts]:
    """The readings as the head-end delivers them, as text, with the duplicate deliveries; and
    the conflicting duplicates' wrong values."""
    n_i = meter.starts.size
    rows_h, rows_i = np.nonzero(faults.present)
    flat = rows_h * n_i + rows_i
    house_col = pc.take(houses["house_id"].combine_chunks(), pa.array(rows_h))
    columns = [
        _text(faults.delivered_kwh.ravel()[flat], 4),
        _text(channels.temperature.ravel()[flat], 1),
        _text(channels.voltage.ravel()[flat], 1),
    ]
    mal = faults.malformed.ravel()[flat]
    mal_kind = faults.malformed_kind.ravel()[flat]
    mal_field = faults.malformed_field.ravel()[flat]
    for f in range(3):
        mask = mal & (mal_field == f)
        if mask.any():
            replacement = pa.array([MALFORMED[k] for k in mal_kind[mask]], pa.string())
            columns[f] = pc.replace_with_mask(columns[f], pa.array(mask), replacement)
    raw = pa.table(
        [
            house_col,
            pa.array(meter.timestamps[rows_i], pa.timestamp("us")),
            pa.array(deliveries.ingested.ravel()[flat], pa.timestamp("us")),
            *columns,
        ],
        schema=RAW_SCHEMA,
    )
    extra = []
    same = np.nonzero(deliveries.dup_same.ravel()[flat])[0]
    if same.size:
        extra.append(raw.take(pa.array(same)))
    conflicts = Conflicts.none()
    conflict = np.nonzero(deliveries.dup_conflict.ravel()[flat])[0]
    if conflict.size:
        conflicts = _conflicts(meter, channels, deliveries, flat[conflict])
        earlier = (
            raw.take(pa.array(conflict))
            .set_column(2, "ingested_at", pa.array(conflicts.earlier_at, pa.timestamp("us")))
            .set_column(3, "consumption_kwh", _text(conflicts.wrong, 4))
        )
        extra.append(earlier)
    if extra:
        raw = pa.concat_tables([raw, *extra])
    return raw, conflicts


def _conflicts(
    meter: MeterDay, channels: Channels, deliveries: Deliveries, flat: np.ndarray
) -> Conflicts:
    """Earlier deliveries of a wrong value (half to one and a half times the right one) of the
    readings at ``flat``, their row-major places in the day's house-by-interval grid."""
    h, i = np.divmod(flat, meter.starts.size)
    factor = 0.5 + uniform(meter.seed, S.FAULT_CONFLICT_VALUE, meter.houses.index[h], meter.dnum, i)
    wrong = np.round(channels.energy.ravel()[flat] * factor + 0.001, 4)
    shift = (60 + deliveries.delay_draw.ravel()[flat] * 3540).astype(np.int64) * 1_000_000
    return Conflicts(wrong, deliveries.ingested.ravel()[flat] - shift)


def _voltage(meter: MeterDay, mean_kw: np.ndarray) -> np.ndarray:
    """Voltage at each house: the feeder's tap minus a drop that follows the feeder's load."""
    seed, climate, feeder = meter.seed, meter.settings.climate_preset, meter.houses.feeder
    tap = 1.02 + 0.02 * uniform(seed, S.FEEDER_TAP, feeder)
    drop = 0.03 + 0.03 * uniform(seed, S.FEEDER_DROP, feeder)
    wall = meter.local.wall_minutes()[meter.starts]
    # The feeder's expected simultaneous load: the standard profile, heavier in winter. It is a
    # function of the feeder, not of the houses simulated with it, so it keeps determinism.
    season = float(seasonal_position(climate, np.array([meter.dnum + 0.5]))[0])
    feeder_shape = TEMPLATES[0][wall] / TEMPLATES[0].max() * (1 + 0.25 * max(0.0, -season))
    nominal = climate.nominal_voltage
    v = nominal * (tap[:, None] - drop[:, None] * feeder_shape[None, :]) - 0.6 * mean_kw
    v = v + 0.5 * (meter.grid(S.VOLTAGE_NOISE) - 0.5) * np.sqrt(12)
    u_event = meter.grid(S.VOLTAGE_EVENT)
    sag = u_event < 3e-4
    swell = (u_event >= 3e-4) & (u_event < 4e-4)
    depth = u_event / 4e-4
    v = np.where(sag, v * (0.80 + 0.08 * depth / 0.75), v)
    v = np.where(swell, v * (1.11 + 0.03 * depth), v)
    return v


@dataclass(frozen=True)
class _FaultRows:
    """Truth rows of the faults at a mask's places, as columns: the house, the interval and,
    where the reading was delivered, when."""

    ids: np.ndarray
    timestamps: np.ndarray
    ingested: np.ndarray

    def of(
        self,
        mask: np.ndarray,
        kind: str | np.ndarray,
        field: str | np.ndarray | None,
        delivered: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        true_value: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        delivered_row: bool = True,
    ) -> dict | None:
        """The rows of ``mask``'s faults; ``kind`` and ``field`` a value or a grid of them."""
        h, i = np.nonzero(mask)
        n = h.size
        if n == 0:
            return None

        def each(value: str | np.ndarray | None) -> np.ndarray:
            return value[h, i] if isinstance(value, np.ndarray) else np.full(n, value, dtype=object)

        return {
            "house_id": self.ids[h],
            "simulated_timestamp": self.timestamps[i],
            "kind": each(kind),
            "category": each("fault"),
            "field": each(field),
            "delivered_value": each(None) if delivered is None else delivered(h, i),
            "true_value": np.full(n, np.nan) if true_value is None else true_value(h, i),
            "ingested_at": self.ingested[h, i] if delivered_row else each(None),
        }


def _truth(
    houses: pa.Table,
    meter: MeterDay,
    channels: Channels,
    faults: Faults,
    deliveries: Deliveries,
    conflicts: Conflicts,
    events: dict[str, Episodes],
) -> pa.Table:
    """One truth row per injected fault (house and interval) and per house-day event."""
    ids = np.array(houses["house_id"].to_pylist(), dtype=object)
    parts = _fault_parts(ids, meter, channels, faults, deliveries, conflicts)
    tables = [_truth_table(p, meter.local.day) for p in parts]
    tables += _event_tables(ids, meter.local.day, events)
    if not tables:
        return TRUTH_SCHEMA.empty_table()
    return pa.concat_tables(tables)


def _fault_parts(
    ids: np.ndarray,
    meter: MeterDay,
    channels: Channels,
    faults: Faults,
    deliveries: Deliveries,
    conflicts: Conflicts,
) -> list[dict]:
    """The faults' truth rows as columns, a dict a kind, in the order the truth lists them."""
    rows = _FaultRows(ids, meter.timestamps, deliveries.ingested)
    true_fields, decimals = (channels.energy, channels.temperature, channels.voltage), (4, 1, 1)

    def true_kwh(h: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.round(channels.energy[h, i], 4)

    def delivered_kwh(h: np.ndarray, i: np.ndarray) -> np.ndarray:
        return _as_text(faults.delivered_kwh[h, i])

    def malformed_value(h: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.array(MALFORMED, dtype=object)[faults.malformed_kind[h, i]]

    def malformed_true(h: np.ndarray, i: np.ndarray) -> np.ndarray:
        f = faults.malformed_field[h, i]
        out = np.empty(h.size)
        for k in range(3):
            sel = f == k
            out[sel] = np.round(true_fields[k][h[sel], i[sel]], decimals[k])
        return out

    consumption = "consumption_kwh"
    parts = [
        rows.of(faults.in_gap, "gap", None, true_value=true_kwh, delivered_row=False),
        rows.of(faults.stuck, "stuck_meter", consumption, delivered_kwh, true_kwh),
        rows.of(faults.unit_error, "unit_error", consumption, delivered_kwh, true_kwh),
        rows.of(faults.negative, "negative", consumption, delivered_kwh, true_kwh),
        rows.of(
            faults.malformed,
            np.array(MALFORMED_KINDS, dtype=object)[faults.malformed_kind],
            np.array(VALUE_FIELDS, dtype=object)[faults.malformed_field],
            malformed_value,
            malformed_true,
        ),
        rows.of(deliveries.late, "late", None),
        rows.of(deliveries.out_of_order, "out_of_order", None),
        rows.of(deliveries.dup_same, "duplicate_identical", None),
    ]
    # The earlier, wrong deliveries, in the (row-major) order _raw_readings made them: their
    # values and times of delivery are the duplicates' own, not the grid's.
    earlier = rows.of(
        deliveries.dup_conflict, "duplicate_conflicting", consumption, true_value=true_kwh
    )
    if earlier is not None:
        earlier |= {
            "delivered_value": _as_text(conflicts.wrong),
            "ingested_at": conflicts.earlier_at,
        }
    return [p for p in (*parts, earlier) if p is not None]


def _truth_table(part: dict, day: dt.date) -> pa.Table:
    """A truth table of one kind's columns (:func:`_fault_parts`)."""
    n = len(part["house_id"])
    ingested = part["ingested_at"]
    return pa.table(
        {
            "house_id": pa.array(part["house_id"], pa.string()),
            "day": pa.array([day] * n, pa.date32()),
            "simulated_timestamp": pa.array(part["simulated_timestamp"], pa.timestamp("us")),
            "kind": pa.array(part["kind"], pa.string()),
            "category": pa.array(part["category"], pa.string()),
            "field": pa.array(part["field"], pa.string()),
            "delivered_value": pa.array(part["delivered_value"], pa.string()),
            "true_value": pa.array(part["true_value"], pa.float64(), from_pandas=True),
            "ingested_at": pa.array(
                list(ingested) if ingested.dtype == object else ingested, pa.timestamp("us")
            ),
        },
        schema=TRUTH_SCHEMA,
    )


def _event_tables(ids: np.ndarray, day: dt.date, events: dict[str, Episodes]) -> list[pa.Table]:
    """One truth row per house with a house-day event on (a new appliance: the day it came)."""
    tables = []
    for ep in events.values():
        h = np.nonzero(ep.active if ep.kind != "new_appliance" else ep.starts_today)[0]
        if h.size == 0:
            continue
        tables.append(
            pa.table(
                {
                    "house_id": pa.array(ids[h], pa.string()),
                    "day": pa.array([day] * h.size, pa.date32()),
                    "simulated_timestamp": pa.nulls(h.size, pa.timestamp("us")),
                    "kind": pa.array([ep.kind] * h.size, pa.string()),
                    "category": pa.array([ep.category] * h.size, pa.string()),
                    "field": pa.nulls(h.size, pa.string()),
                    "delivered_value": pa.nulls(h.size, pa.string()),
                    "true_value": pa.array(ep.size[h], pa.float64()),
                    "ingested_at": pa.nulls(h.size, pa.timestamp("us")),
                },
                schema=TRUTH_SCHEMA,
            )
        )
    return tables
