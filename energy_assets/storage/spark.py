"""The Spark session: one per process, started lazily, UTC, sized to the machine."""

import os
import shutil
import subprocess
import sys

from dagster import ConfigurableResource
from pydantic import PrivateAttr


class JavaMissingError(RuntimeError):
    """No Java runtime that Spark can use was found."""


def check_java() -> None:
    """Fail with one sentence when Spark cannot find a Java 17+ runtime."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
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


def spark_conf(master: str, ui: bool = True, driver_memory: str = "2g") -> dict[str, str]:
    """The session settings every run uses: UTC, Arrow, shuffle partitions sized to the cores."""
    cores = os.cpu_count() or 2
    return {
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
        "spark.ui.enabled": "true" if ui else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": driver_memory,
        "spark.driver.extraJavaOptions": "-Dio.netty.tryReflectionSetAccessible=true",
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


def size_shuffles(session, rows: int) -> int:
    """Set the session's shuffle width for a step over ``rows`` rows; return it.

    The default is sized to the cores, which suits a demo day; a week of 10,000 houses at
    one minute (100M readings) in four partitions made blocks of gigabytes that the cleaning
    could not read back into a 6 GB heap. Adaptive execution still coalesces small partitions.
    """
    n = shuffle_partitions_for(rows)
    session.conf.set("spark.sql.shuffle.partitions", str(n))
    return n


def get_spark(master: str = "local[*]", ui: bool = True, driver_memory: str = "2g"):
    """The process's Spark session, started on first call with :func:`spark_conf`."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    check_java()
    # PySpark reads the workers' interpreter from the environment when the context starts.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in spark_conf(master, ui, driver_memory).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkResource(ConfigurableResource):
    """Spark for the run: started on first use, so steps that need no Spark start no JVM.

    With the in-process executor (our default) a run is one process and so one JVM.
    """

    master: str = "local[*]"
    ui: bool = True
    driver_memory: str = "2g"
    _session = PrivateAttr(default=None)

    @property
    def session(self):
        """The SparkSession, started now if it is not yet."""
        if self._session is None:
            self._session = get_spark(self.master, self.ui, self.driver_memory)
        return self._session
