# One image for the user-code gRPC server, dagster-webserver, dagster-daemon and the Spark
# worker: Python 3.11, Java 17 for Spark (the JDK, which compiles the JVM COPY against Debian's
# PostgreSQL JDBC driver), and the project. The worker runs from this image (not the bare Apache
# Spark one) because executors run the project's Python code (the simulator's numpy core, Arrow
# batches) and must match the driver's Python and packages.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless libpostgresql-jdbc-java \
    procps \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/energy_assets
COPY pyproject.toml README.md ./
COPY energy_assets ./energy_assets
# pyspark is pinned to the version of the Spark master image in docker-compose.yml.
RUN pip install --no-cache-dir . "pyspark==4.3.0" "jupyterlab>=4.2" \
 && python -m energy_assets.storage.jvm_copy
COPY notebooks ./notebooks
COPY dashboards ./dashboards

COPY dagster.yaml /opt/dagster/home/dagster.yaml
COPY deploy/workspace.docker.yaml /opt/dagster/workspace.yaml
ENV DAGSTER_HOME=/opt/dagster/home \
    ENERGY_DATA_DIR=/data \
    ENERGY_HOME=/opt/energy_home \
    PYSPARK_PYTHON=/usr/local/bin/python
