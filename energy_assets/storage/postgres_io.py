"""The PostgreSQL resource and IO manager: day partitions loaded by COPY and swapped atomically.

Dagster ships no PostgreSQL IO manager and its PySpark database handlers collect a frame to
the driver. Here Spark frames are loaded by the executors (each Spark partition streams its
rows into the staging table with COPY), pandas and Arrow frames by COPY from the process, and a
day becomes visible only when its native PostgreSQL partition is swapped in, in one
transaction (see :mod:`energy_assets.storage.warehouse`).

Conventions follow Dagster's ``DbIOManager``: ``partition_expr`` metadata names the timestamp
column days are cut by, windows are half-open, the schema is metadata > config.
"""

import datetime as dt
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    InputContext,
    MetadataValue,
    OutputContext,
)

from energy_assets.storage import jvm_copy, pgbinary, warehouse
from energy_assets.storage.parquet_io import (
    is_spark_frame,
    spark_arrow_schema,
    table_schema_metadata,
    to_arrow,
    wants_spark,
)
from energy_assets.storage.spark import SparkResource
from energy_assets.storage.warehouse import TableTarget, WarehouseError


class PostgresResource(ConfigurableResource):
    """Where the warehouse is: ``url`` (from ``ENERGY_PG_URL``) or the embedded server."""

    url: str | None = None
    home: str = ".energy"
    database: str = "energy"
    warehouse_schema: str = "energy"

    def conninfo(self) -> str:
        """A connection URL, starting the embedded server when no URL is configured."""
        if self.url:
            return self.url
        from energy_assets.storage.embedded import ensure_embedded_server

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ensure_embedded_server(Path(self.home), self.database)

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        """Open a psycopg connection to the warehouse."""
        return warehouse.connect(self.conninfo(), **kwargs)


def one_partition_a_task(spark: Any, tasks: list[tuple], schema: str) -> Any:
    """A small frame of task descriptions, one Spark partition each, without a shuffle."""
    return spark.createDataFrame(spark.sparkContext.parallelize(tasks, max(1, len(tasks))), schema)


def parquet_scan_files(df: Any, columns: list[str]) -> list[str] | None:
    """The Parquet files of ``df`` when it is a plain scan (maybe a column selection) of them.

    Such a frame's rows are exactly the files' rows, so the executors can read the files
    themselves instead of receiving every row from the JVM as Arrow.
    """
    try:
        plan = df._jdf.queryExecution().optimizedPlan().toString().strip().splitlines()
    except Exception:  # noqa: BLE001 - not a classic DataFrame: take the general path
        return None
    nodes = [line.strip().lstrip("+- :").strip() for line in plan]
    if not nodes or not nodes[-1].startswith("Relation ") or not nodes[-1].endswith("parquet"):
        return None
    for node in nodes[:-1]:
        if not node.startswith("Project [") or " AS " in node:
            return None
    uris = list(df.inputFiles())
    if not uris or not all(u.startswith("file:") for u in uris):
        return None  # object stores: let Spark read them
    files = [urlparse(u).path for u in uris]
    return files if set(columns) <= set(pq.read_schema(files[0]).names) else None


#: The ways a Spark frame's rows reach COPY, in the order they are tried; Arrow always works.
ROUTES = ("parquet in process", "jvm", "parquet files", "arrow")
#: A Parquet scan of at most this many rows is read and COPYed by this process: no Spark job
#: and no Python worker to start for a small table (at 1M rows, 2 cores: from this process
#: 1.0 s, by the executors 1.5 s; `benchmarks/warehouse_load.py`). A larger one stays with the
#: executors, out of this process's memory.
IN_PROCESS_ROWS = 2_000_000


def spark_copy_writer(
    df: Any,
    url: str,
    columns: list[str],
    arrow_schema: pa.Schema | None = None,
    routes: tuple[str, ...] = ROUTES,
) -> warehouse.Writer:
    """A writer that COPYs a Spark frame into the staging table, by the first route that fits.

    A small plain scan of Parquet files (:data:`IN_PROCESS_ROWS`) is read by this process. Any
    larger frame is encoded and sent by the executors' JVM when the session carries the JVM
    COPY (:mod:`jvm_copy`) and its column types are the table's: a scan read by Spark's
    vectorized reader and encoded there loads 15-20 % faster than the same files read by Python
    workers (14.4M raw readings, 2 cores: 5.7-6.6 against 7.1-7.5 s). Else a large scan is read
    from its files by the executors' Python workers, one task a row group, and any other frame's
    rows stream from the JVM to Python workers as Arrow. ``routes`` narrows the choice (the
    benchmark's peers). The writer's ``route`` says, once it has written, which route it took.
    """
    frame = df.select(*columns)
    frame_schema = spark_arrow_schema(frame)
    arrow_schema = arrow_schema or frame_schema
    by_files = {"parquet in process", "parquet files"} & set(routes)
    files = parquet_scan_files(df, columns) if by_files else None
    in_jvm = "jvm" in routes and _same_column_types(frame_schema, arrow_schema, columns)
    wanted = pa.schema([arrow_schema.field(c) for c in columns])

    def write(table) -> int:
        # Rendered here, on the driver: executors receive a plain string, not a psycopg object.
        with warehouse.connect(url) as conn:
            rendered = table.as_string(conn)
            endpoint = jvm_copy.endpoint_of(conn) if in_jvm else None
            # The JVM COPY's statement, rendered while the connection is open.
            statement = warehouse.copy_statement(table, columns, binary=True)
            binary = statement.as_string(conn) if endpoint is not None else None
        by_jvm = endpoint is not None and jvm_copy.available(frame)
        write.route = _route(routes, files, by_jvm)
        if write.route == "parquet in process":
            whole = pq.read_table(files, columns=columns).cast(wanted)
            return arrow_copy_writer(whole, url)(table)
        if write.route == "jvm":
            return jvm_copy.copy(frame, endpoint, binary)
        recast = [f.type for f in frame_schema] != [f.type for f in wanted]
        copier = _batch_copier(url, rendered, wanted, recast)
        if write.route == "parquet files":
            return _copy_row_groups(df.sparkSession, files, wanted, copier)
        return _sum_rows(frame.mapInArrow(copier, "rows long"))

    write.route = None
    return write


def _route(routes: tuple[str, ...], files: list[str] | None, by_jvm: bool) -> str:
    """The first of ``routes`` that fits (:func:`spark_copy_writer`): a Parquet scan is read in
    process when small, or when no route of the executors' is left to read it."""
    fits = {
        "parquet in process": files is not None,
        "jvm": by_jvm,
        "parquet files": files is not None,
        "arrow": True,
    }
    chosen = [r for r in ROUTES if r in routes and fits[r]] or ["arrow"]
    if chosen[0] == "parquet in process" and chosen[1:2] in (["jvm"], ["parquet files"]):
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        if rows > IN_PROCESS_ROWS:
            return chosen[1]
    return chosen[0]


def _batch_copier(url: str, rendered: str, wanted: pa.Schema, recast: bool):
    """The executors' function: COPY a partition's Arrow batches (cast to the table's types
    where the frame's differ) over one connection, one commit; yield the rows written."""
    columns = wanted.names

    def copy_partition(batches):
        from psycopg import sql as _sql

        from energy_assets.storage import warehouse as _wh

        if recast:
            batches = (batch.select(columns).cast(wanted) for batch in batches)
        with _wh.connect(url) as conn:
            rows = _wh.copy_batches(conn, _sql.SQL(rendered), columns, batches, wanted)
            conn.commit()
        yield pa.RecordBatch.from_pydict({"rows": pa.array([rows], pa.int64())})

    return copy_partition


def _copy_row_groups(spark: Any, files: list[str], wanted: pa.Schema, copier) -> int:
    """COPY Parquet files from the executors, one task a row group; the rows written."""
    groups = [(f, g) for f in files for g in range(pq.ParquetFile(f).num_row_groups)]
    if not groups:
        return 0

    def copy_groups(batches):
        import pyarrow.parquet as pq

        for batch in batches:
            for task in batch.column("id").to_pylist():
                path, group = groups[task]
                part = pq.ParquetFile(path).read_row_group(group, columns=wanted.names)
                yield from copier(part.cast(wanted).to_batches(warehouse.COPY_CHUNK_ROWS))

    # Task numbers from spark.range, one partition each; the row groups travel in the
    # function's closure (no Python stage to build the frame of tasks).
    numbers = spark.range(0, len(groups), 1, len(groups))
    return _sum_rows(numbers.mapInArrow(copy_groups, "rows long"))


def _sum_rows(counts: Any) -> int:
    return sum(r["rows"] for r in counts.collect())


def _same_column_types(frame: pa.Schema, table: pa.Schema, columns: list[str]) -> bool:
    """Whether the frame's columns have the table's column types and binary encodings, so the
    JVM may encode its own values (a float column COPYed as real into double precision would
    be refused)."""
    for name in columns:
        ours = pgbinary.column_type(frame.field(name).type)
        if ours is None or ours[1] is None or ours != pgbinary.column_type(table.field(name).type):
            return False
    return True


def arrow_copy_writer(table: pa.Table, url: str, streams: int | None = None) -> warehouse.Writer:
    """A writer that COPYs an Arrow table from this process, in parallel streams.

    Arrow renders CSV and psycopg sends it with the GIL released, so a few threads keep as many
    server backends busy; small tables use one stream.
    """
    streams = streams or min(4, os.cpu_count() or 2)
    if table.num_rows < 200_000:
        streams = 1

    def write(target) -> int:
        size = -(-table.num_rows // streams)
        slices = [table.slice(i * size, size) for i in range(streams)]

        def copy_slice(part: pa.Table) -> int:
            with warehouse.connect(url) as conn:
                rows = warehouse.copy_batches(
                    conn,
                    target,
                    part.column_names,
                    part.to_batches(warehouse.COPY_CHUNK_ROWS),
                    part.schema,
                )
                conn.commit()
            return rows

        if streams == 1:
            return copy_slice(table)
        with ThreadPoolExecutor(streams) as pool:
            return sum(pool.map(copy_slice, slices))

    return write


class PostgresIOManager(ConfigurableIOManager):
    """Stores each asset as a table of the resource's schema (``energy``), one partition a day.

    Asset metadata read: ``partition_expr`` (the timestamp column days are cut by),
    ``primary_key`` (a list of columns), ``schema`` and ``table`` (overrides).
    """

    postgres: PostgresResource
    spark: SparkResource

    def table_of(
        self, asset_key: Any, metadata: dict, partitions_def: Any | None = None
    ) -> TableTarget:
        """The table an asset lives in: schema and table overrides, day partitions, key."""
        return TableTarget(
            schema=metadata.get("schema", self.postgres.warehouse_schema),
            table=metadata.get("table", asset_key.path[-1]),
            partition_column=metadata.get("partition_expr") if partitions_def else None,
            primary_key=tuple(metadata.get("primary_key", ())),
            timezone=getattr(partitions_def, "timezone", None) or "UTC",
        )

    def rows_per_day(self, asset_key: Any, metadata: dict, partitions_def: Any, days) -> dict:
        """Rows of each local day of ``days`` in an asset's table, counted in PostgreSQL."""
        target = self.table_of(asset_key, metadata, partitions_def)
        return warehouse.rows_per_day(self.postgres.conninfo(), target, days)

    def _target(self, context: OutputContext | InputContext, metadata: dict) -> TableTarget:
        partitions_def = context.asset_partitions_def if context.has_asset_partitions else None
        return self.table_of(context.asset_key, metadata, partitions_def)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        """Load the output by COPY and swap its days (or the whole table) in atomically."""
        if obj is None:
            return
        metadata = dict(context.definition_metadata or {})
        target = self._target(context, metadata)
        if context.has_asset_partitions and not target.partition_column:
            raise WarehouseError(
                f"Asset {context.asset_key.to_user_string()} is partitioned: give it "
                "'partition_expr' metadata naming its timestamp column."
            )
        url = self.postgres.conninfo()
        if is_spark_frame(obj):
            schema = spark_arrow_schema(obj)
            writer = spark_copy_writer(obj, url, schema.names, schema)
        else:
            table = to_arrow(obj)
            schema = table.schema
            writer = arrow_copy_writer(table, url)
        if context.has_asset_partitions:
            days = [dt.date.fromisoformat(k) for k in context.asset_partition_keys]
            result = warehouse.load_days(url, target, schema, days, writer)
        else:
            result = warehouse.load_table(url, target, schema, writer)
        context.add_output_metadata(
            {
                "dagster/row_count": result.rows,
                "dagster/table_name": f"{target.schema}.{target.table}",
                "dagster/column_schema": table_schema_metadata(schema),
                **{f"seconds/{k}": round(v, 3) for k, v in result.seconds.items()},
                **({"copy_route": writer.route} if getattr(writer, "route", None) else {}),
                "rows_by_day": MetadataValue.json(
                    {str(k): v for k, v in result.rows_by_day.items() if k is not None}
                ),
            }
        )

    def load_input(self, context: InputContext) -> Any:
        """Read the upstream days back as pandas (default), Arrow or Spark by annotation."""
        upstream = context.upstream_output
        metadata = dict((upstream.definition_metadata if upstream else None) or {})
        target = self._target(context, metadata)
        start = end = None
        if context.has_asset_partitions:
            window = context.asset_partitions_time_window
            start, end = window.start.date(), window.end.date()
        url = self.postgres.conninfo()
        wanted = getattr(context.dagster_type, "typing_type", None)
        if wants_spark(wanted):
            return read_spark(self.spark.session, url, target, start, end)
        table = warehouse.read_arrow(url, target, start, end)
        return table if wanted is pa.Table else table.to_pandas()


def read_spark(
    spark: Any, url: str, target: TableTarget, start: dt.date | None, end: dt.date | None
):
    """Read a table into Spark from the executors: one task per day, each through COPY."""
    from pyspark.sql.pandas.types import from_arrow_schema

    with warehouse.connect(url) as conn:
        schema = warehouse.warehouse_schema(conn, target)
    if start is not None and end is not None:
        windows = [
            (d.isoformat(), (d + dt.timedelta(days=1)).isoformat())
            for d in warehouse.iter_days(start, end)
        ]
    else:
        windows = [("", "")]

    def fetch(batches):
        from energy_assets.storage import warehouse as _wh

        for batch in batches:
            for lo, hi in zip(
                batch.column("lo").to_pylist(), batch.column("hi").to_pylist(), strict=True
            ):
                with _wh.connect(url) as conn:
                    query = _wh.day_query(
                        target,
                        schema,
                        dt.date.fromisoformat(lo) if lo else None,
                        dt.date.fromisoformat(hi) if hi else None,
                    )
                    yield from _wh.read_query_arrow(conn, query, schema).to_batches()

    seeds = one_partition_a_task(spark, windows, "lo string, hi string")
    return seeds.mapInArrow(fetch, from_arrow_schema(schema))
