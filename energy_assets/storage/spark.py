"""The Spark session: one per process, started lazily, UTC, sized to the machine."""

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster_pyspark import LazyPySparkResource
from pydantic import PrivateAttr

from energy_assets.storage import spark_server
from energy_assets.storage.jvm_archive import java_binary, java_options
from energy_assets.storage.jvm_copy import spark_jars


class JavaMissingError(RuntimeError):
    """No Java runtime that Spark can use was found."""


class SessionTimeZoneError(RuntimeError):
    """The Spark session does not keep UTC, which the cleaning's day arithmetic relies on."""


def check_java() -> None:
    """Fail with one sentence when Spark cannot find a Java 17+ runtime."""
    java = java_binary()
    if java is None:
        raise JavaMissingError(
            "Spark needs Java 17 or newer and none was found (set JAVA_HOME or install it, "
            "for example `apt-get install openjdk-17-jre-headless`)."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    try:
        version = out.split('"')[1]
        major = int(
            version.split(".")[0] if not version.startswith("1.") else version.split(".")[1]
        )
    except (IndexError, ValueError):
        return
    if major < 17:
        raise JavaMissingError(
            f"Spark needs Java 17 or newer but {java} is Java {version} (set JAVA_HOME to a newer one)."
        )


JAVA_OPTIONS = "spark.driver.extraJavaOptions"
#: The JIT's quick tier only: a small run's queries run once each over little data, and the
#: optimising compiler's work on them never pays back (it competes for the two cores instead);
#: a large run keeps it. Measured on the cleaning of a week of 100 houses: see docs/scaling.md.
#: With one tier Java reserves only 48 MB for compiled code, which a run's thousands of
#: generated classes filled (the compiler stopped and tasks failed "Out of space in
#: CodeCache"); the code cache keeps the tiered default, 240 MB.
QUICK_COMPILER = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
#: Compiled query classes the JVM keeps: every query of a run of the graph and its checks, with
#: room to spare (a class is tens of kilobytes of metaspace).
CODEGEN_CACHE_ENTRIES = 2000
#: Arrow's memory needs reflective access to Netty's buffers on Java 17.
NETTY_OPTION = "-Dio.netty.tryReflectionSetAccessible=true"


def spark_conf(master: str, ui: bool = True, driver_memory: str = "2g") -> dict[str, str]:
    """The session settings every run uses: UTC, Arrow, shuffle partitions sized to the cores."""
    cores = os.cpu_count() or 2
    jars = spark_jars()
    return {
        **({"spark.jars": ",".join(jars)} if jars else {}),
        "spark.master": master,
        "spark.app.name": "energy_assets",
        "spark.sql.session.timeZone": "UTC",
        # Small default shuffle width: a day of a demo neighbourhood is megabytes, and AQE
        # coalesces further; on a cluster the master's cores decide the parallelism instead.
        "spark.sql.shuffle.partitions": str(max(2, cores * 2)),
        "spark.default.parallelism": str(max(2, cores)),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "65536",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        # Reads name their files (the IO manager lists a day's own): the driver looks them up
        # itself rather than in a Spark job, which Spark starts past 32 paths (a week's
        # cleaned readings are 56 files; the job cost 0.5-1 s a read in a small run).
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
        # The JVM's cache of compiled query code (one for the JVM, sized when first used): the
        # default 100 classes is less than one run of the graph generates (about 170 in the
        # cleaning alone), so each run compiled its queries again even in the warm server.
        "spark.sql.codegen.cache.maxEntries": str(CODEGEN_CACHE_ENTRIES),
        "spark.ui.enabled": "true" if ui else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": driver_memory,
        # The class archive (jvm_archive.py), when make install wrote one: a warm start. The
        # JVM COPY's jars (jvm_copy.py), when built, ride along in spark.jars above.
        JAVA_OPTIONS: " ".join([NETTY_OPTION, *java_options()]),
        # Python workers run the interpreter of this process (the project's .venv) unless the
        # deployment says otherwise; on a cluster the image provides the same path.
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
    }


#: Rows a shuffle partition should hold at most: about 100-200 MB of readings. A cached or
#: sorted partition much bigger than that must be read back whole into the heap.
ROWS_PER_SHUFFLE_PARTITION = 1_000_000


def shuffle_partitions_for(rows: int, cores: int | None = None) -> int:
    """Shuffle width for ``rows``: the cores' default, more when the data needs it."""
    base = max(2, (cores or os.cpu_count() or 2) * 2)
    return max(base, -(-rows // ROWS_PER_SHUFFLE_PARTITION))


#: Rows a task writing an output takes at most. A file is written for each task and day, and
#: every later read opens them all: a week of 100 houses came out in 56 files of its cleaned
#: readings (a union's two sides, four partitions each), which cost the checks' and the next
#: steps' scans 30-40 % of their time against one file a day.
ROWS_PER_WRITING_TASK = 1_000_000


def writing_tasks(rows: int) -> int:
    """Tasks that write an output computed from ``rows`` rows: one for each million, so a small
    run writes one file a day and a large one keeps its parallelism."""
    return max(1, -(-rows // ROWS_PER_WRITING_TASK))


#: Rows up to which a step caches its frames without the columnar cache's compression. The
#: compression's statistics (a dictionary per column and batch) were a sixth of the cleaning's
#: CPU at 2.9M readings, and it saves little on parsed readings (Spark's accounting: 68 against
#: 53 MiB); a week of 10,000 houses at one minute (100M readings) keeps it: uncompressed,
#: its cache would outgrow what a 4 GB heap keeps for storage and execution.
UNCOMPRESSED_CACHE_ROWS = 20_000_000


@contextlib.contextmanager
def _setting(session, key: str, value: str) -> Iterator[None]:
    """``key`` set to ``value`` in the session until the block ends, then as it was."""
    before = session.conf.get(key)
    session.conf.set(key, value)
    try:
        yield
    finally:
        session.conf.set(key, before)


@contextlib.contextmanager
def cache_compression(session, rows: int) -> Iterator[bool]:
    """Whether a step over ``rows`` rows compresses what it caches (only when large; see
    :data:`UNCOMPRESSED_CACHE_ROWS`), set for the block. Spark reads the setting when a cached
    frame is first computed, so the block must cover the step's first use of it."""
    compressed = rows > UNCOMPRESSED_CACHE_ROWS
    with _setting(session, "spark.sql.inMemoryColumnarStorage.compressed", str(compressed).lower()):
        yield compressed


@contextlib.contextmanager
def shuffle_width(session, rows: int) -> Iterator[int]:
    """The session's shuffle width for one step over ``rows`` rows, restored when it ends.

    The default is sized to the cores, which suits a demo day; a week of 10,000 houses at
    one minute (100M readings) in four partitions made blocks of gigabytes that the cleaning
    could not read back into a 6 GB heap. Adaptive execution still coalesces small partitions.
    Restored after, so the next step of the run (one session) starts from the default again.
    """
    n = shuffle_partitions_for(rows)
    with _setting(session, "spark.sql.shuffle.partitions", str(n)):
        yield n


def keep_utc(session) -> None:
    """Make the session's time zone UTC whatever session existed before, or say why not."""
    session.conf.set("spark.sql.session.timeZone", "UTC")
    zone = session.conf.get("spark.sql.session.timeZone")
    if zone != "UTC":
        raise SessionTimeZoneError(
            f"The Spark session keeps time zone {zone}, not UTC: the pipeline's timestamps are "
            "UTC and its day bounds are computed in UTC; start the session with "
            "spark.sql.session.timeZone=UTC."
        )


def start_session(config: dict[str, str]):
    """The process's Spark session with ``config``: an existing one is reused, made UTC."""
    from dagster_pyspark.resources import spark_session_from_config

    check_java()
    # PySpark reads the workers' interpreter from the environment when the context starts.
    os.environ.setdefault("PYSPARK_PYTHON", config.get("spark.pyspark.python", sys.executable))
    spark_server.adopt_context(config)
    session = spark_session_from_config(config)
    spark_server.tag_workers(session.sparkContext)
    keep_utc(session)
    session.sparkContext.setLogLevel("ERROR")
    return session


def get_spark(master: str = "local[*]", ui: bool = True, driver_memory: str = "2g"):
    """The process's Spark session, started on first call with :func:`spark_conf`."""
    return start_session(spark_conf(master, ui, driver_memory))


class SparkResource(LazyPySparkResource):
    """Spark for the run: dagster-pyspark's lazy session, with the project's settings.

    Started on first use, so steps that need no Spark start no JVM; with the in-process
    executor (our default) a run is one process and so one JVM. On top of
    ``LazyPySparkResource``: the Java check, the workers' Python, UTC enforced, quiet logs.
    ``spark_config`` adds or overrides settings of :func:`spark_conf`.
    """

    master: str = "local[*]"
    ui: bool = True
    driver_memory: str = "2g"
    spark_config: dict[str, Any] = {}
    #: ``ENERGY_HOME`` of a Spark server to attach to when it runs and is free (spark_server.py).
    server_home: str | None = None

    _starting: threading.Thread | None = PrivateAttr(default=None)

    def session_config(self, quick_compiler: bool = False) -> dict[str, str]:
        """The settings a session of this resource starts with."""
        config = {**spark_conf(self.master, self.ui, self.driver_memory), **self.spark_config}
        if quick_compiler:
            config[JAVA_OPTIONS] = f"{config.get(JAVA_OPTIONS, '')} {QUICK_COMPILER}".strip()
        return config

    def _init_session(self, quick_compiler: bool = False) -> None:
        if self._spark_session is None:
            config = self.session_config()
            # The server's warm JVM when it is free; else a JVM of our own, compiled for the run.
            if not (self.server_home and spark_server.attach(Path(self.server_home), config)):
                config = self.session_config(quick_compiler)
            self._spark_session = start_session(config)

    def start_in_background(self, quick_compiler: bool = False) -> None:
        """Start the session in a thread, so that the JVM starts while the caller works; for a
        small run, with the quick compiler only (:data:`QUICK_COMPILER`). Without Java it
        fails here, before the caller writes anything."""
        if self._spark_session is None and self._starting is None:
            check_java()
            self._starting = threading.Thread(
                target=self._start_quietly, args=(quick_compiler,), name="spark-start", daemon=True
            )
            self._starting.start()

    def _start_quietly(self, quick_compiler: bool) -> None:
        # A failure (no Java, say) is raised again, with its clear message, by the first
        # use of the session in the caller's thread.
        with contextlib.suppress(Exception):
            self._init_session(quick_compiler)

    @property
    def session(self):
        """The SparkSession, started now if it is not yet (or once its start has finished)."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        return self.spark_session
