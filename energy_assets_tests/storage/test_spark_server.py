"""The Spark server: runs attach to one warm JVM, one at a time, and a killed run's context
does not block the next. Each run is its own process, as a Dagster run is."""

import os
import subprocess
import sys

import pytest

from energy_assets.storage import spark_server

RUN = """
import os, signal, sys
from pathlib import Path
from energy_assets.storage import spark_server
from energy_assets.storage.spark import start_session
home, mode = Path(sys.argv[1]), sys.argv[2]
config = spark_server.server_config()
print("attached", spark_server.attach(home, config))
session = start_session({**config, "spark.ui.enabled": "false"})
print("rows", session.range(1000).selectExpr("sum(id)").first()[0])
print("jvm", session._jvm.java.lang.ProcessHandle.current().pid())
sys.stdout.flush()
if mode == "killed":
    os.kill(os.getpid(), signal.SIGKILL)  # no exit handler stops the context
"""


def _run(home, mode: str = "ends") -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(home), mode], capture_output=True, text=True, timeout=300
    )
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert "rows" in lines, done.stderr[-2000:]
    return lines


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("spark-server")
    started, _ = spark_server.start(home)
    assert started
    yield home
    assert spark_server.stop(home)
    assert spark_server.read_state(home) is None


def test_the_state_is_the_owners_alone(server):
    assert os.stat(server / spark_server.STATE_FILE).st_mode & 0o077 == 0
    assert spark_server.read_state(server)["warm"]


def test_runs_share_the_servers_jvm_and_a_killed_run_does_not_block_the_next(server):
    first = _run(server, "killed")
    second = _run(server)
    assert first["attached"] == second["attached"] == "True"
    assert first["rows"] == second["rows"] == str(sum(range(1000)))
    assert first["jvm"] == second["jvm"]


def test_a_run_finding_the_server_busy_starts_its_own_jvm(server):
    held = spark_server._take_lock(server)
    assert held is not None
    try:
        busy = _run(server)
    finally:
        held.close()
    free = _run(server)
    assert busy["attached"] == "False" and free["attached"] == "True"
    assert busy["jvm"] != free["jvm"]
    assert busy["rows"] == free["rows"]


def test_the_warm_up_runs_every_spark_step_of_the_graph_but_the_warehouse_loads():
    """A step left out of the warm-up would pay its first queries in every first run."""
    from energy_assets.definitions import defs
    from energy_assets.settings import load_settings
    from energy_assets.storage.warm_up import warm_up_assets

    warmed = {k for a in warm_up_assets(load_settings()) for k in a.keys}
    spark_steps = {
        k
        for a in defs.assets
        for k in a.keys
        if "spark" in a.specs_by_key[k].kinds and k.path[0] != "warehouse"
    }
    assert spark_steps and spark_steps <= warmed
