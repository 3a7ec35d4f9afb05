"""What a simulation is made of: the neighbourhood, its climate and the fault rates.

Every parameter is documented, with its source, in ``docs/simulation.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace

from energy_assets.calendar import local_day


@dataclass(frozen=True)
class Climate:
    """A climate preset: temperature cycles, the grid's nominal voltage, local habits."""

    name: str
    timezone: str
    hemisphere: str  # "north" | "south"
    annual_mean_c: float
    seasonal_amplitude_c: float
    warmest_day_of_year: int
    diurnal_amplitude_c: float
    nominal_voltage: float
    electric_heating_share: float
    gas_heating_share: float
    air_conditioning_share: float
    latitude: float = 0.0  # degrees north: daylight, and so lighting
    longitude: float = 0.0  # degrees east: when the sun is highest on the local clock


CLIMATES: dict[str, Climate] = {
    # Santiago de Chile (Quinta Normal normals): January mean about 21 C, July about 8 C, a wide
    # dry-climate daily swing; Chile's grid is 220 V / 50 Hz.
    "santiago": Climate(
        "santiago",
        "America/Santiago",
        "south",
        14.6,
        6.8,
        20,
        7.0,
        220.0,
        0.20,
        0.55,
        0.12,  # air conditioning: about one home in eight (an assumption, docs/simulation.md)
        latitude=-33.45,
        longitude=-70.67,
    ),
    # London (Heathrow normals): July mean about 19 C, January about 5.5 C; 230 V.
    "london": Climate(
        "london",
        "Europe/London",
        "north",
        11.6,
        6.7,
        200,
        4.0,
        230.0,
        0.10,
        0.80,
        0.05,
        latitude=51.48,
        longitude=-0.45,
    ),
    # Madrid (Retiro normals): July mean about 26 C, January about 6.5 C; 230 V; much air
    # conditioning.
    "madrid": Climate(
        "madrid",
        "Europe/Madrid",
        "north",
        15.2,
        9.7,
        205,
        6.5,
        230.0,
        0.25,
        0.55,
        0.55,
        latitude=40.41,
        longitude=-3.68,
    ),
}

#: Ofgem's typical domestic consumption values (electricity, profile class 1): low 1,800,
#: medium 2,700, high 4,100 kWh a year. Each house draws its own target around its profile's
#: value and is kept inside the profile's band, so the bands do not overlap.
PROFILES = ("low", "medium", "high")
PROFILE_TDCV_KWH = {"low": 1800.0, "medium": 2700.0, "high": 4100.0}
PROFILE_BANDS_KWH = {"low": (1400.0, 2250.0), "medium": (2250.0, 3400.0), "high": (3400.0, 5200.0)}


@dataclass(frozen=True)
class FaultRates:
    """How often the meters and the head-end corrupt, lose, repeat or delay a reading.

    Per reading unless said otherwise. ``malformed`` is split evenly between null, ``error``,
    ``-9999``, ``9999`` and ``NaN``, on the consumption, temperature or voltage field.
    """

    malformed: float = 0.004
    unit_error: float = 0.0005
    negative: float = 0.0005
    duplicate_identical: float = 0.002
    duplicate_conflicting: float = 0.0005
    late: float = 0.005
    out_of_order: float = 0.005
    gap_per_house_day: float = 0.04
    stuck_per_house_day: float = 0.01


@dataclass(frozen=True)
class EventRates:
    """House-day anomalies and household changes: starts per house-day, with durations in days."""

    appliance_left_on: float = 0.004
    appliance_failing: float = 1 / 400
    vacancy: float = 1 / 200
    meter_bypass: float = 1 / 600
    guests: float = 1 / 90
    new_appliance_share: float = 0.15


@dataclass(frozen=True)
class SimulationSettings:
    """A whole simulation: deterministic from these values."""

    houses: int = 100
    interval_minutes: int = 15
    seed: int = 42
    climate: str = "santiago"
    profile_mix: tuple[float, float, float] = (0.3, 0.5, 0.2)
    faults: FaultRates = field(default_factory=FaultRates)
    events: EventRates = field(default_factory=EventRates)
    houses_per_task: int = 500
    #: A run of at most this many readings is simulated in the Dagster process, not in Spark
    #: tasks: below it, starting Spark's Python workers costs more than the simulation.
    in_process_readings: int = 1_000_000

    def __post_init__(self) -> None:
        if 1440 % self.interval_minutes:
            raise ValueError(f"interval_minutes={self.interval_minutes} does not divide a day.")
        if self.climate not in CLIMATES:
            raise ValueError(
                f"Unknown climate {self.climate!r}: choose one of {', '.join(CLIMATES)}."
            )
        if abs(sum(self.profile_mix) - 1.0) > 1e-6:
            raise ValueError(f"profile_mix {self.profile_mix} must add up to 1.")

    def simulates_in_process(self, days: int) -> bool:
        """Whether a run of ``days`` days is small enough to simulate in the Dagster process."""
        return self.houses * days * (1440 // self.interval_minutes) <= self.in_process_readings

    @property
    def climate_preset(self) -> Climate:
        """The :class:`Climate` named by ``climate``."""
        return CLIMATES[self.climate]

    def intervals_on(self, day: dt.date) -> int:
        """Readings a house delivers on the local ``day`` (23, 24 or 25 hours), before faults."""
        return local_day(day, self.climate_preset.timezone).intervals(self.interval_minutes)

    def with_faults(self, **rates: float) -> SimulationSettings:
        """A copy with some fault rates changed."""
        return replace(self, faults=replace(self.faults, **rates))

    def without_faults(self) -> SimulationSettings:
        """A copy in which the meters and head-end are perfect."""
        return replace(self, faults=FaultRates(**{f.name: 0.0 for f in fields(FaultRates)}))
