"""The one place that reads the environment.

Everything that differs between a laptop and production is an environment variable read here;
the rest of the code takes a :class:`Settings` (or the Dagster config built from it).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from energy_assets.simulation.settings import CLIMATES

PG_URL_VAR = "ENERGY_PG_URL"
#: Where raw readings come from: the simulator, or files landed by a head-end.
SOURCES = ("simulator", "landing")
ALLOWED_INTERVALS = (1, 5, 10, 15, 30, 60)


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number.") from None


def _date(env: dict[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a date of the form YYYY-MM-DD.") from None


@dataclass(frozen=True)
class Settings:
    """The project's settings, resolved from the environment with the embedded defaults."""

    pg_url: str | None = None
    pg_schema: str = "energy"
    home: Path = field(default_factory=lambda: Path(".energy").resolve())
    data_dir: Path = field(default_factory=lambda: Path("data").resolve())
    spark_master: str = "local[*]"
    sim_start: str = "2024-01-01"
    sim_end: str = "2026-01-01"
    houses: int = 100
    interval_minutes: int = 15
    seed: int = 42
    climate: str = "santiago"
    spark_ui: bool = True
    clock_seconds: int = 60
    source: str = "simulator"
    landing_dir: Path | None = None
    houses_file: Path | None = None

    @property
    def landed(self) -> bool:
        """Raw readings come from the landing folder, not the simulator."""
        return self.source == "landing"

    @property
    def timezone(self) -> str:
        """The neighbourhood's time zone: a simulated day is a local day of it."""
        return CLIMATES[self.climate].timezone


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    interval = _int(env, "ENERGY_INTERVAL_MINUTES", 15)
    if interval not in ALLOWED_INTERVALS:
        raise SettingsError(
            f"ENERGY_INTERVAL_MINUTES={interval} is not one of {', '.join(map(str, ALLOWED_INTERVALS))}."
        )
    houses = _int(env, "ENERGY_HOUSES", 100)
    if houses < 1:
        raise SettingsError(f"ENERGY_HOUSES={houses} must be at least 1.")
    start = _date(env, "ENERGY_SIM_START", "2024-01-01")
    end = _date(env, "ENERGY_SIM_END", "2026-01-01")
    if start >= end:
        raise SettingsError(f"ENERGY_SIM_START={start} must come before ENERGY_SIM_END={end}.")
    climate = env.get("ENERGY_CLIMATE") or "santiago"
    if climate not in CLIMATES:
        raise SettingsError(
            f"ENERGY_CLIMATE={climate!r} is not a known climate: choose {', '.join(CLIMATES)}."
        )
    source = env.get("ENERGY_SOURCE") or "simulator"
    if source not in SOURCES:
        raise SettingsError(
            f"ENERGY_SOURCE={source!r} is not a source: choose {', '.join(SOURCES)}."
        )
    landing_dir = env.get("ENERGY_LANDING_DIR") or None
    if source == "landing" and landing_dir is None:
        raise SettingsError(
            "ENERGY_SOURCE=landing needs ENERGY_LANDING_DIR, the folder files land in."
        )
    houses_file = env.get("ENERGY_HOUSES_FILE") or None
    return Settings(
        source=source,
        landing_dir=Path(landing_dir).resolve() if landing_dir else None,
        houses_file=Path(houses_file).resolve() if houses_file else None,
        pg_url=env.get(PG_URL_VAR) or None,
        pg_schema=env.get("ENERGY_PG_SCHEMA") or "energy",
        home=Path(env.get("ENERGY_HOME") or ".energy").resolve(),
        data_dir=Path(env.get("ENERGY_DATA_DIR") or "data").resolve(),
        spark_master=env.get("SPARK_MASTER") or "local[*]",
        sim_start=start,
        sim_end=end,
        houses=houses,
        interval_minutes=interval,
        seed=_int(env, "ENERGY_SEED", 42),
        climate=climate,
        clock_seconds=_int(env, "ENERGY_CLOCK_SECONDS", 60),
        spark_ui=(env.get("ENERGY_SPARK_UI") or ("0" if env.get("CI") else "1"))
        not in ("0", "false"),
    )
