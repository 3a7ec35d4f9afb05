"""Resources, built from the settings: the only place where a laptop and production differ.

Locally (no ``ENERGY_PG_URL``) the warehouse is the embedded PostgreSQL server under
``ENERGY_HOME``; with the URL set it is that server, passed as ``EnvVar`` so the secret never
appears in the UI or the run config. Spark is ``local[*]`` unless ``SPARK_MASTER`` says
otherwise. Parquet lives under ``ENERGY_DATA_DIR``, which a cluster's executors must share.
"""

from dataclasses import fields

from dagster import ConfigurableResource, EnvVar

from energy_assets.settings import PG_URL_VAR, Settings
from energy_assets.simulation.settings import EventRates, FaultRates, SimulationSettings
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.parquet_io import ParquetIOManager
from energy_assets.storage.postgres_io import PostgresIOManager, PostgresResource
from energy_assets.storage.spark import SparkResource


class SimulationResource(ConfigurableResource):
    """The simulation's settings as Dagster config, defaulting to the environment's."""

    houses: int = 100
    interval_minutes: int = 15
    seed: int = 42
    climate: str = "santiago"
    share_low: float = 0.3
    share_medium: float = 0.5
    share_high: float = 0.2
    houses_per_task: int = 500
    in_process_readings: int = SimulationSettings.in_process_readings
    fault_rates: dict[str, float] = {}
    event_rates: dict[str, float] = {}

    def settings(self) -> SimulationSettings:
        """The plain :class:`SimulationSettings` the simulator takes."""
        known = {f.name for f in fields(FaultRates)}
        unknown = set(self.fault_rates) - known
        if unknown:
            raise ValueError(f"Unknown fault rates {sorted(unknown)}: known are {sorted(known)}.")
        known_events = {f.name for f in fields(EventRates)}
        if set(self.event_rates) - known_events:
            raise ValueError(
                f"Unknown event rates {sorted(set(self.event_rates) - known_events)}: "
                f"known are {sorted(known_events)}."
            )
        return SimulationSettings(
            houses=self.houses,
            interval_minutes=self.interval_minutes,
            seed=self.seed,
            climate=self.climate,
            profile_mix=(self.share_low, self.share_medium, self.share_high),
            faults=FaultRates(**self.fault_rates),
            events=EventRates(**self.event_rates),
            houses_per_task=self.houses_per_task,
            in_process_readings=self.in_process_readings,
        )


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources of a deployment described by ``settings``."""
    spark = SparkResource(
        master=settings.spark_master, ui=settings.spark_ui, server_home=str(settings.home)
    )
    postgres = PostgresResource(
        url=EnvVar(PG_URL_VAR) if settings.pg_url else None,
        home=str(settings.home),
        warehouse_schema=settings.pg_schema,
    )
    lake = LakeResource(data_dir=str(settings.data_dir))
    landing = {}
    if settings.landed:
        from energy_assets.assets.landing import LandingResource

        landing["landing"] = LandingResource(
            landing_dir=str(settings.landing_dir),
            houses_file=str(settings.houses_file) if settings.houses_file else None,
            interval_minutes=settings.interval_minutes,
        )
    return {
        **landing,
        "spark": spark,
        "postgres": postgres,
        "lake": lake,
        "simulation": SimulationResource(
            houses=settings.houses,
            interval_minutes=settings.interval_minutes,
            seed=settings.seed,
            climate=settings.climate,
        ),
        "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
        "warehouse_io_manager": PostgresIOManager(postgres=postgres, spark=spark),
    }
