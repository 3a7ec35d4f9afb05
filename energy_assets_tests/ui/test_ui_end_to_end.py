"""The UI end to end: dagster-webserver and dagster-daemon on loopback over the project, runs
launched through the GraphQL API the UI uses, and a headless Chromium rendering the asset graph.

The instance is the project's own (``dagster.yaml``: PostgreSQL storage, queued runs);
the warehouse and Dagster's storage are two fresh databases of the test PostgreSQL server.
"""

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import matplotlib.image
import psycopg
import pytest
import requests
from psycopg import sql

from energy_assets.storage.embedded import dagster_url, with_database
from energy_assets_tests.helpers import wait_until_up

ROOT = Path(__file__).resolve().parents[2]
LOCATION, REPOSITORY = "energy_assets", "__repository__"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(pg_url: str, name: str) -> str:
    """A fresh database on the test server, and its URL."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(pg_url, name)


class UI:
    """A running webserver + daemon and a GraphQL client for them."""

    def __init__(self, url: str):
        self.url = url

    def query(self, text: str, **variables) -> dict:
        r = requests.post(
            f"{self.url}/graphql", json={"query": text, "variables": variables}, timeout=60
        )
        assert r.ok, f"{r.status_code} from the GraphQL server: {r.text[-2000:]}"
        body = r.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait_run(self, run_id: str, seconds: float = 600) -> str:
        deadline = time.time() + seconds
        while time.time() < deadline:
            status = self.query(
                "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id
            )["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            time.sleep(2)
        raise TimeoutError(f"run {run_id} still not finished after {seconds} s")


@pytest.fixture(scope="module")
def ui(tmp_path_factory, pg_url):
    tag = uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": dagster_url(database_url(pg_url, f"e2e_dagster_{tag}")),
        "ENERGY_PG_URL": database_url(pg_url, f"e2e_energy_{tag}"),
        "ENERGY_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "ENERGY_HOUSES": "20",
        "SPARK_MASTER": "local[2]",
        "ENERGY_SPARK_UI": "0",
    }
    port = free_port()
    logs = tmp_path_factory.mktemp("logs")
    procs = [
        subprocess.Popen(
            [
                str(ROOT / ".venv/bin/dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "workspace.yaml",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "webserver.log", "w"),
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [str(ROOT / ".venv/bin/dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "daemon.log", "w"),
            stderr=subprocess.STDOUT,
        ),
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/server_info", 180, logs / "webserver.log")
        yield UI(url)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for name in (f"e2e_dagster_{tag}", f"e2e_energy_{tag}"):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""

CHECKS = """
{ assetNodes { assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name
      executionForLatestMaterialization { status evaluation { severity } } } } } } }"""


ACTIVE = """
{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) {
    ... on Runs { results { runId } } } }"""

FOLLOWED = """
{ runsOrError(filter: {tags: [{key: "dagster/sensor_name", value: "simulated_clock_followers"}]}) {
    ... on Runs { results { runId status } } } }"""


def check_results(ui: UI) -> dict:
    """The latest execution of every asset check, by (asset, check)."""
    return {
        ("/".join(n["assetKey"]["path"]), c["name"]): c["executionForLatestMaterialization"]
        for n in ui.query(CHECKS)["assetNodes"]
        for c in (n["assetChecksOrError"].get("checks") or [])
    }


def test_a_materialization_and_a_two_day_backfill_through_the_ui_api(ui):
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": REPOSITORY,
        "jobName": "everything",
    }
    launched = ui.query(
        LAUNCH,
        params={
            "selector": selector,
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2024-01-01"}]},
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    assert ui.wait_run(launched["run"]["runId"]) == "SUCCESS"

    backfill = ui.query(
        BACKFILL,
        params={
            "assetSelection": [
                {"path": ["raw_readings"]},
                {"path": ["simulation_truth"]},
                {"path": ["load_shapes"]},
                {"path": ["cleaned_readings"]},
                {"path": ["rejected_readings"]},
                {"path": ["gap_estimates"]},
                {"path": ["daily_aggregates"]},
            ],
            "partitionNames": ["2024-01-02", "2024-01-03"],
        },
    )["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
    deadline = time.time() + 600
    while True:
        status = ui.query(
            "query($id: String!) { partitionBackfillOrError(backfillId: $id) {"
            " ... on PartitionBackfill { status runs(limit: 10) { runId status } } } }",
            id=backfill["backfillId"],
        )["partitionBackfillOrError"]
        if status["status"] not in ("REQUESTED",):
            break
        assert time.time() < deadline, status
        time.sleep(3)
    assert status["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), status
    # Single-run backfill policy: the two days are one run.
    assert len(status["runs"]) == 1 and status["runs"][0]["status"] == "SUCCESS", status

    # The backfill left the warehouse tables behind on purpose: the follower sensor
    # (declarative automation) brings them up to date on its own. Wait until it has launched
    # a run and everything has settled (a fast backfill can end before the sensor's tick).
    deadline = time.time() + 600
    while True:
        results = check_results(ui)
        followed = ui.query(FOLLOWED)["runsOrError"]["results"]
        active = ui.query(ACTIVE)["runsOrError"]["results"]
        latest = results[("warehouse/energy_data_cleaned", "matches_parquet")]
        if followed and not active and latest and latest["status"] == "SUCCEEDED":
            break
        assert time.time() < deadline, ("no run launched by the automation sensor", active, latest)
        time.sleep(5)
    assert results[("cleaned_readings", "nothing_lost")]["status"] == "SUCCEEDED"
    for (asset, name), ex in results.items():
        if ex and ex["evaluation"] and ex["evaluation"]["severity"] == "ERROR":
            assert ex["status"] == "SUCCEEDED", (asset, name, ex)


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium here")
def test_chromium_renders_the_asset_graph(ui, tmp_path):
    assert CHROMIUM, "CI installs Debian's chromium: it is missing"
    page = f"{ui.url}/locations/{LOCATION}/asset-groups/analytics/lineage"
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=20000",
        "--window-size=1600,1000",
    ]
    shot = tmp_path / "asset-graph.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", page], capture_output=True, timeout=180, check=True
    )
    dom = subprocess.run(
        [*flags, "--dump-dom", page], capture_output=True, text=True, timeout=180, check=True
    ).stdout
    # The React app rendered the graph: its nodes carry the asset names.
    for name in ("cleaned_readings", "daily_aggregates", "household_classifier", "energy_daily"):
        assert name in dom, name
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 900 and pixels.std() > 0.02  # not a blank page
    keep = os.environ.get("ENERGY_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
