"""The neighbourhood registry: one row a household, deterministic from the seed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy.special import ndtr, ndtri

from energy_assets.simulation import streams as S
from energy_assets.simulation.randomness import uniform
from energy_assets.simulation.settings import (
    PROFILE_BANDS_KWH,
    PROFILE_TDCV_KWH,
    PROFILES,
    SimulationSettings,
)

#: Houses a feeder (a low-voltage distribution cable) serves; fixed, so that a house's feeder
#: does not depend on how many houses are simulated.
HOUSES_PER_FEEDER = 25
#: Spread of annual targets around the profile's typical value (log-normal sigma).
ANNUAL_SIGMA = 0.12

HOUSES_SCHEMA = pa.schema(
    [
        ("house_id", pa.string()),
        ("profile", pa.string()),
        ("occupants", pa.int32()),
        ("floor_area_m2", pa.float64()),
        ("heating", pa.string()),
        ("has_ac", pa.bool_()),
        ("has_electric_shower", pa.bool_()),
        ("feeder_id", pa.string()),
        ("annual_kwh", pa.float64()),
    ]
)


def house_id(index: int) -> str:
    """The id of the house with 1-based ``index``."""
    return f"H{index:05d}"


def house_index(ids: pa.Array | list[str]) -> np.ndarray:
    """The 1-based indexes of house ids (``H00042`` -> 42)."""
    values = ids.to_pylist() if isinstance(ids, pa.Array | pa.ChunkedArray) else ids
    return np.array([int(v[1:]) for v in values], dtype=np.int64)


def make_houses(settings: SimulationSettings) -> pa.Table:
    """The registry of ``settings.houses`` households: profile, traits, feeder, annual target."""
    seed, climate = settings.seed, settings.climate_preset
    idx = np.arange(1, settings.houses + 1, dtype=np.int64)
    u = uniform(seed, S.HOUSE_PROFILE, idx)
    cut = np.cumsum(settings.profile_mix)
    profile_code = np.searchsorted(cut, u, side="right").clip(0, 2)
    profile = np.array(PROFILES)[profile_code]

    # Bigger households use more: 1-2 people in low, 2-4 in medium, 3-6 in high.
    occ_lo = np.array([1, 2, 3])[profile_code]
    occ_span = np.array([2, 3, 4])[profile_code]
    occupants = occ_lo + np.floor(uniform(seed, S.HOUSE_OCCUPANTS, idx) * occ_span).astype(int)

    area_lo = np.array([45.0, 70.0, 110.0])[profile_code]
    area_span = np.array([40.0, 60.0, 120.0])[profile_code]
    floor_area = np.round(area_lo + uniform(seed, S.HOUSE_AREA, idx) * area_span, 1)

    # Electric heating is likelier in bigger-consuming homes; gas otherwise; some heat with
    # neither (kerosene, wood, or not at all).
    electric_p = climate.electric_heating_share * np.array([0.6, 1.0, 1.6])[profile_code]
    u_heat = uniform(seed, S.HOUSE_HEATING, idx)
    heating = np.where(
        u_heat < electric_p,
        "electric",
        np.where(u_heat < electric_p + climate.gas_heating_share, "gas", "none"),
    )
    ac_p = climate.air_conditioning_share * np.array([0.5, 1.0, 1.7])[profile_code]
    has_ac = uniform(seed, S.HOUSE_AC, idx) < ac_p
    has_shower = uniform(seed, S.HOUSE_SHOWER, idx) < 0.08

    tdcv = np.array([PROFILE_TDCV_KWH[p] for p in PROFILES])[profile_code]
    lo = np.array([PROFILE_BANDS_KWH[p][0] for p in PROFILES])[profile_code]
    hi = np.array([PROFILE_BANDS_KWH[p][1] for p in PROFILES])[profile_code]
    # Spread between houses of a profile: log-normal (sigma 0.12) truncated to the band by
    # drawing its quantile inside the band, so no house piles up on an edge (clipping put about
    # one house in eight of each profile exactly on a band edge).
    lo_z = np.log(lo * 1.04 / tdcv) / ANNUAL_SIGMA
    hi_z = np.log(hi * 0.96 / tdcv) / ANNUAL_SIGMA
    u_spread = uniform(seed, S.HOUSE_SPREAD, idx, 1)
    z = ndtri(ndtr(lo_z) + u_spread * (ndtr(hi_z) - ndtr(lo_z)))
    annual = tdcv * np.exp(ANNUAL_SIGMA * z)

    feeder = (idx - 1) // HOUSES_PER_FEEDER + 1
    return pa.table(
        {
            "house_id": [house_id(i) for i in idx],
            "profile": profile.tolist(),
            "occupants": pa.array(occupants, pa.int32()),
            "floor_area_m2": floor_area,
            "heating": heating.tolist(),
            "has_ac": has_ac,
            "has_electric_shower": has_shower,
            "feeder_id": [f"F{f:03d}" for f in feeder],
            "annual_kwh": np.round(annual, 1),
        },
        schema=HOUSES_SCHEMA,
    )
