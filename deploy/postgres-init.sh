#!/bin/sh
# Runs once, when the volume is new: the warehouse and Dagster's storage as two databases.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE dagster OWNER "$POSTGRES_USER";
SQL
