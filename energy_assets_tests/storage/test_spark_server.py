"""The Spark server: runs attach to one warm JVM and work in its one context, one at a time;
what a run (even a killed one) leaves there does not reach the next. Each run is its own
process, as a Dagster run is."""

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
home, mode, modulus = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
config = spark_server.server_config()
print("attached", spark_server.attach(home, config))
session = start_session({**config, "spark.ui.enabled": "false"})
print("rows", session.range(1000).selectExpr("sum(id)").first()[0])
print("jvm", session._jvm.java.lang.ProcessHandle.current().pid())
print("context", session.sparkContext._jsc.sc().applicationId())
print("cached_before", session.sparkContext._jsc.sc().getPersistentRDDs().size())
print("shuffle_partitions", session.conf.get("spark.sql.shuffle.partitions"))


def pids(batches):
    import os
    import pyarrow as pa
    for _ in batches:
        yield pa.RecordBatch.from_pylist([{"pid": os.getpid()}])


workers = session.range(2, numPartitions=1).mapInArrow(pids, "pid long").collect()
print("worker", workers[0]["pid"])
# Left behind on purpose: a cached frame and a changed setting, as a run killed midway leaves.
session.range(10_000).selectExpr("id % 7 AS k").groupBy("k").count().cache().count()
session.conf.set("spark.sql.shuffle.partitions", "3")
codegen = session._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()
before = codegen.getCount()
# The modulus is written into the generated code: a query no other run of the server made.
session.range(5000).selectExpr(f"id % {modulus} AS k", "id * 2 AS v").groupBy("k").sum("v").collect()
print("compiled", codegen.getCount() - before)
sys.stdout.flush()
if mode == "killed":
    os.kill(os.getpid(), signal.SIGKILL)  # no exit handler stops the context
"""


def _run(home, mode: str = "ends", modulus: int = 11) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(home), mode, str(modulus)],
        capture_output=True,
        text=True,
        timeout=300,
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


def test_runs_share_one_context_and_find_it_as_new(server):
    """The second run compiles none of the query code the first compiled (one context, one
    class loader, Spark's cache of compiled code), yet finds nothing of the first: no cached
    data, its own settings; its Python workers are the first run's, as the code is the same."""
    first = _run(server, "killed", modulus=13)
    second = _run(server, modulus=13)
    assert first["context"] == second["context"]
    assert second["cached_before"] == "0"
    assert second["shuffle_partitions"] != "3"
    assert int(first["compiled"]) > 0 and second["compiled"] == "0"
    assert second["worker"] == first["worker"]


def test_a_run_of_changed_code_has_python_workers_of_its_own(server):
    """Workers import the project's modules once: after a change of the code (here: the
    record of the last run's code made to differ) a run's tasks go to new workers, and the
    daemon of the workers that imported the old code is stopped."""
    import psutil

    before = _run(server)
    path = server / spark_server.WORKERS_FILE
    path.write_text(path.read_text().replace('"code": "', '"code": "old-'))
    after = _run(server)
    assert after["worker"] != before["worker"]
    old = int(before["worker"])
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE


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
