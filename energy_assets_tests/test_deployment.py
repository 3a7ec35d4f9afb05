"""The docker-compose deployment, checked from its files (no Docker engine runs here)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pyspark
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("user-code", "webserver", "daemon", "spark-worker", "jupyter", "dashboard")


def env_vars_the_code_reads() -> set[str]:
    """Every variable named in settings.py (the one reader) and in the instance settings."""
    names = set(
        re.findall(
            r'"((?:ENERGY|SPARK)_[A-Z_]+)"', (ROOT / "energy_assets/settings.py").read_text()
        )
    )
    dagster_yaml = (ROOT / "dagster.yaml").read_text()
    names |= set(re.findall(r"env: ([A-Z_]+)", dagster_yaml))
    # The instance's storage class reads Dagster's own URL (dagster.yaml names the class).
    names |= set(
        re.findall(r'"(DAGSTER_[A-Z_]+)"', (ROOT / "energy_assets/instance.py").read_text())
    )
    return names


def test_the_compose_file_is_valid_for_docker_compose(tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: .ci/run installs Debian's docker-compose.")
        pytest.skip("docker-compose is not installed here")
    out = subprocess.run(
        [
            binary,
            "--env-file",
            str(ROOT / ".env.example"),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_spark_master_and_pipeline_run_the_pinned_spark_version():
    image = SERVICES["spark-master"]["image"]
    assert image.startswith("apache/spark:")
    assert image.split(":")[1] == pyspark.__version__
    assert f'"pyspark=={pyspark.__version__}"' in (ROOT / "Dockerfile").read_text()


def test_every_variable_the_code_reads_is_set_for_the_app_services():
    wanted = env_vars_the_code_reads()
    assert {"ENERGY_PG_URL", "SPARK_MASTER", "ENERGY_DATA_DIR", "DAGSTER_PG_URL"} <= wanted
    for name in APP_SERVICES:
        env = SERVICES[name]["environment"]
        assert wanted <= set(env), (name, wanted - set(env))
        assert env["SPARK_MASTER"] == "spark://spark-master:7077"


def test_the_workspace_points_at_the_grpc_server():
    workspace = yaml.safe_load((ROOT / "deploy/workspace.docker.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    command = SERVICES[server["host"]]["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-p") + 1] == str(server["port"])
    for ui in ("webserver", "daemon"):
        assert "/opt/dagster/workspace.yaml" in SERVICES[ui]["command"]


def test_ports_are_on_loopback_and_no_credential_is_in_the_files():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text and "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}" in text
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert (ROOT / ".env.example").is_file()
    pg = SERVICES["postgres"]
    assert "healthcheck" in pg and any("postgres-data" in v for v in pg["volumes"])
    assert "CREATE DATABASE dagster" in (ROOT / "deploy/postgres-init.sh").read_text()


def test_jupyter_needs_a_token_and_the_dashboard_runs_the_app():
    command = " ".join(SERVICES["jupyter"]["command"])
    assert "--IdentityProvider.token=${JUPYTER_TOKEN:?" in command
    assert "/opt/energy_assets/dashboards/app.py" in SERVICES["dashboard"]["command"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY notebooks" in dockerfile and "COPY dashboards" in dockerfile


def test_compose_refuses_to_start_jupyter_without_a_token(tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed here")
    env = tmp_path / ".env"
    env.write_text(
        "\n".join(
            line
            for line in (ROOT / ".env.example").read_text().splitlines()
            if not line.startswith("JUPYTER_TOKEN")
        )
    )
    out = subprocess.run(
        [binary, "--env-file", str(env), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"},
    )
    assert out.returncode != 0 and "JUPYTER_TOKEN" in out.stderr


def test_one_dagster_yaml_serves_every_entry_point():
    """At the root, no secret in it; the plain CLI there keeps runs in the project's PostgreSQL."""
    import yaml

    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert config["storage"]["custom"]["class"] == "ProjectStorage"
    assert (
        "postgres" not in (ROOT / "dagster.yaml").read_text().split("storage:")[1].split("run_")[0]
    )
    assert not (ROOT / "deploy" / "dagster.yaml").exists()
    assert "COPY dagster.yaml" in (ROOT / "Dockerfile").read_text()
    assert "cp dagster.yaml $(DAGSTER_HOME)" in (ROOT / "Makefile").read_text()


def test_dg_checks_the_definitions_from_the_root():
    done = subprocess.run(
        [str(ROOT / ".venv/bin/dg"), "check", "defs"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr
