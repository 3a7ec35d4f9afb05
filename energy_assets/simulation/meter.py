"""From load to what the head-end delivers: interval readings, voltage, faults, and the truth.

``simulate_day`` is the simulator's plain core: houses and a day in, two Arrow tables out
(the raw readings as text, and one truth row per injected fault, anomaly or change).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from energy_assets.calendar import LocalDay, local_day
from energy_assets.simulation import streams as S
from energy_assets.simulation.houses import HOUSES_PER_FEEDER, house_index
from energy_assets.simulation.load import TEMPLATES, HouseArrays, simulate_load
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


def simulate_day(
    houses: pa.Table, day: dt.date, settings: SimulationSettings
) -> tuple[pa.Table, pa.Table]:
    """Raw readings and truth for ``houses`` on the local ``day``: a pure function of its inputs.

    The day is the neighbourhood's local day (23, 24 or 25 hours); timestamps are UTC.
    """
    if houses.num_rows == 0:
        return RAW_SCHEMA.empty_table(), TRUTH_SCHEMA.empty_table()
    seed, climate, rates = settings.seed, settings.climate_preset, settings.faults
    ha = houses_arrays(houses)
    idx = ha.index
    n_h, step = idx.size, settings.interval_minutes
    local = local_day(day, climate.timezone)
    n_i = local.intervals(step)
    dnum = epoch_day(day)
    load = simulate_load(ha, local, climate, seed, settings.events)

    # Interval energy (kWh) and the meter's other channels.
    energy = register_deltas(load.power_kw.reshape(n_h, n_i, step).sum(axis=2) / 60.0)
    mean_kw = energy * 60.0 / step
    starts = np.arange(n_i) * step
    bias = 0.4 * normal(seed, S.HOUSE_SENSOR, idx)
    temp_noise = (
        0.15 * (uniform_grid(keyed(seed, S.TEMPERATURE_NOISE, idx, dnum), n_i) - 0.5) * np.sqrt(12)
    )
    temperature = load.outdoor_c[starts][None, :] + bias[:, None] + temp_noise
    voltage = _voltage(settings, ha, local, starts, mean_kw)

    # Faults. Gaps first (rows never delivered), then stuck meters, then value faults.
    present = np.ones((n_h, n_i), dtype=bool)
    hours = starts[None, :]
    gap_on = uniform(seed, S.FAULT_GAP, idx, dnum) < rates.gap_per_house_day
    gap_start = np.floor(uniform(seed, S.FAULT_GAP_START, idx, dnum) * local.minutes)
    gap_minutes = np.clip(
        np.exp(np.log(45) + normal(seed, S.FAULT_GAP_LENGTH, idx, dnum)), step, 360
    )
    gap_len = np.maximum(1, np.round(gap_minutes / step)) * step
    in_gap = (
        gap_on[:, None] & (hours >= gap_start[:, None]) & (hours < (gap_start + gap_len)[:, None])
    )
    present &= ~in_gap

    stuck_on = uniform(seed, S.FAULT_STUCK, idx, dnum) < rates.stuck_per_house_day
    stuck_start = 1 + np.floor(uniform(seed, S.FAULT_STUCK_START, idx, dnum) * (n_i - 1)).astype(
        int
    )
    stuck_len = np.maximum(
        2, np.round((60 + 300 * uniform(seed, S.FAULT_STUCK_LENGTH, idx, dnum)) / step)
    )
    cols = np.arange(n_i)[None, :]
    stuck = (
        stuck_on[:, None]
        & (cols >= stuck_start[:, None])
        & (cols < (stuck_start + stuck_len)[:, None])
    )
    stuck &= present
    delivered_kwh = np.round(energy, 4)
    last_value = delivered_kwh[np.arange(n_h), stuck_start - 1]
    delivered_kwh = np.where(stuck, last_value[:, None], delivered_kwh)
    stuck &= delivered_kwh != np.round(energy, 4)  # a repeat of the right value is no fault

    u_value = uniform_grid(keyed(seed, S.FAULT_VALUE, idx, dnum), n_i)
    u_field = uniform_grid(keyed(seed, S.FAULT_FIELD, idx, dnum), n_i)
    ok = present & ~stuck
    malformed = ok & (u_value < rates.malformed)
    unit_error = ok & (u_value >= rates.malformed) & (u_value < rates.malformed + rates.unit_error)
    lo_neg = rates.malformed + rates.unit_error
    negative = ok & (u_value >= lo_neg) & (u_value < lo_neg + rates.negative)
    unit_error &= delivered_kwh > 0
    negative &= delivered_kwh > 0
    delivered_kwh = np.where(unit_error, np.round(energy * 1000.0, 1), delivered_kwh)
    delivered_kwh = np.where(negative, -delivered_kwh, delivered_kwh)
    kind_of_malformed = np.minimum((u_value / max(rates.malformed, 1e-12) * 5).astype(int), 4)
    field_of_malformed = np.where(u_field < 0.6, 0, np.where(u_field < 0.8, 1, 2))

    # Delivery: a few minutes after the interval ends; some late, some out of order.
    day_start_us = local.start_minute * US_PER_MIN
    ts = day_start_us + starts.astype(np.int64) * US_PER_MIN
    lag_s = 30 + np.floor(uniform_grid(keyed(seed, S.DELIVERY_LAG, idx, dnum), n_i) * 270)
    ingested = ts[None, :] + (step * 60 + lag_s).astype(np.int64) * 1_000_000
    u_del = uniform_grid(keyed(seed, S.FAULT_DELIVERY, idx, dnum), n_i)
    u_delay = uniform_grid(keyed(seed, S.FAULT_DELAY, idx, dnum), n_i)
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

    u_dup = uniform_grid(keyed(seed, S.FAULT_DUPLICATE, idx, dnum), n_i)
    clean = present & ~stuck & ~malformed & ~unit_error & ~negative
    dup_same = clean & (u_dup < rates.duplicate_identical)
    dup_conflict = (
        clean
        & (u_dup >= rates.duplicate_identical)
        & (u_dup < rates.duplicate_identical + rates.duplicate_conflicting)
    )

    # Text, as the head-end delivers it.
    rows_h, rows_i = np.nonzero(present)
    flat = rows_h * n_i + rows_i
    ids = houses["house_id"].combine_chunks()
    house_col = pc.take(ids, pa.array(rows_h))
    cons = _text(delivered_kwh.ravel()[flat], 4)
    temp = _text(temperature.ravel()[flat], 1)
    volt = _text(voltage.ravel()[flat], 1)
    mal = malformed.ravel()[flat]
    mal_kind = kind_of_malformed.ravel()[flat]
    mal_field = field_of_malformed.ravel()[flat]
    columns = [cons, temp, volt]
    for f in range(3):
        mask = mal & (mal_field == f)
        if mask.any():
            replacement = pa.array([MALFORMED[k] for k in mal_kind[mask]], pa.string())
            columns[f] = pc.replace_with_mask(columns[f], pa.array(mask), replacement)
    raw = pa.table(
        [
            house_col,
            pa.array(ts[rows_i], pa.timestamp("us")),
            pa.array(ingested.ravel()[flat], pa.timestamp("us")),
            *columns,
        ],
        schema=RAW_SCHEMA,
    )

    # Duplicate deliveries: identical copies, and earlier deliveries of a wrong value.
    extra = []
    same = np.nonzero(dup_same.ravel()[flat])[0]
    if same.size:
        extra.append(raw.take(pa.array(same)))
    conflict = np.nonzero(dup_conflict.ravel()[flat])[0]
    wrong, earlier_at = np.array([]), np.array([], dtype=np.int64)
    if conflict.size:
        earlier = raw.take(pa.array(conflict))
        factor = 0.5 + uniform(
            seed, S.FAULT_CONFLICT_VALUE, idx[rows_h[conflict]], dnum, rows_i[conflict]
        )
        wrong = np.round(energy.ravel()[flat[conflict]] * factor + 0.001, 4)
        shift = (60 + u_delay.ravel()[flat[conflict]] * 3540).astype(np.int64) * 1_000_000
        earlier_at = ingested.ravel()[flat[conflict]] - shift
        earlier = earlier.set_column(
            2, "ingested_at", pa.array(earlier_at, pa.timestamp("us"))
        ).set_column(3, "consumption_kwh", _text(wrong, 4))
        extra.append(earlier)
    if extra:
        raw = pa.concat_tables([raw, *extra])

    truth = _truth(
        houses,
        day,
        settings,
        energy,
        temperature,
        voltage,
        delivered_kwh,
        ingested,
        ts,
        in_gap,
        stuck,
        malformed,
        kind_of_malformed,
        field_of_malformed,
        unit_error=unit_error,
        negative=negative,
        late=late,
        out_of_order=out_of_order,
        dup_same=dup_same,
        dup_conflict=dup_conflict,
        conflicts=(wrong, earlier_at),
        events=load.events,
    )
    return raw, truth


def _voltage(
    settings: SimulationSettings,
    ha: HouseArrays,
    local: LocalDay,
    starts: np.ndarray,
    mean_kw: np.ndarray,
) -> np.ndarray:
    """Voltage at each house: the feeder's tap minus a drop that follows the feeder's load."""
    seed, climate = settings.seed, settings.climate_preset
    tap = 1.02 + 0.02 * uniform(seed, S.FEEDER_TAP, ha.feeder)
    drop = 0.03 + 0.03 * uniform(seed, S.FEEDER_DROP, ha.feeder)
    dnum = epoch_day(local.day)
    wall = local.wall_minutes()[starts]
    # The feeder's expected simultaneous load: the standard profile, heavier in winter. It is a
    # function of the feeder, not of the houses simulated with it, so it keeps determinism.
    season = float(seasonal_position(climate, np.array([dnum + 0.5]))[0])
    feeder_shape = TEMPLATES[0][wall] / TEMPLATES[0].max() * (1 + 0.25 * max(0.0, -season))
    nominal = climate.nominal_voltage
    v = nominal * (tap[:, None] - drop[:, None] * feeder_shape[None, :]) - 0.6 * mean_kw
    n_i = starts.size
    base = keyed(seed, S.VOLTAGE_NOISE, ha.index, dnum)
    v = v + 0.5 * (uniform_grid(base, n_i) - 0.5) * np.sqrt(12)
    u_event = uniform_grid(keyed(seed, S.VOLTAGE_EVENT, ha.index, dnum), n_i)
    sag = u_event < 3e-4
    swell = (u_event >= 3e-4) & (u_event < 4e-4)
    depth = u_event / 4e-4
    v = np.where(sag, v * (0.80 + 0.08 * depth / 0.75), v)
    v = np.where(swell, v * (1.11 + 0.03 * depth), v)
    return v


def _truth(
    houses: pa.Table,
    day: dt.date,
    settings: SimulationSettings,
    energy,
    temperature,
    voltage,
    delivered_kwh,
    ingested,
    ts,
    in_gap,
    stuck,
    malformed,
    kind_of_malformed,
    field_of_malformed,
    unit_error,
    negative,
    late,
    out_of_order,
    dup_same,
    dup_conflict,
    conflicts,
    events,
) -> pa.Table:
    ids = np.array(houses["house_id"].to_pylist(), dtype=object)
    true_fields = (energy, temperature, voltage)
    decimals = (4, 1, 1)
    parts: list[dict] = []

    def add(
        mask: np.ndarray, kind, field: str | None, delivered, true_value, delivered_row=True
    ) -> None:
        h, i = np.nonzero(mask)
        if h.size == 0:
            return
        kinds = kind[h, i] if isinstance(kind, np.ndarray) else np.full(h.size, kind, dtype=object)
        parts.append(
            {
                "house_id": ids[h],
                "simulated_timestamp": ts[i],
                "kind": kinds,
                "category": np.full(h.size, "fault", dtype=object),
                "field": np.full(h.size, field, dtype=object)
                if not isinstance(field, np.ndarray)
                else field[h, i],
                "delivered_value": delivered(h, i)
                if delivered is not None
                else np.full(h.size, None, dtype=object),
                "true_value": true_value(h, i)
                if true_value is not None
                else np.full(h.size, np.nan),
                "ingested_at": ingested[h, i]
                if delivered_row
                else np.full(h.size, None, dtype=object),
            }
        )

    def cons_true_at(h: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.round(energy[h, i], 4)

    add(in_gap, "gap", None, None, cons_true_at, delivered_row=False)

    def fmt4(h, i):
        return pc.cast(pa.array(delivered_kwh[h, i]), pa.string()).to_numpy(zero_copy_only=False)  # noqa: E731

    add(stuck, "stuck_meter", "consumption_kwh", fmt4, cons_true_at)
    add(unit_error, "unit_error", "consumption_kwh", fmt4, cons_true_at)
    add(negative, "negative", "consumption_kwh", fmt4, cons_true_at)
    mal_kind_names = np.array(MALFORMED_KINDS, dtype=object)[kind_of_malformed]
    mal_values = np.array(MALFORMED, dtype=object)[kind_of_malformed]
    field_names = np.array(VALUE_FIELDS, dtype=object)[field_of_malformed]

    def malformed_true(h: np.ndarray, i: np.ndarray) -> np.ndarray:
        f = field_of_malformed[h, i]
        out = np.empty(h.size)
        for k in range(3):
            sel = f == k
            out[sel] = np.round(true_fields[k][h[sel], i[sel]], decimals[k])
        return out

    add(malformed, mal_kind_names, field_names, lambda h, i: mal_values[h, i], malformed_true)
    add(late, "late", None, None, None)
    add(out_of_order, "out_of_order", None, None, None)
    add(dup_same, "duplicate_identical", None, None, None)
    # The earlier, wrong deliveries, in the (row-major) order simulate_day made them.
    wrong, earlier_at = conflicts
    if dup_conflict.any():
        h, i = np.nonzero(dup_conflict)
        parts.append(
            {
                "house_id": ids[h],
                "simulated_timestamp": ts[i],
                "kind": np.full(h.size, "duplicate_conflicting", dtype=object),
                "category": np.full(h.size, "fault", dtype=object),
                "field": np.full(h.size, "consumption_kwh", dtype=object),
                "delivered_value": pc.cast(pa.array(wrong), pa.string()).to_numpy(
                    zero_copy_only=False
                ),
                "true_value": cons_true_at(h, i),
                "ingested_at": earlier_at,
            }
        )
    table_parts = []
    day_arr = pa.scalar(day, pa.date32())
    for p in parts:
        n = len(p["house_id"])
        table_parts.append(
            pa.table(
                {
                    "house_id": pa.array(p["house_id"], pa.string()),
                    "day": pa.array([day_arr.as_py()] * n, pa.date32()),
                    "simulated_timestamp": pa.array(p["simulated_timestamp"], pa.timestamp("us")),
                    "kind": pa.array(p["kind"], pa.string()),
                    "category": pa.array(p["category"], pa.string()),
                    "field": pa.array(p["field"], pa.string()),
                    "delivered_value": pa.array(p["delivered_value"], pa.string()),
                    "true_value": pa.array(p["true_value"], pa.float64(), from_pandas=True),
                    "ingested_at": pa.array(
                        list(p["ingested_at"])
                        if p["ingested_at"].dtype == object
                        else p["ingested_at"],
                        pa.timestamp("us"),
                    ),
                },
                schema=TRUTH_SCHEMA,
            )
        )
    for ep in events.values():
        h = np.nonzero(ep.active if ep.kind != "new_appliance" else ep.starts_today)[0]
        if h.size == 0:
            continue
        table_parts.append(
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
    if not table_parts:
        return TRUTH_SCHEMA.empty_table()
    return pa.concat_tables(table_parts)
