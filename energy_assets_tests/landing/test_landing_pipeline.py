"""End to end with ENERGY_SOURCE=landing: files a test lands, `make land`'s pass, the warehouse."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dagster import DagsterInstance, Definitions
from psycopg import sql
from streamlit.testing.v1 import AppTest

from energy_assets.assets.landing import LandingResource
from energy_assets.definitions import build_definitions
from energy_assets.land import land
from energy_assets.sensors import landing_files
from energy_assets.settings import Settings
from energy_assets_tests.helpers import project_resources
from energy_assets_tests.landing.files import lcl_day, lcl_file, long_file

TZ = ZoneInfo("America/Santiago")  # the test session's partitions (ENERGY_CLIMATE unset)
RAW_BY_DAY = (
    "SELECT (simulated_timestamp AT TIME ZONE 'UTC' AT TIME ZONE 'America/Santiago')::date, "
    "count(*) FROM {s}.energy_data_raw GROUP BY 1"
)


def _defs(lake_dir, pg_url, schema, inbox) -> Definitions:
    settings = Settings(source="landing", landing_dir=inbox, data_dir=lake_dir, pg_schema=schema)
    landing = LandingResource(landing_dir=str(inbox), interval_minutes=15)
    return Definitions(
        assets=list(build_definitions(settings).assets),
        sensors=[landing_files],
        resources=project_resources(lake_dir, pg_url, schema, houses_per_task=20)
        | {"landing": landing},
    )


def _rows(pg_url, schema, query: str, *args):
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql.SQL(query).format(s=sql.Identifier(schema)), args).fetchall()


def _day(path, day: dt.date, houses: list[str], **kw) -> int:
    return long_file(path, houses, dt.datetime.combine(day, dt.time(), tzinfo=TZ), 96, **kw)


@pytest.mark.usefixtures("spark")
def test_landed_files_go_through_the_whole_graph_and_late_files_reopen_their_day(
    tmp_path, lake_dir, pg_url, pg_schema, monkeypatch
):
    inbox = tmp_path / "landing"
    inbox.mkdir()
    meters = [f"MTR{i:03d}" for i in range(6)]
    day1 = _day(inbox / "2024-03-04.csv", dt.date(2024, 3, 4), meters, bom=True, newline="\r\n")
    day2 = _day(inbox / "2024-03-05.csv", dt.date(2024, 3, 5), meters, temperature=False)
    lcl_file(inbox / "block_0.csv", lcl_day("MAC000002", dt.date(2024, 3, 4), "America/Santiago"))
    (inbox / "garbage.bin").write_bytes(b"\x89PNG\r\n\x1a\n not readings")
    defs = _defs(lake_dir, pg_url, pg_schema, inbox)

    with DagsterInstance.ephemeral() as instance:
        (first,) = land(defs, instance)
        assert first.success
        assert first.dagster_run.tags["dagster/asset_partition_range_start"] == "2024-03-04"
        assert first.dagster_run.tags["dagster/asset_partition_range_end"] == "2024-03-05"
        for check in first.get_asset_check_evaluations():
            assert check.passed or check.severity.value == "WARN", check.description
        # Read, committed, moved on; the unreadable ones are in quarantine with their reason.
        assert sorted(p.name for p in (inbox / "processed").iterdir()) == [
            "2024-03-04.csv",
            "2024-03-05.csv",
        ]
        reasons = {p.name: p.read_text() for p in (inbox / "quarantine").glob("*.reason.json")}
        assert "30 minutes apart, but the pipeline runs at 15" in reasons["block_0.csv.reason.json"]
        assert "not UTF-8" in reasons["garbage.bin.reason.json"]

        raw = dict(_rows(pg_url, pg_schema, RAW_BY_DAY))
        assert raw == {dt.date(2024, 3, 4): day1, dt.date(2024, 3, 5): day2}
        daily = _rows(
            pg_url,
            pg_schema,
            "SELECT day, count(*), min(completeness), count(temperature_mean) "
            "FROM {s}.energy_daily GROUP BY day ORDER BY day",
        )
        # The second file has no temperature: its day is whole, its temperatures empty.
        assert daily == [(dt.date(2024, 3, 4), 6, 1.0, 6), (dt.date(2024, 3, 5), 6, 1.0, 0)]
        houses = _rows(pg_url, pg_schema, "SELECT house_id, profile FROM {s}.houses ORDER BY 1")
        assert houses == [(m, None) for m in meters]
        assert _rows(pg_url, pg_schema, "SELECT count(*) FROM {s}.household_classes") == [(0,)]

        # A late file for the first day and a copy of the second: only the first day is rebuilt.
        late = _day(inbox / "late.csv", dt.date(2024, 3, 4), ["MTR100", "MTR101"])
        (inbox / "copy.csv").write_bytes((inbox / "processed" / "2024-03-05.csv").read_bytes())
        (second,) = land(defs, instance)
        assert second.success
        assert second.dagster_run.tags["dagster/asset_partition_range_start"] == "2024-03-04"
        assert second.dagster_run.tags["dagster/asset_partition_range_end"] == "2024-03-04"
        assert {p.name for p in (inbox / "processed").iterdir()} >= {"late.csv", "copy.csv"}
        assert not [p for p in inbox.iterdir() if p.is_file()]
        raw = dict(_rows(pg_url, pg_schema, RAW_BY_DAY))
        assert raw == {dt.date(2024, 3, 4): day1 + late, dt.date(2024, 3, 5): day2}
        assert _rows(pg_url, pg_schema, "SELECT count(*) FROM {s}.houses") == [(8,)]
        cleaned = _rows(
            pg_url,
            pg_schema,
            "SELECT count(DISTINCT house_id) FROM {s}.energy_data_cleaned "
            "WHERE simulated_timestamp >= %s AND simulated_timestamp < %s",
            dt.datetime(2024, 3, 4, 3),
            dt.datetime(2024, 3, 5, 3),
        )
        assert cleaned == [(8,)]
        # Nothing left to do: a third pass asks for no run.
        assert land(defs, instance) == []

    # The dashboard reads the landed warehouse as it is: houses of unknown profile included.
    monkeypatch.setenv("ENERGY_PG_URL", pg_url)
    monkeypatch.setenv("ENERGY_PG_SCHEMA", pg_schema)
    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py"))
    app.run(timeout=120)
    assert not app.exception, [e.message for e in app.exception]
    assert app.metric[0].value == "14"  # house-days: 8 houses on the first day, 6 on the second


def test_make_land_in_its_own_process_on_london_lcl_across_the_autumn_change(
    tmp_path, pg_url, pg_schema
):
    import os
    import subprocess
    import sys

    inbox = tmp_path / "landing"
    inbox.mkdir()
    rows = [
        row
        for meter in ("MAC000002", "MAC000003")
        for day in (dt.date(2024, 10, 26), dt.date(2024, 10, 27))
        for row in lcl_day(meter, day, "Europe/London")
    ]
    lcl_file(inbox / "block_0.csv", rows)
    (tmp_path / "houses.csv").write_text("house_id,profile\nMAC000002,low\nMAC000003,high\n")
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "ENERGY_SOURCE": "landing",
        "ENERGY_LANDING_DIR": str(inbox),
        "ENERGY_HOUSES_FILE": str(tmp_path / "houses.csv"),
        "ENERGY_CLIMATE": "london",
        "ENERGY_INTERVAL_MINUTES": "30",
        "ENERGY_DATA_DIR": str(tmp_path / "data"),
        "ENERGY_PG_URL": pg_url,
        "ENERGY_PG_SCHEMA": pg_schema,
        "SPARK_MASTER": "local[2]",
        "ENERGY_SPARK_UI": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "energy_assets.land"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "landing run for 2024-10-26..2024-10-27 - " in done.stdout
    assert "1 moved to processed" in done.stdout
    assert (inbox / "processed" / "block_0.csv").exists()
    # London's local days: 48 half hours, then 50 on the day the clocks go back.
    daily = _rows(
        pg_url,
        pg_schema,
        "SELECT day, min(expected_intervals), max(expected_intervals), count(*) "
        "FROM {s}.energy_daily GROUP BY day ORDER BY day",
    )
    assert daily == [(dt.date(2024, 10, 26), 48, 48, 2), (dt.date(2024, 10, 27), 50, 50, 2)]
    reasons = _rows(pg_url, pg_schema, "SELECT DISTINCT reason FROM {s}.energy_data_rejected")
    assert reasons == [("consumption_missing",)]  # LCL's Null
    assert _rows(pg_url, pg_schema, "SELECT house_id, profile FROM {s}.houses ORDER BY 1") == [
        ("MAC000002", "low"),
        ("MAC000003", "high"),
    ]
