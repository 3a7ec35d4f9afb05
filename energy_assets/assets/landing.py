"""The landing source: ``raw_readings`` and ``houses`` from files a head-end landed.

With ``ENERGY_SOURCE=landing`` these two replace the simulator's assets; everything downstream
is the same graph. The ``landing_files`` sensor (:mod:`energy_assets.sensors`) admits files into
the ledger and asks for the days they touch; a day is rebuilt whole from every file admitted
for it, so a late file re-opens a past day and the day is replaced, not appended to.
"""

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    ConfigurableResource,
    MetadataValue,
    Output,
    ResourceParam,
    asset,
)

from energy_assets.assets.verdicts import Verdict, day_check, day_results
from energy_assets.landing.formats import Where
from energy_assets.landing.ledger import Entry, Ledger, registry_key
from energy_assets.partitions import simulated_days, single_run
from energy_assets.simulation.houses import HOUSES_SCHEMA
from energy_assets.simulation.meter import RAW_SCHEMA
from energy_assets.simulation.settings import PROFILES
from energy_assets.storage.folders import staging_folder, sweep_staging
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.parquet_io import ParquetIOManager, StagedParquet

GROUP = "landing"
RAW = AssetKey("raw_readings")
#: The registry's metadata entry naming what it was built from (the sensor compares it).
REGISTRY_KEY = "registry_key"


class HousesFileError(ValueError):
    """The houses file cannot be the registry; the message says why, in a sentence."""


class LandingResource(ConfigurableResource):
    """Where files land (``ENERGY_LANDING_DIR``) and the optional houses file."""

    landing_dir: str
    houses_file: str | None = None
    interval_minutes: int = 15

    def ledger(self, lake: LakeResource) -> Ledger:
        """The landing folder and the ledger of what was taken from it, under the lake."""
        return Ledger(Path(self.landing_dir), lake.path("landing"))

    @property
    def houses_path(self) -> Path | None:
        """The houses file, if one is given."""
        return Path(self.houses_file) if self.houses_file else None

    def registry_key(self, entries: dict[str, Entry]) -> str:
        """What the registry is built from, given the admitted files: meters, the houses file."""
        return registry_key(entries, self.houses_path)

    def where(self) -> Where:
        """What a reader must know: the partitions' zone and span, the pipeline's interval."""
        first = dt.date.fromisoformat(simulated_days.start.strftime("%Y-%m-%d"))
        last = dt.date.fromisoformat(simulated_days.get_last_partition_key())
        return Where(simulated_days.timezone, self.interval_minutes, first, last)


@asset(
    name="houses",
    group_name=GROUP,
    backfill_policy=single_run,
    io_manager_key="parquet_io_manager",
    kinds={"python", "parquet"},
)
def landed_houses(
    context: AssetExecutionContext, landing: LandingResource, lake: LakeResource
) -> pa.Table:
    """The registry: the houses file's rows, and a row (profile unknown) for every other meter
    seen in the landed files."""
    entries = landing.ledger(lake).entries()
    seen = sorted({m for e in entries.values() for m in e.meters})
    listed = _houses_file(landing.houses_path) if landing.houses_path else None
    registry = registry_of(listed, seen)
    context.add_output_metadata(
        {
            REGISTRY_KEY: landing.registry_key(entries),
            "houses": registry.num_rows,
            "from_houses_file": 0 if listed is None else listed.num_rows,
            "profile_known": registry.num_rows - registry["profile"].null_count,
        }
    )
    return registry


def registry_of(listed: pa.Table | None, meters: list[str]) -> pa.Table:
    """The houses file's rows, then one row of unknown traits for each meter it does not list."""
    listed = HOUSES_SCHEMA.empty_table() if listed is None else listed
    known = set(listed["house_id"].to_pylist())
    extra = [m for m in meters if m not in known]
    unknown = pa.table(
        {
            f.name: pa.array(extra, f.type)
            if f.name == "house_id"
            else pa.nulls(len(extra), f.type)
            for f in HOUSES_SCHEMA
        }
    )
    return pa.concat_tables([listed, unknown]).sort_by("house_id")


def _houses_file(path: Path) -> pa.Table:
    """The houses file: ``house_id`` and any of the registry's other columns, empty = unknown."""
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: f.type for f in HOUSES_SCHEMA}, strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise HousesFileError(
            f"The houses file {path} cannot be read: {str(exc).splitlines()[0]}"
        ) from None
    if "house_id" not in table.column_names:
        raise HousesFileError(f"The houses file {path} has no house_id column.")
    columns = {
        f.name: table[f.name] if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in HOUSES_SCHEMA
    }
    houses = pa.table(columns, schema=HOUSES_SCHEMA)
    profiles = set(pc.unique(houses["profile"].drop_null()).to_pylist())
    if profiles - set(PROFILES):
        raise HousesFileError(
            f"The houses file {path} names profiles {sorted(profiles - set(PROFILES))}; "
            f"a profile is one of {', '.join(PROFILES)} or empty."
        )
    return houses


@asset(
    name="raw_readings",
    partitions_def=simulated_days,
    backfill_policy=single_run,
    group_name=GROUP,
    io_manager_key="parquet_io_manager",
    metadata={"partition_expr": "simulated_timestamp"},
    kinds={"python", "parquet"},
    check_specs=[
        day_check(
            "rows_match_files",
            "raw_readings",
            "Rows of the day = the rows the admitted landing files hold for it, file by file "
            "(every line of a file is a raw row)",
            blocking=True,
        )
    ],
)
def landed_readings(
    context: AssetExecutionContext,
    landing: LandingResource,
    lake: LakeResource,
    parquet_io_manager: ResourceParam[ParquetIOManager],
):
    """What the meters delivered, as landed: every admitted file's rows of the run's days."""
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    ledger = landing.ledger(lake)
    entries = ledger.entries()  # read once: the rows written and the rows expected agree
    used = {sha: e for sha, e in entries.items() if any(str(d) in e.rows_by_day for d in days)}
    staging_root = lake.path(".staging")
    staging_root.mkdir(parents=True, exist_ok=True)
    sweep_staging(staging_root, "landing-")  # what runs that died left behind
    with staging_folder(staging_root, "landing-") as run_dir:
        ledger.stage_days(days, used, run_dir / "raw_readings")
        yield Output(
            StagedParquet(run_dir / "raw_readings", RAW_SCHEMA),
            metadata={
                "files": len(used),
                "houses": len({m for e in used.values() for m in e.meters}),
                "file_rows": MetadataValue.json(
                    {
                        e.name: {d: e.rows_by_day[d] for d in map(str, days) if d in e.rows_by_day}
                        for e in used.values()
                    }
                ),
            },
        )
    verdicts = {
        str(d): _rows_match(parquet_io_manager.rows_of_day(RAW, d), str(d), used) for d in days
    }
    yield day_results(
        context, "raw_readings", "rows_match_files", AssetCheckSeverity.ERROR, verdicts
    )


def _rows_match(rows: int, day: str, entries: dict[str, Entry]) -> Verdict:
    expected = sum(e.rows_by_day.get(day, 0) for e in entries.values())
    files = sum(1 for e in entries.values() if day in e.rows_by_day)
    ok = rows == expected
    return Verdict(
        ok,
        f"{rows:,} rows = the {expected:,} that {files} landed file(s) hold for the day"
        if ok
        else f"{rows:,} rows, but the {files} landed file(s) hold {expected:,} for the day",
        {"rows": rows, "expected": expected, "files": files},
    )
