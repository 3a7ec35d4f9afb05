"""The Parquet IO manager: ``$ENERGY_DATA_DIR/<asset>/day=YYYY-MM-DD/``, one folder a day.

Hive-style folders let Spark prune by day. A run that covers several days (single-run
backfills) writes them all at once and splits them here, by the asset's ``partition_expr``
column into local days of the partitions' time zone (timestamps are UTC). Each day is written
beside the old one and published in one atomic step (:mod:`energy_assets.storage.folders`): a
failed run leaves the previous version whole, a reader sees the old day or the new one, writers
of a day take turns, no other day is touched, and reads take exactly the files the IO manager
wrote. An asset's folder records the time zone its days are local to, and a write under another
time zone is refused.
"""

import datetime as dt
import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
)

from energy_assets.calendar import local_dates
from energy_assets.storage.folders import (
    FolderError,
    publish,
    published_files,
    published_rows,
    staging_folder,
    sweep_staging,
)
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.spark import SparkResource

DAY = "day"


@dataclass(frozen=True)
class StagedParquet:
    """Day folders already written (by Spark tasks) under ``path``, to be moved into place."""

    path: Path
    schema: pa.Schema


class ParquetStoreError(FolderError):
    """A Parquet day is missing, corrupt or shaped wrong; the message names the file."""


def table_schema_metadata(schema: pa.Schema) -> TableSchema:
    """A Dagster ``TableSchema`` for an Arrow schema, for ``dagster/column_schema``."""
    return TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in schema])


def is_spark_frame(obj: object) -> bool:
    """Whether an output is a Spark frame (classic or Connect)."""
    from pyspark.sql import DataFrame

    return isinstance(obj, DataFrame)


def wants_spark(annotation: object) -> bool:
    """Whether an input's annotation asks for a Spark frame (classic or Connect): the one test
    both IO managers make, by class rather than by module name."""
    from pyspark.sql import DataFrame

    return isinstance(annotation, type) and issubclass(annotation, DataFrame)


def spark_arrow_schema(df: Any) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema, timezone="UTC")


def to_arrow(obj: pd.DataFrame | pa.Table) -> pa.Table:
    """An Arrow table from a pandas frame or an Arrow table."""
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pd.DataFrame):
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise TypeError(f"Cannot store a {type(obj).__name__}: use a Spark, pandas or Arrow frame.")


def day_dir(asset_dir: Path, day: dt.date | str) -> Path:
    """The folder of one day of an asset."""
    return asset_dir / f"{DAY}={day}"


def _publish_days(staged: Path, asset_dir: Path, days: Sequence[dt.date | str]) -> None:
    """Publish the staged day folders ``staged/day=D``, one atomic step a day."""
    for day in days:
        publish(day_dir(staged, day), day_dir(asset_dir, day))


def sweep(asset_dir: Path) -> None:
    """Remove what dead writers of the asset left: staging folders, and folders replaced by the
    IO manager's earlier versions (restored first where a crash left their day missing)."""
    sweep_staging(asset_dir)
    for replaced in sorted(asset_dir.glob(".replaced-*")) if asset_dir.is_dir() else []:
        day = day_dir(asset_dir, replaced.name.split("-", 2)[-1].split("=", 1)[-1])
        if not day.exists():
            publish(replaced, day)
        else:
            shutil.rmtree(replaced, ignore_errors=True)


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a published day folder or asset, exactly as its writer left them."""
    return published_files(path)


def verify_footers(files: Iterable[Path]) -> None:
    """Read every file's footer: a corrupt file fails here with its name, before any work."""
    for file in files:
        try:
            pq.read_metadata(file)
        except (pa.ArrowInvalid, OSError) as err:
            raise ParquetStoreError(f"Parquet file {file} is corrupt: {err}") from None


#: The file in an asset's folder naming the time zone its day folders are local days of.
TIME_ZONE_FILE = "_timezone"


def claim_time_zone(asset_dir: Path, timezone: str) -> None:
    """Record ``timezone`` for the asset's days, or refuse if they were made under another."""
    marker = asset_dir / TIME_ZONE_FILE
    if marker.exists():
        made_for = marker.read_text().strip() or "UTC"
        if made_for != timezone:
            raise ParquetStoreError(
                f"The days at {asset_dir} are local days of {made_for}, but this run's days are "
                f"local days of {timezone} (ENERGY_CLIMATE changed): use another "
                "ENERGY_DATA_DIR, or remove the data (make clean) to start over."
            )
        return
    if any(asset_dir.glob(f"{DAY}=*")):
        # Day folders from before days were local: they were UTC days.
        if timezone != "UTC":
            raise ParquetStoreError(
                f"The days at {asset_dir} were made as UTC days, but this run's days are local "
                f"days of {timezone}: use another ENERGY_DATA_DIR, or remove the data "
                "(make clean) to start over."
            )
    asset_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(timezone + "\n")


def _days_of(
    table: pa.Table, day_column: str | None, days: Sequence[dt.date], timezone: str = "UTC"
) -> pa.Array:
    if day_column and day_column in table.column_names:
        return local_dates(table[day_column], timezone)
    if DAY in table.column_names:
        return pc.cast(table[DAY], pa.date32())
    if len(days) == 1:
        return pa.array([days[0]] * table.num_rows, pa.date32())
    raise ParquetStoreError(
        "A multi-day output needs a 'partition_expr' column (asset metadata) or a 'day' column "
        "to split by."
    )


def _write_file(table: pa.Table, path: Path) -> None:
    # Microsecond timestamps: Spark cannot read pandas' nanoseconds.
    pq.write_table(
        table, path, compression="zstd", coerce_timestamps="us", allow_truncated_timestamps=True
    )


def write_arrow_days(
    table: pa.Table,
    asset_dir: Path,
    days: Sequence[dt.date],
    day_column: str | None,
    timezone: str = "UTC",
) -> None:
    """Write an Arrow table as day folders, replacing exactly ``days`` (local days)."""
    day_values = _days_of(table, day_column, days, timezone)
    body = table.drop_columns([DAY]) if DAY in table.column_names else table
    outside = set(pc.unique(day_values).to_pylist()) - set(days) - {None}
    if outside:
        raise ParquetStoreError(
            f"The output holds rows for days {sorted(map(str, outside))} outside the run's days."
        )
    asset_dir.mkdir(parents=True, exist_ok=True)
    with staging_folder(asset_dir) as staging:
        for day in days:
            target = day_dir(staging, day)
            target.mkdir(parents=True)
            part = body.filter(pc.equal(day_values, pa.scalar(day, pa.date32())))
            _write_file(part, target / "part-00000.parquet")
        _publish_days(staging, asset_dir, days)


def write_spark_days(
    df: Any,
    asset_dir: Path,
    days: Sequence[dt.date],
    day_column: str | None,
    timezone: str = "UTC",
) -> None:
    """Write a Spark frame as day folders from the executors, replacing exactly ``days``."""
    from pyspark.sql import functions as F

    from energy_assets.calendar_spark import local_date

    if DAY not in df.columns:
        if day_column:
            column = F.col(day_column)
            is_timestamp = df.schema[day_column].dataType.typeName().startswith("timestamp")
            df = df.withColumn(
                DAY, local_date(column, timezone) if is_timestamp else F.to_date(column)
            )
        elif len(days) == 1:
            df = df.withColumn(DAY, F.lit(days[0]))
        else:
            raise ParquetStoreError(
                "A multi-day output needs a 'partition_expr' column (asset metadata) or a 'day' "
                "column to split by."
            )
    asset_dir.mkdir(parents=True, exist_ok=True)
    with staging_folder(asset_dir) as folder:
        staging = folder / "data"
        df.write.partitionBy(DAY).parquet(str(staging))
        written = {p.name.split("=", 1)[1] for p in staging.glob(f"{DAY}=*")}
        wanted = {str(d) for d in days}
        if written - wanted:
            raise ParquetStoreError(
                f"The output holds rows for days {sorted(written - wanted)} outside the run's days."
            )
        # A day with no rows is still a materialized day: an empty file carries its schema.
        empty_schema = spark_arrow_schema(df.drop(DAY))
        for day in wanted - written:
            target = day_dir(staging, day)
            target.mkdir(parents=True)
            pq.write_table(empty_schema.empty_table(), target / "part-00000.parquet")
        _publish_days(staging, asset_dir, days)


def move_staged_days(staged: StagedParquet, asset_dir: Path, days: Sequence[dt.date]) -> None:
    """Move staged day folders into place, one atomic rename a day; empty days get a file."""
    asset_dir.mkdir(parents=True, exist_ok=True)
    wanted = {str(d) for d in days}
    written = {p.name.split("=", 1)[1] for p in staged.path.glob(f"{DAY}=*")}
    if written - wanted:
        raise ParquetStoreError(
            f"The output holds rows for days {sorted(written - wanted)} outside the run's days."
        )
    for day in sorted(wanted - written):
        target = day_dir(staged.path, day)
        target.mkdir(parents=True)
        _write_file(staged.schema.empty_table(), target / "part-00000.parquet")
    _publish_days(staged.path, asset_dir, days)


def write_whole(obj: Any, asset_dir: Path) -> None:
    """Write an unpartitioned asset to ``asset_dir``, replacing it atomically."""
    asset_dir.parent.mkdir(parents=True, exist_ok=True)
    sweep_staging(asset_dir.parent, f".staging-{asset_dir.name}-")
    with staging_folder(asset_dir.parent, f".staging-{asset_dir.name}-") as folder:
        staging = folder / "data"
        if is_spark_frame(obj):
            obj.write.parquet(str(staging))
        else:
            staging.mkdir()
            _write_file(to_arrow(obj), staging / "part-00000.parquet")
        publish(staging, asset_dir)


def day_files(asset_dir: Path, days: Sequence[str | dt.date]) -> dict[str, list[Path]]:
    """The files of each published day, its version resolved once: what a read then takes, even
    if a day is replaced meanwhile."""
    return {str(day): parquet_files(day_dir(asset_dir, day)) for day in days}


def read_arrow_parquet(files: Sequence[Path]) -> pa.Table:
    """Parquet files, exactly these, as one Arrow table."""
    return ds.dataset([str(f) for f in files], format="parquet").to_table()


def read_arrow_files(files_by_day: dict[str, list[Path]]) -> pa.Table:
    """The days' files as one Arrow table with their ``day``."""
    tables = []
    for day, files in files_by_day.items():
        table = read_arrow_parquet(files)
        value = pa.scalar(dt.date.fromisoformat(day), pa.date32())
        tables.append(table.append_column(DAY, pa.repeat(value, table.num_rows)))
    return pa.concat_tables(tables, promote_options="default")


#: The footer key under which Spark records the schema of the frame it wrote.
SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"


def spark_file_schema(file: Path) -> Any:
    """The Spark schema of a Parquet file, from its footer read here (every column nullable, as
    Spark's own inference makes them); None when it cannot be told, and Spark infers it."""
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructField, StructType

    try:
        schema = pq.read_schema(file)
        written_by_spark = (schema.metadata or {}).get(SPARK_SCHEMA_KEY)
        if written_by_spark:
            found = StructType.fromJson(json.loads(written_by_spark))
        else:
            found = from_arrow_schema(schema)
    except Exception:  # noqa: BLE001 - a type Spark maps otherwise: let Spark read the footer
        return None
    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in found])


def spark_read(session: Any, files: Sequence[str | Path], base: Path | None = None) -> Any:
    """A Spark frame of the Parquet ``files``, whose schema is read from the first file's footer
    here: Spark's own inference runs a Spark job for it on every read (a few hundred
    milliseconds each in a small run's cold JVM, for a few kilobytes). With ``base``, the
    ``day=`` folders below it become a ``day`` column (a date)."""
    from pyspark.sql.types import DateType, StructField, StructType

    paths = [str(f) for f in files]
    schema = spark_file_schema(Path(paths[0])) if paths else None
    if schema is not None and base is not None and DAY not in schema.names:
        schema = StructType([*schema.fields, StructField(DAY, DateType(), True)])
    reader = session.read if schema is None else session.read.schema(schema)
    if base is not None:
        reader = reader.option("basePath", str(base))
    return reader.parquet(*paths)


def day_base(file: Path) -> Path:
    """The folder that holds a file's ``day=`` folder (the asset's, or its versions')."""
    for parent in file.parents:
        if parent.name.startswith(f"{DAY}="):
            return parent.parent
    raise ParquetStoreError(f"{file} is not in a '{DAY}=' folder.")


def spark_read_files(session: Any, files_by_day: dict[str, list[Path]]) -> Any:
    """The days' files as one Spark frame with their ``day``, taken from each file's folder.

    The day is Spark's partition value of the file's ``day=`` folder, a constant per file: a
    value parsed from every row's file path cost a regular expression a row (a week's sums
    check took 4x as long as its aggregate)."""
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    by_base: dict[Path, list[Path]] = {}
    for file in map(Path, (f for files_of_day in files_by_day.values() for f in files_of_day)):
        by_base.setdefault(day_base(file), []).append(file)
    # Folders of an earlier layout beside versioned ones are read apart: Spark's discovery
    # wants one base per read.
    frames = [spark_read(session, files, base) for base, files in by_base.items()]
    return reduce(DataFrame.unionByName, frames).withColumn(DAY, F.col(DAY).cast("date"))


def read_arrow_days(asset_dir: Path, days: Sequence[str]) -> pa.Table:
    """Read published day folders into one Arrow table, each day whole, old or new."""
    return read_arrow_files(day_files(asset_dir, days))


def spark_read_days(session: Any, asset_dir: Path, days: Sequence[str | dt.date]) -> Any:
    """Read published day folders into one Spark frame: exactly the files their writers left."""
    return spark_read_files(session, day_files(asset_dir, days))


def count_rows(path: Path) -> int:
    """Rows of a published day folder or asset, from its manifest."""
    return published_rows(path)


class ParquetIOManager(ConfigurableIOManager):
    """Stores assets as Hive-style Parquet day folders; loads Spark, pandas or Arrow frames.

    Output metadata: ``partition_expr`` names the timestamp column a multi-day output is split
    by (the convention of Dagster's database IO managers).
    """

    lake: LakeResource
    spark: SparkResource

    def asset_dir(self, key_path: Sequence[str]) -> Path:
        """The folder of an asset."""
        return self.lake.path(*key_path)

    # What checks and evaluations read: the IO manager is the one place that knows where an
    # asset lives, so they ask it rather than rebuild a path.

    def read_days(self, asset_key: Any, days: Sequence[str | dt.date]) -> Any:
        """The published days of a partitioned asset as one Spark frame with its ``day``."""
        return spark_read_days(self.spark.session, self.asset_dir(asset_key.path), days)

    def read_arrow_days(self, asset_key: Any, days: Sequence[str | dt.date]) -> pa.Table:
        """Those of ``days`` a partitioned asset has published, as one Arrow table with its
        ``day``: what the driver reads of a small asset without a Spark job."""
        published = self.published_days(asset_key, days)
        if not published:
            raise ParquetStoreError(
                f"{self.asset_dir(asset_key.path)} has published none of the {len(days)} days "
                "asked."
            )
        return read_arrow_days(self.asset_dir(asset_key.path), published)

    def read_arrow(self, asset_key: Any) -> pa.Table:
        """An unpartitioned asset as one Arrow table."""
        return read_arrow_parquet(parquet_files(self.asset_dir(asset_key.path)))

    def published_days(self, asset_key: Any, days: Sequence[str | dt.date]) -> list[str]:
        """Those of ``days`` the asset has published, in their order."""
        asset_dir = self.asset_dir(asset_key.path)
        return [str(d) for d in days if day_dir(asset_dir, d).is_dir()]

    def rows_of_day(self, asset_key: Any, day: str | dt.date) -> int:
        """Rows of one published day, from its manifest."""
        return count_rows(day_dir(self.asset_dir(asset_key.path), day))

    def rows(self, asset_key: Any) -> int:
        """Rows of an unpartitioned asset, from its manifest."""
        return count_rows(self.asset_dir(asset_key.path))

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        """Write the output, split by day for partitioned assets; attach row count and schema."""
        if obj is None:
            return
        asset_dir = self.asset_dir(context.asset_key.path)
        day_column = (context.definition_metadata or {}).get("partition_expr")
        if context.has_asset_partitions:
            sweep(asset_dir)
            days = [dt.date.fromisoformat(k) for k in context.asset_partition_keys]
            timezone = getattr(context.asset_partitions_def, "timezone", None) or "UTC"
            claim_time_zone(asset_dir, timezone)
            if isinstance(obj, StagedParquet):
                move_staged_days(obj, asset_dir, days)
            elif is_spark_frame(obj):
                write_spark_days(obj, asset_dir, days, day_column, timezone)
            else:
                write_arrow_days(to_arrow(obj), asset_dir, days, day_column, timezone)
            written = [day_dir(asset_dir, d) for d in days]
        else:
            write_whole(obj, asset_dir)
            written = [asset_dir]
        rows = sum(count_rows(p) for p in written)
        files = [f for p in written for f in parquet_files(p)]
        schema = pq.read_schema(files[0]) if files else pa.schema([])
        context.add_output_metadata(
            {
                "dagster/row_count": rows,
                "dagster/column_schema": table_schema_metadata(schema),
                "path": MetadataValue.path(str(written[0] if len(written) == 1 else asset_dir)),
                "days": len(written) if context.has_asset_partitions else 0,
            }
        )

    def _paths(self, context: InputContext) -> tuple[Path, list[str] | None]:
        asset_dir = self.asset_dir(context.asset_key.path)
        name = context.asset_key.to_user_string()
        if context.has_asset_partitions:
            keys = list(context.asset_partition_keys)
            missing = [k for k in keys if not day_dir(asset_dir, k).is_dir()]
            # A trailing window may start before the first materialized day: the reader asks
            # for what exists and reports how much history it had.
            if missing and (context.definition_metadata or {}).get("allow_missing_days"):
                keys = [k for k in keys if k not in set(missing)]
                missing = [] if keys else missing
            if missing:
                raise ParquetStoreError(
                    f"Asset {name} has no day {missing[0]} at {day_dir(asset_dir, missing[0])}"
                    + (f" (nor {len(missing) - 1} other days)" if len(missing) > 1 else "")
                    + ": materialize it first."
                )
            return asset_dir, keys
        if not asset_dir.is_dir():
            raise ParquetStoreError(
                f"Asset {name} has not been materialized: {asset_dir} is missing."
            )
        return asset_dir, None

    def load_input(self, context: InputContext) -> Any:
        """Load the upstream days as one frame: Spark or Arrow by annotation, else pandas."""
        asset_dir, days = self._paths(context)
        # Each day's version is resolved once: the footers checked are the files then read.
        files_by_day = day_files(asset_dir, days) if days is not None else None
        whole = parquet_files(asset_dir) if days is None else []
        verify_footers([f for files in (files_by_day or {}).values() for f in files] + whole)
        wanted = getattr(context.dagster_type, "typing_type", None)
        if wants_spark(wanted):
            spark = self.spark.session
            if files_by_day is not None:
                return spark_read_files(spark, files_by_day)
            return spark_read(spark, whole)
        if files_by_day is None:
            table = read_arrow_parquet(whole)
        else:
            table = read_arrow_files(files_by_day)
        if wanted is pa.Table:
            return table
        return table.to_pandas()
