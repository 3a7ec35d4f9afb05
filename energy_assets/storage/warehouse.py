"""PostgreSQL warehouse tables: bulk COPY of Arrow batches and the atomic swap of a day.

Plain psycopg code, no Dagster: the IO manager in :mod:`energy_assets.storage.postgres_io`
decides *what* to load, this module decides *how*.

A partitioned table is range-partitioned natively by day, one PostgreSQL partition a day: a
local day of the neighbourhood's time zone, so a timestamp column (UTC, without time zone) is cut
at the UTC instants of local midnight, and a date column by the date itself.
Loading days: COPY into fresh staging tables shaped like the partitions (no index, so COPY
runs at bare-table speed), build their primary keys, then in one transaction detach and drop
the old days and attach the new ones. Until that commit the previous days are whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from energy_assets.calendar import local_day
from energy_assets.storage import pgbinary

#: Rows per CSV chunk handed to COPY: big enough to amortise the call, small enough to stream.
COPY_CHUNK_ROWS = 65_536
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=COPY_CHUNK_ROWS)


class WarehouseError(RuntimeError):
    """A warehouse load or read failed; the message says what and where."""


@dataclass(frozen=True)
class TableTarget:
    """A warehouse table: where it lives, how it is partitioned and keyed."""

    schema: str
    table: str
    partition_column: str | None = None
    primary_key: tuple[str, ...] = ()
    #: The time zone whose local days the partitions are (timestamps stay UTC).
    timezone: str = "UTC"

    @property
    def ident(self) -> sql.Composed:
        """The schema-qualified, quoted identifier of the table."""
        return sql.Identifier(self.schema, self.table)

    def day_table(self, day: dt.date) -> str:
        """The name of the partition that holds ``day``."""
        return bounded_name(self.table, f"_p{day:%Y%m%d}")


def bounded_name(base: str, suffix: str) -> str:
    """``base + suffix`` kept within PostgreSQL's 63-byte identifier limit, without collisions."""
    name = base + suffix
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(base.encode()).hexdigest()[:8]
    keep = base.encode()[: 63 - len(suffix.encode()) - 9].decode(errors="ignore")
    return f"{keep}_{digest}{suffix}"


# ---------------------------------------------------------------------------------------------
# types


def pg_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type (see ``pgbinary.COLUMN_TYPES``)."""
    found = pgbinary.column_type(arrow_type)
    if found is None:
        raise WarehouseError(f"Arrow type {arrow_type} has no warehouse column type.")
    return found[0]


#: Warehouse text compares byte-wise: house ids and codes are identifiers, not prose, and under
#: the C collation PostgreSQL sorts them with abbreviated keys (a primary key on 10M readings
#: builds in 5.0 s instead of 6.6 s under the server's C.UTF-8 libc locale).
TEXT_COLLATION = "C"


def column_sql(name: str, pg: str, not_null: bool = False) -> sql.Composed:
    """The definition of a warehouse column: quoted name, type, collation for text."""
    collate = (
        sql.SQL(" COLLATE {}").format(sql.Identifier(TEXT_COLLATION))
        if pg == "text"
        else sql.SQL("")
    )
    return sql.SQL("{} {}{}{}").format(
        sql.Identifier(name), sql.SQL(pg), collate, sql.SQL(" NOT NULL" if not_null else "")
    )


_ARROW_OF_PG = {
    "text": pa.string(),
    "boolean": pa.bool_(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
}


def arrow_type_of(pg: str) -> pa.DataType:
    """The Arrow type a PostgreSQL column type is read back as."""
    try:
        return _ARROW_OF_PG[pg]
    except KeyError:
        raise WarehouseError(f"PostgreSQL type {pg} cannot be read back into Arrow.") from None


# ---------------------------------------------------------------------------------------------
# connections


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    """Open a connection, turning an unreachable server into one clear sentence.

    No message holds the password, whatever the URL's shape: a URL that does not parse as it
    reads (an unencoded ``/``, ``?``, ``@`` or space in the password) is named redacted, without
    the driver's text, which would quote the fragments it misread.
    """
    if not _parses_as_written(url):
        raise WarehouseError(
            f"The PostgreSQL URL {redact(url)} does not parse: percent-encode '/', '?', '@', ':' "
            "and spaces in the user and password."
        )
    try:
        return psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.Error as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WarehouseError(
            f"PostgreSQL at {redact(url)} is unreachable: {scrub(first, url)}"
        ) from None


_URL = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?:(?P<userinfo>.*)@)?(?P<rest>[^@]*)$", re.I | re.S
)
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.I)


def _password_text(url: str) -> str | None:
    """The password as written in ``url`` (URL user info, ``password=`` pair or parameter)."""
    m = _URL.match(url.strip())
    if m and m["userinfo"] and ":" in m["userinfo"]:
        return m["userinfo"].split(":", 1)[1]
    found = _KV_PASSWORD.search(url) or _QUERY_PASSWORD.search(url)
    if found:
        return found.group(0).split("=", 1)[1].strip().strip("'")
    return None


def _parses_as_written(url: str) -> bool:
    """Whether the driver reads ``url``'s host and user where a person reads them."""
    m = _URL.match(url.strip())
    if not m:  # key=value form: the driver's parser is the reader's
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error:
            return False
        return True
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return False
    host = re.split(r"[:/?]", m["rest"], maxsplit=1)[0]
    user = unquote((m["userinfo"] or "").split(":", 1)[0])
    return unquote(host) == str(info.get("host", "")) and user == str(info.get("user", ""))


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, fit for messages and logs."""
    m = _URL.match(url.strip())
    text = url.strip()
    if m and m["userinfo"] is not None:
        user, has_password, _ = m["userinfo"].partition(":")
        text = f"{m['scheme']}{user}{':***' if has_password else ''}@{m['rest']}"
    text = _KV_PASSWORD.sub(r"\1***", text)
    return _QUERY_PASSWORD.sub(r"\1***", text)


def scrub(message: str, url: str) -> str:
    """``message`` without the password of ``url`` (whole, or any piece of 4+ characters)."""
    password = _password_text(url)
    if not password:
        return message
    pieces = {password, unquote(password), *re.split(r"[/?#@\s:]+", password)}
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= 4 or piece == password:
            message = message.replace(piece, "***")
    return message


# ---------------------------------------------------------------------------------------------
# COPY


def copy_statement(table: sql.Composable, columns: Sequence[str], binary: bool) -> sql.Composed:
    """``COPY table (columns) FROM STDIN`` in binary or CSV format."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
        table,
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL("binary" if binary else "csv"),
    )


def copy_batches(
    conn: psycopg.Connection,
    table: sql.Composable,
    columns: Sequence[str],
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema | None = None,
) -> int:
    """COPY Arrow batches into ``table``; return the rows written.

    Binary COPY, rendered by numpy (:mod:`pgbinary`), when every column type has an encoding;
    otherwise CSV rendered by Arrow's C++ writer.
    """
    binary = schema is not None and pgbinary.supported(
        pa.schema([schema.field(c) for c in columns])
    )
    statement = copy_statement(table, columns, binary)
    rows = 0
    # A writer thread sends to the server while this one renders the next batch (libpq
    # releases the GIL), so rendering and the network overlap.
    with conn.cursor() as cur, cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
        if binary:
            copy.write(pgbinary.HEADER)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            part = batch.select(list(columns))
            if binary:
                for start in range(0, part.num_rows, COPY_CHUNK_ROWS * 4):
                    copy.write(pgbinary.encode(part.slice(start, COPY_CHUNK_ROWS * 4)))
            else:
                buffer = io.BytesIO()
                pacsv.write_csv(part, buffer, _CSV_OPTIONS)
                copy.write(buffer.getbuffer())
            rows += batch.num_rows
        if binary:
            copy.write(pgbinary.TRAILER)
    return rows


def read_query_arrow(
    conn: psycopg.Connection, query: sql.Composable, schema: pa.Schema
) -> pa.Table:
    """Run ``query`` through ``COPY ... TO STDOUT`` and parse it with Arrow's CSV reader."""
    buffer = io.BytesIO()
    with (
        conn.cursor() as cur,
        cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)) as copy,
    ):
        for chunk in copy:
            buffer.write(chunk)
    if buffer.tell() == 0:
        return schema.empty_table()
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=schema.names),
        # Text may hold newlines (quoted by COPY): the parser must not split blocks inside one.
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )


# ---------------------------------------------------------------------------------------------
# table shape


def _lock_name(conn: psycopg.Connection, target: TableTarget) -> None:
    # Serialises creation and swaps of one table across processes and runs.
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"{target.schema}.{target.table}",),
    )


def table_columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    """The (name, type) of a table's columns in order; empty if the table does not exist."""
    rows = conn.execute(
        """SELECT a.attname, format_type(a.atttypid, NULL)
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum""",
        (schema, table),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def ensure_table(conn: psycopg.Connection, target: TableTarget, schema: pa.Schema) -> None:
    """Create the table (range-partitioned by day if it is partitioned) unless it exists.

    An existing table must have the frame's columns; a mismatch fails with the difference.
    """
    with conn.transaction():
        # CREATE SCHEMA IF NOT EXISTS races with itself: first loads of several tables of a new
        # schema take turns on the schema's name first (always before any table's).
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"schema {target.schema}",)
        )
        _lock_name(conn, target)
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.schema))
        )
        wanted = [(f.name, pg_type(f.type)) for f in schema]
        existing = table_columns(conn, target.schema, target.table)
        if existing:
            have = {n: t for n, t in existing}
            want = {
                n: ("timestamp without time zone" if t == "timestamp" else t) for n, t in wanted
            }
            added = [(n, t) for n, t in wanted if n not in have]
            if added and all(want.get(n) == t for n, t in have.items()):
                # A column the asset gained (a new figure) is added, empty for earlier days;
                # anything else is a migration for a person to decide.
                for name, typ in added:
                    conn.execute(
                        sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(
                            target.ident, column_sql(name, typ)
                        )
                    )
                    have[name] = want[name]
            if have != want:
                raise WarehouseError(
                    f"Table {target.schema}.{target.table} has columns {have} but the asset produces "
                    f"{want}; drop the table or migrate it."
                )
            if target.partition_column:
                _check_time_zone(conn, target)
            return
        not_null = set(target.primary_key) | ({target.partition_column} - {None})
        columns = [column_sql(name, typ, name in not_null) for name, typ in wanted]
        if target.primary_key:
            columns.append(
                sql.SQL("PRIMARY KEY ({})").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in target.primary_key)
                )
            )
        statement = sql.SQL("CREATE TABLE {} ({})").format(
            target.ident, sql.SQL(", ").join(columns)
        )
        if target.partition_column:
            statement += sql.SQL(" PARTITION BY RANGE ({})").format(
                sql.Identifier(target.partition_column)
            )
        conn.execute(statement)
        if target.partition_column:
            conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    target.ident, sql.Literal(_zone_note(target))
                )
            )
            for f in schema:
                if pa.types.is_timestamp(f.type):
                    conn.execute(
                        sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                            sql.Identifier(target.schema, target.table, f.name),
                            sql.Literal(
                                f"UTC, without time zone; days are local to {target.timezone}."
                            ),
                        )
                    )


# ---------------------------------------------------------------------------------------------
# loads


#: Writes the rows into the named staging table and returns how many it wrote.
Writer = Callable[[sql.Composed], int]


@dataclass
class LoadResult:
    """What a load wrote: rows per day (or one entry under ``None`` for a whole table)."""

    rows_by_day: dict[dt.date | None, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Total rows loaded."""
        return sum(self.rows_by_day.values())


def day_bounds(
    target: TableTarget, schema: pa.Schema, day: dt.date, end_day: dt.date | None = None
) -> tuple[sql.Literal, sql.Literal]:
    """The half-open range of the partition column that holds local ``day`` (to ``end_day``).

    A date column is cut by the date; a timestamp column (UTC) at the UTC instants at which the
    local days begin, so a day of a clock change spans 23 or 25 hours.
    """
    last = end_day or day + dt.timedelta(days=1)
    assert target.partition_column
    if pa.types.is_date(schema.field(target.partition_column).type):
        return sql.Literal(day), sql.Literal(last)
    return (
        sql.Literal(local_day(day, target.timezone).start),
        sql.Literal(local_day(last, target.timezone).start),
    )


_ZONE_NOTE = re.compile(r"local days of (\S+?)[;.]")


def _zone_note(target: TableTarget) -> str:
    return (
        f"One partition a simulated day: local days of {target.timezone}; "
        "timestamps are UTC (without time zone)."
    )


def _check_time_zone(conn: psycopg.Connection, target: TableTarget) -> None:
    """Refuse to load days of one time zone into a table made for another's."""
    comment = conn.execute(
        "SELECT obj_description(to_regclass(%s), 'pg_class')",
        (target.ident.as_string(conn),),
    ).fetchone()[0]
    found = _ZONE_NOTE.search(comment or "")
    made_for = found.group(1) if found else "UTC"
    if made_for != target.timezone:
        raise WarehouseError(
            f"Table {target.schema}.{target.table} holds local days of {made_for}, but this run's "
            f"days are local days of {target.timezone} (ENERGY_CLIMATE changed): use another "
            "ENERGY_PG_SCHEMA, or drop the schema (make clean) to start over."
        )


def _stage_name(target: TableTarget, suffix: str, stage_id: str) -> str:
    return bounded_name(target.table, f"__stage_{stage_id}{suffix}")


_STAGE_ID = re.compile(r"__stage_([0-9a-f]{10})")
#: ``LIKE`` pattern of staging table names (readers such as the summary leave them out).
STAGE_LIKE = "%\\_\\_stage\\_%"


def _stage_key(stage_id: str) -> str:
    return f"energy_assets stage {stage_id}"


class StagingOwner:
    """Holds a session advisory lock for one load's staging tables while the load lives.

    A crashed load's session ends and its lock with it: the next load of the table finds the
    staging tables unowned and sweeps them (:func:`sweep_stages`).
    """

    def __init__(self, url: str):
        self.stage_id = uuid.uuid4().hex[:10]
        self.conn = connect(url, autocommit=True)
        self.conn.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (_stage_key(self.stage_id),)
        )

    def close(self) -> None:
        """Release the lock (by ending the session)."""
        self.conn.close()


def sweep_stages(url: str, target: TableTarget) -> list[str]:
    """Drop the staging tables in ``target``'s schema left by loads that died; return them.

    A staging table whose load is alive is left alone, whichever table it is for.
    """
    swept: list[str] = []
    with connect(url, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                      AND c.relname LIKE %s""",
                (target.schema, STAGE_LIKE),
            )
        ]
        by_stage: dict[str, list[str]] = {}
        for name in names:
            found = _STAGE_ID.search(name)
            if found:
                by_stage.setdefault(found.group(1), []).append(name)
        for stage_id, tables in by_stage.items():
            key = _stage_key(stage_id)
            if not conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)
            ).fetchone()[0]:
                continue  # a live load owns them
            try:
                for name in tables:
                    conn.execute(
                        sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                            sql.Identifier(target.schema, name)
                        )
                    )
                    swept.append(name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
    return swept


@dataclass(frozen=True)
class SwapPatience:
    """How a swap waits for readers: each try's ``lock_timeout``, the tries, the first pause.

    A swap that waits blocks every new reader of the table behind it, so it waits briefly,
    steps back and tries again, and finally fails naming who holds the table.
    """

    lock_timeout_s: float = 5.0
    tries: int = 4
    pause_s: float = 1.0


SWAP_PATIENCE = SwapPatience()


def _blockers(url: str, target: TableTarget) -> str:
    """The sessions holding locks on ``target`` or its partitions, in a few words."""
    with connect(url) as conn:
        rows = conn.execute(
            """SELECT DISTINCT a.pid, a.application_name, a.usename, a.xact_start, a.state
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.granted AND l.pid <> pg_backend_pid()
                  AND l.relation IN (SELECT to_regclass(%s)
                                     UNION SELECT inhrelid FROM pg_inherits
                                            WHERE inhparent = to_regclass(%s))
                ORDER BY a.xact_start NULLS LAST LIMIT 3""",
            (target.ident.as_string(conn),) * 2,
        ).fetchall()
    if not rows:
        return "another session"
    return "; ".join(
        f"pid {pid} (application {app or '-'!r}, user {user}, {state or 'unknown'}"
        + (f", in a transaction since {since:%Y-%m-%d %H:%M:%S %Z}" if since else "")
        + ")"
        for pid, app, user, since, state in rows
    )


def _swap(
    url: str,
    target: TableTarget,
    body: Callable[[psycopg.Connection], None],
    patience: SwapPatience = SWAP_PATIENCE,
) -> None:
    """Run ``body`` in one transaction under the table's lock, never waiting long on readers."""
    timeout = sql.Literal(f"{max(1, int(patience.lock_timeout_s * 1000))}ms")
    for attempt in range(patience.tries):
        try:
            with connect(url) as conn, conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(timeout))
                _lock_name(conn, target)
                body(conn)
            return
        except psycopg.errors.LockNotAvailable:
            if attempt + 1 < patience.tries:
                time.sleep(patience.pause_s * 2**attempt)
    waited = patience.tries * patience.lock_timeout_s + patience.pause_s * (
        2 ** (patience.tries - 1) - 1
    )
    raise WarehouseError(
        f"Swapping new days into {target.schema}.{target.table} gave up after about {waited:.0f} s: "
        f"the table is held by {_blockers(url, target)}; the previous version is kept."
    )


def _add_primary_key(conn: psycopg.Connection, target: TableTarget, stage: str) -> None:
    """The target's primary key on a stage; rows that repeat a key refuse the load."""
    try:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                sql.Identifier(target.schema, stage),
                sql.SQL(", ").join(sql.Identifier(c) for c in target.primary_key),
            )
        )
    except psycopg.errors.UniqueViolation as err:
        raise WarehouseError(
            f"Duplicate primary key in the rows for {target.schema}.{target.table}: "
            f"{str(err).splitlines()[-1].strip()}; the previous version is kept."
        ) from None


def _drop_quietly(url: str, schema: str, names: Iterable[str]) -> None:
    try:
        with connect(url, autocommit=True) as conn:
            for name in names:
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name))
                )
    except (psycopg.Error, WarehouseError):
        pass  # leftovers are named __stage_ and hold no live data


@dataclass(frozen=True)
class DayStages:
    """A load's staging tables: one a day, under a partitioned parent when several days are
    loaded (PostgreSQL then routes each row to its day)."""

    target: TableTarget
    schema: pa.Schema
    parent: str | None
    by_day: dict[dt.date, str]

    @classmethod
    def named(
        cls, target: TableTarget, schema: pa.Schema, days: Sequence[dt.date], stage_id: str
    ) -> DayStages:
        """The stages of ``days`` (sorted), named for the staging owner ``stage_id``."""
        parent = _stage_name(target, "", stage_id) if len(days) > 1 else None
        by_day = {day: _stage_name(target, f"_p{day:%Y%m%d}", stage_id) for day in days}
        return cls(target, schema, parent, by_day)

    @property
    def names(self) -> list[str]:
        """Every table the stages create."""
        return [*self.by_day.values(), *([self.parent] if self.parent else [])]

    @property
    def days(self) -> list[dt.date]:
        """The days staged, in order."""
        return list(self.by_day)

    @property
    def into(self) -> str:
        """The table the writers COPY into."""
        return self.parent or self.by_day[self.days[0]]

    def ident(self, name: str) -> sql.Identifier:
        """A stage's name, qualified by the target's schema."""
        return sql.Identifier(self.target.schema, name)


def _create_stages(conn: psycopg.Connection, stages: DayStages) -> None:
    """The staging tables, each day's checked to its day's bounds (so ATTACH in the swap's
    transaction skips its validation scan), under the parent when there is one."""
    target = stages.target
    like = sql.SQL("(LIKE {} INCLUDING DEFAULTS)").format(target.ident)
    pcol = sql.Identifier(target.partition_column)
    if stages.parent:
        conn.execute(
            sql.SQL("CREATE TABLE {} {} PARTITION BY RANGE ({})").format(
                stages.ident(stages.parent), like, pcol
            )
        )
    for day, name in stages.by_day.items():
        start, end = day_bounds(target, stages.schema, day)
        conn.execute(sql.SQL("CREATE TABLE {} {}").format(stages.ident(name), like))
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} >= {} AND {} < {})").format(
                stages.ident(name),
                sql.Identifier(bounded_name(name, "_day")),
                pcol,
                start,
                pcol,
                end,
            )
        )
        if stages.parent:
            conn.execute(
                sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                    stages.ident(stages.parent), stages.ident(name), start, end
                )
            )


def _copy_into_stages(stages: DayStages, write: Writer) -> int:
    """The writers' COPY into the stages; the rows they report."""
    try:
        return write(stages.ident(stages.into))
    except psycopg.errors.CheckViolation as err:
        days, target = stages.days, stages.target
        raise WarehouseError(
            f"Rows outside the days {days[0]}..{days[-1]} were written to "
            f"{target.schema}.{target.table}: {str(err).splitlines()[0]}"
        ) from None


def _staged_rows(
    conn: psycopg.Connection, stages: DayStages, written: int, expected_rows: int | None
) -> dict[dt.date, int]:
    """Each day's stage, detached from the parent, and its rows; refuses a load whose rows are
    not those the writers reported (and the frame held)."""
    target = stages.target
    rows_by_day = {}
    for day, name in stages.by_day.items():
        if stages.parent:
            conn.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                    stages.ident(stages.parent), stages.ident(name)
                )
            )
        if target.primary_key and not stages.parent:
            # One keyed day: a task that committed twice repeats its rows, which the key refuses,
            # so the count the writers report is the day's.
            rows_by_day[day] = written
            continue
        rows_by_day[day] = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(stages.ident(name))
        ).fetchone()[0]
    staged = sum(rows_by_day.values())
    # A retried Spark task may have committed twice: refuse rather than duplicate.
    if staged != written or (expected_rows is not None and staged != expected_rows):
        raise WarehouseError(
            f"Loading {target.schema}.{target.table} staged {staged} rows but the "
            f"writers reported {written}"
            + (f" and the frame has {expected_rows}" if expected_rows is not None else "")
            + "; the previous version is kept."
        )
    return rows_by_day


def _key_stages(conn: psycopg.Connection, stages: DayStages) -> None:
    """The target's primary key on each day's stage: a duplicate key refuses the load."""
    for name in stages.by_day.values():
        _add_primary_key(conn, stages.target, name)


def _swap_in_stages(conn: psycopg.Connection, stages: DayStages) -> None:
    """In the swap's transaction: each day's stage replaces the day's partition, if any."""
    target = stages.target
    for day, name in stages.by_day.items():
        final = stages.ident(target.day_table(day))
        if conn.execute("SELECT to_regclass(%s)", (final.as_string(conn),)).fetchone()[0]:
            conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(target.ident, final))
            conn.execute(sql.SQL("DROP TABLE {}").format(final))
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                stages.ident(name), sql.Identifier(target.day_table(day))
            )
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                target.ident, final, *day_bounds(target, stages.schema, day)
            )
        )
    if stages.parent:
        conn.execute(sql.SQL("DROP TABLE {}").format(stages.ident(stages.parent)))


def load_days(
    url: str,
    target: TableTarget,
    schema: pa.Schema,
    days: Sequence[dt.date],
    write: Writer,
    expected_rows: int | None = None,
    patience: SwapPatience = SWAP_PATIENCE,
) -> LoadResult:
    """Replace ``days`` of a day-partitioned table with the rows ``write`` COPYs, atomically.

    ``write`` receives the staging table to COPY into (a partitioned table when several days are
    loaded, so PostgreSQL routes each row to its day; a row outside ``days`` fails the load).
    Stage, copy, count, key, then swap every day in one transaction.
    """
    assert target.partition_column, "load_days needs a day-partitioned table"
    with connect(url, autocommit=True) as conn:
        ensure_table(conn, target, schema)
    owner = StagingOwner(url)
    sweep_stages(url, target)
    stages = DayStages.named(target, schema, sorted(set(days)), owner.stage_id)
    committed = False
    try:
        with connect(url, autocommit=True) as conn:
            _create_stages(conn, stages)
        result = LoadResult()
        clock = time.perf_counter()
        written = _copy_into_stages(stages, write)
        result.seconds["copy"] = time.perf_counter() - clock
        clock = time.perf_counter()
        with connect(url, autocommit=True) as conn:
            result.rows_by_day.update(_staged_rows(conn, stages, written, expected_rows))
            if target.primary_key:
                _key_stages(conn, stages)
        result.seconds["key"] = time.perf_counter() - clock
        clock = time.perf_counter()
        _swap(url, target, lambda conn: _swap_in_stages(conn, stages), patience)
        result.seconds["swap"] = time.perf_counter() - clock
        committed = True
        return result
    finally:
        if not committed:
            _drop_quietly(url, target.schema, stages.names)
        owner.close()


def load_table(
    url: str,
    target: TableTarget,
    schema: pa.Schema,
    write: Writer,
    expected_rows: int | None = None,
    patience: SwapPatience = SWAP_PATIENCE,
) -> LoadResult:
    """Replace a whole (unpartitioned) table's rows with those ``write`` COPYs, atomically.

    The rows are staged and checked first, then swapped in by ``TRUNCATE`` and ``INSERT`` in one
    transaction: the table itself stays, with the grants, indexes and views users added to it.
    """
    with connect(url, autocommit=True) as conn:
        ensure_table(conn, target, schema)
    owner = StagingOwner(url)
    sweep_stages(url, target)
    stage = _stage_name(target, "", owner.stage_id)
    committed = False
    try:
        with connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
                    sql.Identifier(target.schema, stage), target.ident
                )
            )
        written = write(sql.Identifier(target.schema, stage))
        if expected_rows is not None and written != expected_rows:
            raise WarehouseError(
                f"Loading {target.schema}.{target.table} wrote {written} rows of {expected_rows}."
            )
        with connect(url, autocommit=True) as conn:
            if target.primary_key:
                _add_primary_key(conn, target, stage)
        staged = sql.Identifier(target.schema, stage)

        def swap_in(conn: psycopg.Connection) -> None:
            conn.execute(sql.SQL("TRUNCATE {}").format(target.ident))
            conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(target.ident, staged))
            conn.execute(sql.SQL("DROP TABLE {}").format(staged))

        _swap(url, target, swap_in, patience)
        committed = True
        return LoadResult({None: written})
    finally:
        if not committed:
            _drop_quietly(url, target.schema, [stage])
        owner.close()


# ---------------------------------------------------------------------------------------------
# reads


def warehouse_schema(conn: psycopg.Connection, target: TableTarget) -> pa.Schema:
    """The Arrow schema of a warehouse table, from the catalog."""
    columns = table_columns(conn, target.schema, target.table)
    if not columns:
        raise WarehouseError(
            f"Table {target.schema}.{target.table} does not exist: materialize it first."
        )
    return pa.schema([(name, arrow_type_of(typ)) for name, typ in columns])


def day_query(
    target: TableTarget, schema: pa.Schema, start: dt.date | None, end: dt.date | None
) -> sql.Composed:
    """``SELECT`` the table's columns for the half-open window ``[start, end)`` of days."""
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in schema.names), target.ident
    )
    if target.partition_column and start is not None and end is not None:
        pcol = sql.Identifier(target.partition_column)
        lo, hi = day_bounds(target, schema, start, end)
        query += sql.SQL(" WHERE {} >= {} AND {} < {}").format(pcol, lo, pcol, hi)
    return query


def read_arrow(
    url: str, target: TableTarget, start: dt.date | None = None, end: dt.date | None = None
) -> pa.Table:
    """Read the days ``[start, end)`` (or the whole table) into an Arrow table, through COPY."""
    with connect(url) as conn:
        schema = warehouse_schema(conn, target)
        return read_query_arrow(conn, day_query(target, schema, start, end), schema)


def rows_per_day(url: str, target: TableTarget, days: Sequence[dt.date]) -> dict[dt.date, int]:
    """Rows of each local day of ``days`` in a day-partitioned table, counted in PostgreSQL."""
    assert target.partition_column
    with connect(url) as conn:
        schema = warehouse_schema(conn, target)
        pcol = sql.Identifier(target.partition_column)
        day = (
            pcol
            if pa.types.is_date(schema.field(target.partition_column).type)
            else sql.SQL("({} AT TIME ZONE 'UTC' AT TIME ZONE {})").format(
                pcol, sql.Literal(target.timezone)
            )
        )
        lo, hi = day_bounds(target, schema, min(days), max(days) + dt.timedelta(days=1))
        rows = conn.execute(
            sql.SQL(
                "SELECT {day}::date, count(*) FROM {t} WHERE {c} >= {lo} AND {c} < {hi} GROUP BY 1"
            ).format(day=day, t=target.ident, c=pcol, lo=lo, hi=hi)
        ).fetchall()
    return {d: n for d, n in rows}


def iter_days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """The days of the half-open window ``[start, end)``."""
    day = start
    while day < end:
        yield day
        day += dt.timedelta(days=1)
