"""A class-data-sharing archive of the Spark driver's classes, so that a run's JVM starts warm.

Before its first job a Spark driver loads and verifies some twenty thousand classes, and a
small run pays that in every step's first queries. Java 13+ writes the classes a JVM loaded to
an archive when it exits (``-XX:ArchiveClassesAtExit``) and maps them at the next start
(``-XX:SharedArchiveFile``). ``make install`` writes one by running a small cleaning in a
separate process (``python -m energy_assets.storage.jvm_archive``); every session started
after it uses it. Measured on the cleaning of a week of 100 houses at 15 minutes (2 cores):
session start 6.2 s -> 2.9 s, the cleaning's queries 27.5 s -> 19.2 s.

An archive is valid for one Java build and one class path (this environment's PySpark jars):
its file name carries a key of both, so a new Java or PySpark finds none and runs without
(nothing breaks: ``-Xshare:auto``, Java's default, ignores an archive it cannot use).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

#: Java's notes on the classes it cannot archive (signed jars, old class files) and on an archive
#: it cannot use are not the run's business.
QUIET = "-Xlog:cds*=off"
#: How long the trainer waits for the JVM to finish writing the archive after the session stops.
WRITE_TIMEOUT_S = 120


def java_binary() -> str | None:
    """The ``java`` Spark's launcher runs: ``$JAVA_HOME/bin/java``, else the one on the path;
    None when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    return java if java and os.path.exists(java) else None


@lru_cache(maxsize=4)
def archive_key(java: str) -> str:
    """A key of the Java build and the PySpark jars an archive was written for."""
    import pyspark

    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    jars = Path(pyspark.__file__).parent / "jars"
    payload = "\n".join([os.path.realpath(java), version, pyspark.__version__, str(jars)])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def archive_path(java: str) -> Path:
    """Where this environment keeps the archive for ``java`` (beside its PySpark)."""
    return Path(sys.prefix) / "var" / "energy_assets" / f"spark-classes-{archive_key(java)}.jsa"


def java_options() -> list[str]:
    """The driver's options that map the archive, when one exists for this Java and PySpark."""
    java = java_binary()
    if java is None:
        return []
    archive = archive_path(java)
    return [f"-XX:SharedArchiveFile={archive}", QUIET] if archive.is_file() else []


def write_archive() -> Path | None:
    """Write the archive for this Java and PySpark (a small cleaning in another process);
    its path, or None when Java is missing or the JVM wrote none."""
    java = java_binary()
    if java is None:
        return None
    target = archive_path(java)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "-m", "energy_assets.storage.jvm_archive", "--workload", str(partial)],
        check=True,
    )
    # The JVM writes the archive as it exits, which can end after the Python process.
    deadline = time.monotonic() + WRITE_TIMEOUT_S
    while not partial.is_file() and time.monotonic() < deadline:
        time.sleep(0.5)
    if not partial.is_file():
        return None
    partial.replace(target)  # whole or not at all: a reader never maps a half-written file
    return target


def _workload(archive: Path) -> None:
    """:func:`small_run` in a session whose JVM archives its classes when it exits."""
    from energy_assets.storage.spark import JAVA_OPTIONS, NETTY_OPTION, spark_conf, start_session

    conf = spark_conf("local[*]", ui=False)
    # Written from scratch: Java 17 cannot layer an archive at exit on another dynamic one.
    conf[JAVA_OPTIONS] = f"{NETTY_OPTION} -XX:ArchiveClassesAtExit={archive} {QUIET}"
    session = start_session(conf)
    small_run(session)
    session.stop()


def small_run(session) -> None:
    """A run's Spark work in small: read Parquet, clean with gap estimates from a history,
    aggregate, write Parquet, bring a result to pandas."""
    from pyspark.sql import functions as F

    from energy_assets.analytics.daily import daily_aggregates
    from energy_assets.cleaning.estimation import load_shapes
    from energy_assets.cleaning.rules import CleaningParams
    from energy_assets.cleaning.vee import classify, cleaned, estimated, rejected
    from energy_assets.simulation.houses import make_houses
    from energy_assets.simulation.on_spark import simulate_in_process
    from energy_assets.simulation.settings import SimulationSettings
    from energy_assets.storage.parquet_io import DAY, spark_read_files

    settings = SimulationSettings(houses=12)
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=k) for k in range(7)]
    with tempfile.TemporaryDirectory(prefix="energy-jvm-archive-") as scratch:
        root = Path(scratch)
        simulate_in_process(make_houses(settings), days, settings, root / "raw", root / "truth")
        files = {str(d): sorted((root / "raw" / f"day={d}").glob("*.parquet")) for d in days}
        raw = spark_read_files(session, files)
        params = CleaningParams(
            interval_minutes=settings.interval_minutes,
            nominal_voltage=settings.climate_preset.nominal_voltage,
            timezone=settings.climate_preset.timezone,
        )
        classified = classify(raw, params).cache()
        shapes = load_shapes(classified, params).cache()
        clean = cleaned(classified, params, estimated(classified, params, shapes))
        clean.write.partitionBy(DAY).parquet(str(root / "cleaned"))
        rejected(raw, classified).write.parquet(str(root / "rejected"))
        daily = daily_aggregates(
            session.read.parquet(str(root / "cleaned")),
            settings.interval_minutes,
            params.nominal_voltage,
            params.timezone,
        )
        daily.groupBy(DAY).agg(F.sum("total_kwh")).toPandas()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--workload"]:
        _workload(Path(sys.argv[2]))
    else:
        written = write_archive()
        print(f"Spark class archive: {written or 'none (no Java, or the JVM wrote none)'}")
