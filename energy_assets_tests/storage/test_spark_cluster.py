"""A real Spark standalone cluster (master and worker from the pyspark distribution) on
127.0.0.1: a simulated day materialized there equals the same day in local mode."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from dagster import materialize

from energy_assets.assets.cleaning import vee
from energy_assets.assets.simulation import houses, simulated_meters
from energy_assets_tests.cluster_run import SIMULATION
from energy_assets_tests.helpers import project_resources

DAY = "2024-02-29"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_class() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home()) / "bin" / "spark-class"


def wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and one worker (1 core, 1 GiB) on loopback."""
    logs = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(logs)}
    port, ui, worker_ui = free_port(), free_port(), free_port()
    master = subprocess.Popen(
        [
            str(spark_class()),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
        env=env,
        stdout=open(logs / "master.log", "w"),
        stderr=subprocess.STDOUT,
    )
    worker = None
    try:
        wait_for(port)
        url = f"spark://127.0.0.1:{port}"
        worker = subprocess.Popen(
            [
                str(spark_class()),
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "1g",
                "--webui-port",
                str(worker_ui),
                "--work-dir",
                str(logs / "work"),
            ],
            env=env,
            stdout=open(logs / "worker.log", "w"),
            stderr=subprocess.STDOUT,
        )
        wait_for(worker_ui)
        yield url, env, logs
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def rows(data_dir: Path, asset: str, keys: list[str]):
    table = ds.dataset(str(data_dir / asset), format="parquet", partitioning="hive").to_table()
    return table.sort_by([(k, "ascending") for k in keys])


def test_a_day_on_a_standalone_cluster_equals_local_mode(cluster, tmp_path, spark, pg_url):
    url, env, logs = cluster
    on_cluster = tmp_path / "cluster"
    out = subprocess.run(
        [sys.executable, "-m", "energy_assets_tests.cluster_run", str(on_cluster), url, DAY],
        env={**env, "ENERGY_SPARK_UI": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    assert f"master: {url}" in out.stdout
    # The worker really ran executors for it.
    assert any((logs / "work").glob("app-*/*/stderr"))

    local = tmp_path / "local"
    local.mkdir()
    resources = project_resources(local, pg_url, "unused", **SIMULATION)
    assert materialize(
        [houses, simulated_meters, vee], resources=resources, partition_key=DAY
    ).success

    key = ["house_id", "simulated_timestamp", "ingested_at"]
    for asset, keys in (
        ("raw_readings", key + ["consumption_kwh", "temperature", "voltage"]),
        ("simulation_truth", ["house_id", "kind", "simulated_timestamp", "ingested_at", "field"]),
        ("cleaned_readings", key),
        ("rejected_readings", key + ["reason"]),
    ):
        a, b = rows(on_cluster, asset, keys), rows(local, asset, keys)
        assert a.num_rows == b.num_rows > 0 or asset == "rejected_readings", asset
        assert a.equals(b), asset
