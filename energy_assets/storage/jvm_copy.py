"""COPY from the JVM: Spark's executors stream a computed frame into PostgreSQL themselves.

The Arrow path (:func:`energy_assets.storage.postgres_io.spark_copy_writer`) moves a computed
frame's rows from the JVM to Python workers, which render and send them; at a million rows
that trip is most of the load. Where PostgreSQL's JDBC driver is on this machine (Debian's
``libpostgresql-jdbc-java``, or ``ENERGY_PG_JDBC_JAR``), ``make install`` compiles
``jvm/PgBinaryCopy.java`` against it and Spark's jars (``python -m
energy_assets.storage.jvm_copy``), every session then carries both jars (``spark.jars``), and
the executors encode Spark's own rows in PostgreSQL's binary COPY format and send them with
the driver's COPY API. Without the driver, a JDK or the built jar, the Arrow path stays the
only one; nothing else changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg

from energy_assets.storage.jvm_archive import java_binary

SOURCE = Path(__file__).parent / "jvm" / "PgBinaryCopy.java"
CLASS = "energy_assets.PgBinaryCopy"
#: Where Debian's libpostgresql-jdbc-java puts the driver.
DEBIAN_DRIVER = Path("/usr/share/java/postgresql.jar")
#: The libpq SSL modes the JDBC driver also knows by the same names.
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def driver_jar() -> Path | None:
    """PostgreSQL's JDBC driver: ``ENERGY_PG_JDBC_JAR``, else Debian's; None when absent."""
    named = os.environ.get("ENERGY_PG_JDBC_JAR")
    jar = Path(named) if named else DEBIAN_DRIVER
    return jar if jar.is_file() else None


def _spark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


@lru_cache(maxsize=4)
def _key(driver: Path) -> str:
    import pyspark

    real = Path(os.path.realpath(driver))
    payload = "\n".join(
        [SOURCE.read_text(), pyspark.__version__, str(real), str(real.stat().st_size)]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def jar_path(driver: Path) -> Path:
    """Where this environment keeps the compiled class for ``driver`` (beside its PySpark)."""
    return Path(sys.prefix) / "var" / "energy_assets" / f"pgcopy-{_key(driver)}.jar"


def javac_binary() -> str | None:
    """The JDK's compiler beside Spark's ``java``, else the one on the path; None without."""
    java = java_binary()
    beside = Path(java).resolve().parent / "javac" if java else None
    if beside is not None and beside.is_file():
        return str(beside)
    return shutil.which("javac")


def build_jar() -> Path | None:
    """Compile the COPY class for this PySpark and driver; its jar, or None when this machine
    lacks the driver or a JDK."""
    driver, javac = driver_jar(), javac_binary()
    if driver is None or javac is None:
        return None
    target = jar_path(driver)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="energy-pgcopy-") as scratch:
        classes = Path(scratch)
        classpath = os.pathsep.join([str(_spark_jars_dir() / "*"), str(driver)])
        subprocess.run(
            [
                javac,
                "--release",
                "17",
                "-nowarn",
                "-d",
                str(classes),
                "-cp",
                classpath,
                str(SOURCE),
            ],
            check=True,
            capture_output=True,
        )
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        partial.replace(target)  # whole or not at all
    return target


def spark_jars() -> list[str]:
    """The jars a session carries for the JVM COPY: the compiled class and the driver, when
    both exist; else none."""
    driver = driver_jar()
    if driver is None:
        return []
    built = jar_path(driver)
    return [str(built), str(driver)] if built.is_file() else []


@dataclass(frozen=True)
class Endpoint:
    """Where the executors connect: a JDBC URL and the credentials, read off a live
    connection (so a password from a ``passfile`` is found as libpq found it)."""

    jdbc_url: str
    user: str
    password: str | None


def endpoint_of(conn: psycopg.Connection) -> Endpoint | None:
    """The JDBC endpoint of a psycopg connection; None over a Unix socket (JDBC has no such)."""
    info = conn.info
    if not info.host or info.host.startswith("/"):
        return None
    host = f"[{info.host}]" if ":" in info.host else info.host
    params = {"ApplicationName": "energy_assets"}
    sslmode = info.get_parameters().get("sslmode")
    if sslmode in _SSL_MODES:
        params["sslmode"] = sslmode
    url = (
        f"jdbc:postgresql://{host}:{info.port}/{quote(info.dbname, safe='')}"
        f"?{urlencode(params, quote_via=quote)}"
    )
    return Endpoint(url, info.user, info.password or None)


def _java_class(df: Any, name: str) -> Any | None:
    """The class ``name`` in the JVM of ``df``'s session; None when its class path lacks it."""
    from py4j.java_gateway import JavaClass

    found = df.sparkSession._jvm
    for part in name.split("."):
        found = getattr(found, part)
    # py4j names an unknown class a package.
    return found if isinstance(found, JavaClass) else None


def available(df: Any, name: str = CLASS) -> bool:
    """Whether ``df``'s session has the COPY class and every column has a binary encoding."""
    from py4j.protocol import Py4JError

    try:
        copier = _java_class(df, name)
        return copier is not None and bool(copier.supports(df._jdf.schema()))
    except (Py4JError, AttributeError):
        return False  # not a classic session (Spark Connect has no JVM to reach)


def copy(df: Any, endpoint: Endpoint, statement: str) -> int:
    """COPY ``df`` (its columns in the statement's order) from the executors; the rows written.

    A server error reaches the caller as psycopg's class for its SQLSTATE, as on the Arrow path.
    """
    from py4j.protocol import Py4JJavaError

    copier = _java_class(df, CLASS)
    try:
        return int(
            copier.copy(df._jdf, endpoint.jdbc_url, endpoint.user, endpoint.password, statement)
        )
    except Py4JJavaError as err:
        raise _server_error(err) or err from None


def _server_error(err: Any) -> psycopg.Error | None:
    """psycopg's error for the PostgreSQL error inside a Spark job's failure, if there is one."""
    cause = err.java_exception
    while cause is not None:
        if cause.getClass().getName() == "org.postgresql.util.PSQLException":
            state = cause.getSQLState()
            message = str(cause.getMessage()).splitlines()[0]
            try:
                return psycopg.errors.lookup(state)(message)
            except KeyError:
                return psycopg.errors.DatabaseError(message)
        cause = cause.getCause()
    return None


if __name__ == "__main__":
    try:
        built = build_jar()
    except subprocess.CalledProcessError as failed:
        sys.exit(f"energy_assets: the JVM COPY class did not compile:\n{failed.stderr.decode()}")
    print(
        f"JVM COPY: {built}"
        if built
        else "JVM COPY: not built (needs PostgreSQL's JDBC driver and a JDK); loads use Arrow."
    )
