"""The Spark resource's settings and its one-sentence failure without Java."""

import pytest

from energy_assets.storage.spark import JavaMissingError, check_java, spark_conf


def test_session_settings_are_utc_and_sized_to_the_cores():
    conf = spark_conf("local[*]", ui=False)
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.ui.enabled"] == "false"
    assert int(conf["spark.sql.shuffle.partitions"]) >= 2


def test_missing_java_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaMissingError, match=r"^Spark needs Java 17 or newer and none was found"):
        check_java()


def test_old_java_is_named(monkeypatch, tmp_path):
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaMissingError, match="is Java 11.0.2"):
        check_java()


def test_the_session_in_use_is_utc(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_shuffles_grow_with_the_data_and_not_below_the_cores():
    from energy_assets.storage.spark import shuffle_partitions_for

    assert shuffle_partitions_for(10_000, cores=2) == 4
    assert shuffle_partitions_for(100_800_000, cores=2) == 101
    assert shuffle_partitions_for(100_800_000, cores=64) == 128


def test_the_resource_is_dagster_pysparks_lazy_session_and_forces_utc(spark):
    from dagster_pyspark import LazyPySparkResource

    from energy_assets.storage.spark import SparkResource

    assert issubclass(SparkResource, LazyPySparkResource)
    spark.conf.set("spark.sql.session.timeZone", "America/Santiago")  # a session made elsewhere
    try:
        resource = SparkResource(master="local[2]", ui=False)
        assert resource.session is spark
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_a_steps_shuffle_width_does_not_leak_into_the_next(spark):
    from energy_assets.storage.spark import shuffle_width

    before = spark.conf.get("spark.sql.shuffle.partitions")
    with shuffle_width(spark, 100_800_000) as width:
        assert width == 101 and spark.conf.get("spark.sql.shuffle.partitions") == "101"
    assert spark.conf.get("spark.sql.shuffle.partitions") == before


def _cached_bytes(spark, marker: str) -> int:
    infos = spark.sparkContext._jsc.sc().getRDDStorageInfo()
    return sum(i.memSize() + i.diskSize() for i in infos if marker in i.name())


def test_a_small_step_caches_uncompressed_a_large_one_compressed_and_neither_leaks(spark):
    """Spark reads the setting when the cached frame is first computed, inside the block: a
    column of one repeated text takes a fraction of the room compressed."""
    from pyspark.sql import functions as F

    from energy_assets.storage.spark import UNCOMPRESSED_CACHE_ROWS, cache_compression

    key = "spark.sql.inMemoryColumnarStorage.compressed"
    before = spark.conf.get(key)
    room = {}
    for rows in (67_000, UNCOMPRESSED_CACHE_ROWS + 1):
        with cache_compression(spark, rows) as compressed:
            probe = spark.range(200_000).select(
                F.lit("a reading's text").alias("compression_probe")
            )
            probe = probe.persist()
            probe.count()
            room[compressed] = _cached_bytes(spark, "compression_probe")
            probe.unpersist(blocking=True)
        assert spark.conf.get(key) == before
    assert room[True] > 0 and room[True] * 10 < room[False]


def test_a_session_maps_the_class_archive_of_its_java_and_pyspark(monkeypatch, tmp_path):
    """The driver maps the archive written for this Java and these PySpark jars, and starts
    without one (no option) when there is none, or when Java changed (another key)."""
    from energy_assets.storage import jvm_archive

    monkeypatch.setattr(jvm_archive.sys, "prefix", str(tmp_path))
    assert "SharedArchiveFile" not in spark_conf("local[*]")["spark.driver.extraJavaOptions"]
    java = jvm_archive.java_binary()
    archive = jvm_archive.archive_path(java)
    assert archive.parent == tmp_path / "var" / "energy_assets"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"an archive")
    options = spark_conf("local[*]")["spark.driver.extraJavaOptions"].split()
    assert f"-XX:SharedArchiveFile={archive}" in options
    assert "-Dio.netty.tryReflectionSetAccessible=true" in options
    monkeypatch.setattr(jvm_archive, "archive_key", lambda java: "another-java")
    assert "SharedArchiveFile" not in spark_conf("local[*]")["spark.driver.extraJavaOptions"]


def test_the_resource_starts_its_session_in_the_background(spark):
    """A step that works before it needs Spark starts the JVM meanwhile; the session it then
    gets is the process's one (here the test session's, already running)."""
    from energy_assets.storage.spark import SparkResource

    resource = SparkResource(master="local[2]", ui=False)
    resource.start_in_background()
    assert resource.session is spark
    resource.start_in_background()  # started already: nothing more
    assert resource.session is spark


def test_a_small_run_starts_its_jvm_with_the_quick_compiler_only():
    from energy_assets.storage.spark import QUICK_COMPILER, SparkResource

    resource = SparkResource(master="local[2]", ui=False)
    quick = resource.session_config(quick_compiler=True)["spark.driver.extraJavaOptions"]
    usual = resource.session_config()["spark.driver.extraJavaOptions"]
    assert quick.split() == [*usual.split(), *QUICK_COMPILER.split()]
    assert "-XX:TieredStopAtLevel=1" in QUICK_COMPILER.split()


def test_the_quick_compiler_keeps_room_for_a_runs_compiled_code():
    """One tier alone shrinks Java's code cache to 48 MB, which a small run filled."""
    import subprocess

    from energy_assets.storage.jvm_archive import java_binary
    from energy_assets.storage.spark import QUICK_COMPILER

    java = java_binary()
    assert java is not None
    flags = subprocess.run(
        [java, *QUICK_COMPILER.split(), "-XX:+PrintFlagsFinal", "-version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sizes = [
        line.split("=")[1].split()[0]
        for line in flags.splitlines()
        if " ReservedCodeCacheSize " in line
    ]
    assert int(sizes[0]) >= 240 * 2**20
