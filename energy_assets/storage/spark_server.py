"""A Spark driver JVM that outlives a run, as the embedded PostgreSQL server does.

A small run (``make run``: 67k readings) spent most of its time starting a JVM and warming it:
every query's first runs in a JVM pay class loading, Janino's compilation of the generated code
and the JIT. ``python -m energy_assets.storage.spark_server start`` (``make serve``, which
``make run`` and ``make checks`` call first) starts a driver JVM under ``ENERGY_HOME``, warms it
by running the graph's Spark steps on a small neighbourhood (:mod:`warm_up`), and keeps it; a
Dagster run's Spark resource then attaches to it through PySpark's gateway
(``PYSPARK_GATEWAY_PORT``) instead of starting its own, and works in the server's one
``SparkContext`` with a ``SparkSession`` of its own (its own settings and views). The JIT's code
and the compiled query classes stay for the next run: Spark caches a query's compiled code by
the class loader of the context's executor too, so a context of each run's own (as runs had
until 2026-12-06) compiled every query again, about 260 classes a ``make run``.

What a run leaves in the context is cleared when it exits and again when the next one attaches
(a killed run's exit handler does not run): its jobs are cancelled, its cached frames dropped.
Python workers import the project's modules once and serve later tasks: they are kept for runs
of the same code and replaced when the code changes (:func:`code_version`).

One run at a time: a run holds an exclusive lock on the server while it is attached; a run that
finds the lock taken, or the server started with other JVM settings (master, driver memory,
jars, JVM options) or another ``PYTHONPATH`` for its workers, starts a JVM of its own. The
gateway listens on 127.0.0.1 and needs the secret in the state file, which only the owner can
read.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from energy_assets.storage.folders import FileLock, write_private

MODULE = "energy_assets.storage.spark_server"
STATE_FILE = "spark-server.json"
LOCK_FILE = "spark-server.lock"
LOG_FILE = "spark-server.log"
#: Settings a JVM takes when it starts; a session that asks for other values needs its own.
JVM_SETTINGS = (
    "spark.master",
    "spark.driver.memory",
    "spark.jars",
    "spark.driver.extraJavaOptions",
)
#: How long ``start`` waits for the server to start and warm up.
START_TIMEOUT_S = 300

#: The lock this process holds on a server while attached (one per process: one JVM).
_attached: dict[str, Any] = {}


class SparkServerError(RuntimeError):
    """The Spark server did not start."""


#: The environment a JVM hands its Python workers: where they import the project from.
WORKER_ENVIRONMENT = ("PYTHONPATH",)


def jvm_key(config: dict[str, str]) -> str:
    """The JVM-level part of a session's settings and the workers' environment, as one
    comparable string: a run whose key differs starts a JVM of its own."""
    key = {k: config.get(k, "") for k in JVM_SETTINGS}
    key.update({k: os.environ.get(k, "") for k in WORKER_ENVIRONMENT})
    return json.dumps(key, sort_keys=True)


def _state_path(home: Path) -> Path:
    return Path(home) / STATE_FILE


def read_state(home: Path) -> dict | None:
    """The running server's state (pid, port, secret, key), or None when none is running."""
    try:
        state = json.loads(_state_path(home).read_text())
        os.kill(state["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    return state


def _write_state(home: Path, state: dict) -> None:
    # Owner-only: the secret is what stands between another local user and the driver.
    write_private(_state_path(home), json.dumps(state))


def _take_lock(home: Path) -> FileLock | None:
    """The server's lock, taken without waiting; None when another run holds it."""
    lock = FileLock(Path(home) / LOCK_FILE)
    if lock.acquire(blocking=False):
        return lock
    lock.close()
    return None


def _connect(state: dict):
    """A py4j gateway to the server's JVM."""
    from pyspark.java_gateway import launch_gateway

    saved = {k: os.environ.get(k) for k in ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")}
    os.environ["PYSPARK_GATEWAY_PORT"] = str(state["port"])
    os.environ["PYSPARK_GATEWAY_SECRET"] = state["secret"]
    try:
        return launch_gateway()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


#: The variable in the environment of a run's Python workers that names the project's code
#: they may import: Spark keeps a daemon of workers for each environment, so workers started
#: for other code are never handed a later run's tasks.
WORKERS_VARIABLE = "ENERGY_ASSETS_WORKERS"
WORKERS_FILE = "spark-server-workers.json"


def code_version() -> str:
    """A digest of the project's Python files (paths, sizes, modification times)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _workers_key(home: Path) -> str:
    """The workers' key for this run's code: the last run's when the code is the same, a new
    one when it changed (never an earlier one again: its daemon may have been stopped)."""
    path = Path(home) / WORKERS_FILE
    version = code_version()
    try:
        last = json.loads(path.read_text())
    except (OSError, ValueError):
        last = {}
    if last.get("code") == version and last.get("key"):
        return last["key"]
    key = f"{version}-{time.time_ns()}"
    write_private(path, json.dumps({"code": version, "key": key}))
    return key


def _stop_other_workers(jvm_pid: int, key: str) -> None:
    """Stop the server's Python worker daemons started for other code than ``key`` names
    (their workers may hold an earlier version of the project's modules)."""
    import psutil

    if not jvm_pid:
        return
    try:
        children = psutil.Process(jvm_pid).children()
    except psutil.Error:
        return
    for child in children:
        with contextlib.suppress(psutil.Error):
            if child.environ().get(WORKERS_VARIABLE, key) != key:
                child.terminate()


def _live_session(gateway):
    """The JVM's default session when its context runs (a context PySpark made has one)."""
    found = gateway.jvm.org.apache.spark.sql.SparkSession.getDefaultSession()
    if not found.isDefined() or found.get().sparkContext().isStopped():
        return None
    return found.get()


def _reset(gateway) -> None:
    """Leave the server's context as a new one would be: no job running, nothing cached, and
    a default session of its own for the next run's settings and views."""
    jvm = gateway.jvm
    session = _live_session(gateway)
    if session is None:
        return
    context = session.sparkContext()
    context.cancelAllJobs()
    session.catalog().clearCache()
    persisted = context.getPersistentRDDs().valuesIterator()
    while persisted.hasNext():
        persisted.next().unpersist(False)
    jvm.org.apache.spark.sql.SparkSession.clearActiveSession()
    jvm.org.apache.spark.sql.SparkSession.setDefaultSession(session.newSession())


def adopt_context(config: dict[str, str]) -> None:
    """Make the server's context this process's PySpark context, when attached and the JVM
    holds one (the warm-up's first session makes it); a session built after it is then a
    session of that context."""
    from pyspark import SparkConf, SparkContext

    if not _attached or SparkContext._active_spark_context is not None:
        return
    session = _live_session(SparkContext._gateway)
    if session is not None:
        shared = SparkContext._jvm.org.apache.spark.api.java.JavaSparkContext(
            session.sparkContext()
        )
        SparkContext(conf=SparkConf(loadDefaults=False).setAll(list(config.items())), jsc=shared)


def tag_workers(context) -> None:
    """Name this run's code in the environment of the Python workers of ``context`` (the
    PySpark context), when attached: see :data:`WORKERS_VARIABLE`."""
    if _attached:
        context.environment[WORKERS_VARIABLE] = _attached["workers"]


def _release() -> None:
    """At the run's exit: the context stays, as clean as :func:`_reset` leaves it."""
    from pyspark import SparkContext

    if SparkContext._gateway is not None and _attached:
        with contextlib.suppress(Exception):
            _reset(SparkContext._gateway)


def attach(home: Path, config: dict[str, str], warming: bool = False) -> bool:
    """Point this process's PySpark at the server under ``home`` when one runs with
    ``config``'s JVM settings and no other run holds it; False (start a JVM of its own) else.
    The run then works in the server's context (:func:`adopt_context`), cleared first."""
    from pyspark import SparkContext

    if _attached or SparkContext._gateway is not None:
        return bool(_attached)
    state = read_state(home)
    if state is None or not (state.get("ready") or warming) or state.get("key") != jvm_key(config):
        return False
    lock = _take_lock(home)
    if lock is None:
        return False
    try:
        gateway = _connect(state)
        # A run killed before its exit handler ran leaves jobs and caches behind.
        _reset(gateway)
        workers = _workers_key(home)
        _stop_other_workers(state.get("jvm_pid", 0), workers)
    except Exception:  # the server went away between the check and the connection
        lock.close()
        return False
    with SparkContext._lock:
        SparkContext._gateway = gateway
        SparkContext._jvm = gateway.jvm
    _attached.update(lock=lock, home=str(home), workers=workers)
    atexit.register(_release)
    return True


def is_attached() -> bool:
    """Whether this process's Spark runs in the server's JVM."""
    return bool(_attached)


def _warm_up(home: Path, config: dict[str, str]) -> None:
    """Run the graph's Spark steps on a small neighbourhood in the server's JVM
    (:mod:`energy_assets.storage.warm_up`), then leave its context for the runs, cleared."""
    from energy_assets.settings import load_settings
    from energy_assets.storage.warm_up import warm_graph

    if not attach(home, config, warming=True):
        raise SparkServerError("The warm-up could not attach to the Spark server it started.")
    warm_graph(load_settings())
    _release()


def _serve(home: Path, config: dict[str, str]) -> None:
    """Start the driver JVM, warm it, write the state file and keep the JVM until SIGTERM."""
    from pyspark import SparkConf
    from pyspark.java_gateway import launch_gateway

    conf = SparkConf(loadDefaults=False)
    conf.setAll(list(config.items()))
    gateway = launch_gateway(conf)
    params = getattr(gateway, "java_parameters", None) or gateway.gateway_parameters
    state = {
        "pid": os.getpid(),
        "jvm_pid": gateway.proc.pid,
        "port": params.port,
        "secret": params.auth_token,
        "key": jvm_key(config),
        "ready": False,
    }
    _write_state(home, state)
    # The warm-up attaches like a run does, from another process.
    # A failed warm-up leaves a cold JVM, still a working one; the log says why.
    warmed = subprocess.run([sys.executable, "-m", MODULE, "warm", str(home)])
    _write_state(home, {**state, "ready": True, "warm": warmed.returncode == 0})

    def shut_down(*_: object) -> None:
        _state_path(home).unlink(missing_ok=True)
        gateway.proc.stdin.close()  # the gateway's JVM exits when its stdin closes
        try:
            gateway.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.proc.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    gateway.proc.wait()  # the JVM died on its own: say so by removing the state
    _state_path(home).unlink(missing_ok=True)


def server_config() -> dict[str, str]:
    """The settings a run's Spark resource starts a session with (the environment's)."""
    from energy_assets.resources import build_resources
    from energy_assets.settings import load_settings

    return build_resources(load_settings())["spark"].session_config()


def start(home: Path) -> tuple[bool, float]:
    """Start the server under ``home`` unless one with these settings runs; (started, seconds)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    config = server_config()
    state = read_state(home)
    if state is not None and state.get("key") == jvm_key(config):
        return False, 0.0
    if state is not None:
        stop(home)  # started with other settings: runs would not use it
    begin = time.monotonic()
    with open(home / LOG_FILE, "ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", MODULE, "serve", str(home)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # outlives make's process group
        )
    deadline = begin + START_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        state = read_state(home)
        if state is not None and state.get("ready"):
            return True, time.monotonic() - begin
        time.sleep(0.2)
    raise SparkServerError(
        f"The Spark server did not start within {START_TIMEOUT_S} s (see {home / LOG_FILE})."
        if server.poll() is None
        else f"The Spark server exited as it started (see {home / LOG_FILE})."
    )


def stop(home: Path) -> bool:
    """Stop the server under ``home``; whether one was running."""
    state = read_state(Path(home))
    if state is None:
        return False
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 60
    while read_state(Path(home)) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    return True


def main(argv: list[str]) -> int:
    """``start`` / ``stop`` [home] for make; ``serve`` and ``warm`` are the server's own."""
    from energy_assets.settings import load_settings

    command = argv[0] if argv else "start"
    home = Path(argv[1]) if len(argv) > 1 else load_settings().home
    if command == "serve":
        _serve(home, server_config())
    elif command == "warm":
        _warm_up(home, server_config())
    elif command == "start":
        try:
            started, seconds = start(home)
        except SparkServerError as err:
            print(f"energy_assets: {err}", file=sys.stderr)
            return 1
        if started:
            print(f"Spark server started and warmed up in {seconds:.1f} s.")
    elif command == "stop":
        if stop(home):
            print("Spark server stopped.")
    else:
        print(f"usage: {MODULE} start|stop [home]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
