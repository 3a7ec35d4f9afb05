"""Storage under crashes, concurrency, idle readers and other local users (docs/reliability.md).

Each test is a probe an operator would try; it fails without the property it names.
"""

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, EnvVar, asset
from dagster._serdes import serialize_value
from psycopg import sql

from energy_assets.calendar import local_day
from energy_assets.partitions import simulated_days, single_run
from energy_assets.storage import embedded
from energy_assets.storage import warehouse as wh
from energy_assets.storage.folders import FolderError, staging_folder
from energy_assets.storage.parquet_io import (
    day_dir,
    read_arrow_days,
    spark_read_days,
    write_arrow_days,
)
from energy_assets.storage.postgres_io import (
    PostgresIOManager,
    PostgresResource,
    arrow_copy_writer,
    read_spark,
)
from energy_assets_tests.helpers import materialize_range, project_resources

ROOT = Path(__file__).resolve().parents[1]
D1 = dt.date(2024, 1, 1)


def readings(n: int = 48, value: float = 1.0, day: dt.date = D1) -> pa.Table:
    """``n`` readings of four houses spread over one UTC day (``day_target`` keeps UTC days)."""
    start = dt.datetime.combine(day, dt.time())
    step = 86_400 // max(1, -(-n // 4))
    return pa.table(
        {
            "house_id": [f"H{k % 4}" for k in range(n)],
            "simulated_timestamp": pa.array(
                [start + dt.timedelta(seconds=step * (k // 4)) for k in range(n)],
                pa.timestamp("us"),
            ),
            "consumption_kwh": [value] * n,
        }
    )


def day_target(schema: str, table: str = "readings") -> wh.TableTarget:
    return wh.TableTarget(schema, table, "simulated_timestamp", ("house_id", "simulated_timestamp"))


def load_day(url: str, target: wh.TableTarget, table: pa.Table, **kwargs) -> wh.LoadResult:
    return wh.load_days(url, target, table.schema, [D1], arrow_copy_writer(table, url), **kwargs)


def with_password(url: str) -> str:
    """The same server and database, with the role's password written in the URL."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    password = embedded.password_of(url)
    return f"postgresql://{info['user']}:{password}@{info['host']}:{info['port']}/{info['dbname']}"


# -- 1. the embedded server admits only its owner ---------------------------------------------


def test_the_embedded_server_admits_only_its_owner(pg_url):
    info = psycopg.conninfo.conninfo_to_dict(pg_url)
    if "passfile" not in info:
        pytest.skip("ENERGY_PG_URL names an external server")
    passfile = Path(info["passfile"])
    assert passfile.stat().st_mode & 0o777 == 0o600
    assert embedded.password_of(pg_url) not in pg_url  # the URL names the file, not the secret
    for user in ("postgres", "energy"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(
                f"postgresql://{user}@{info['host']}:{info['port']}/{info['dbname']}",
                connect_timeout=5,
                passfile=os.devnull,
            )
    with psycopg.connect(pg_url) as conn:
        role = conn.execute(
            "SELECT rolsuper, pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER') "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert role == (False, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("COPY (SELECT 1) TO PROGRAM 'id'")


# -- 2. no secret in any output ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://energy:s3cr/et!pw@127.0.0.1:1/energy",
        "postgresql://energy:s3cr?etpw@127.0.0.1:1/energy",
        "postgresql://energy:s3cr etpw@127.0.0.1:1/energy",
        "postgresql://energy:s3cr@etpw@127.0.0.1:1/energy",
        "postgresql://energy:s3cretpw@no such host/energy",
        "postgresql://energy:s3cretpw@127.0.0.1:1/energy?sslmode=disable",
        "host=127.0.0.1 port=1 user=energy password=s3cretpw dbname=energy",
    ],
)
def test_connection_errors_never_hold_the_password(url):
    with pytest.raises(wh.WarehouseError) as err:
        wh.connect(url)
    message = str(err.value)
    assert "s3cr" not in message and "etpw" not in message, message
    assert message.count(".") >= 1 and "\n" not in message


def test_no_password_in_the_event_log_or_the_summary(
    pg_url, pg_schema, lake_dir, monkeypatch, tmp_path
):
    secret_url = with_password(pg_url)
    password = embedded.password_of(pg_url)
    monkeypatch.setenv("ENERGY_PG_URL", secret_url)

    @asset(
        partitions_def=simulated_days,
        backfill_policy=single_run,
        io_manager_key="warehouse_io_manager",
        metadata={"partition_expr": "simulated_timestamp"},
    )
    def secret_readings(context) -> pa.Table:
        start = local_day(D1, simulated_days.timezone).start  # the partition's local day
        return readings(8).set_column(
            1,
            "simulated_timestamp",
            pa.array([start + dt.timedelta(minutes=30 * k) for k in range(8)], pa.timestamp("us")),
        )

    resources = project_resources(lake_dir, pg_url, pg_schema)
    postgres = PostgresResource(url=EnvVar("ENERGY_PG_URL"), warehouse_schema=pg_schema)
    resources["postgres"] = postgres
    resources["warehouse_io_manager"] = PostgresIOManager(
        postgres=postgres, spark=resources["spark"]
    )
    instance = DagsterInstance.ephemeral()
    result = materialize_range([secret_readings], resources, str(D1), str(D1), instance=instance)
    assert result.success
    # A failing run too: the same password, a port where nothing listens.
    monkeypatch.setenv(
        "ENERGY_PG_URL",
        secret_url.replace(f":{psycopg.conninfo.conninfo_to_dict(pg_url)['port']}/", ":1/"),
    )
    failed = materialize_range(
        [secret_readings], resources, str(D1), str(D1), instance=instance, raise_on_error=False
    )
    assert not failed.success
    for run in (result, failed):
        logs = instance.all_logs(run.run_id)
        text = "\n".join(serialize_value(entry) for entry in logs)
        assert "unreachable" in text or run is result
        assert password not in text
        assert password not in json.dumps(
            instance.get_run_by_id(run.run_id).run_config, default=str
        )
    # The end-of-run summary prints the URL redacted.
    home = tmp_path / "dagster_home"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "energy_assets.summary"],
        env={
            **os.environ,
            "ENERGY_PG_URL": secret_url,
            "ENERGY_PG_SCHEMA": pg_schema,
            "DAGSTER_HOME": str(home),
        },
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert "Warehouse tables (schema" in done.stdout and pg_schema in done.stdout
    assert password not in done.stdout + done.stderr
    assert "***" in done.stdout


# -- 3. a swap never blocks readers for long --------------------------------------------------


def test_a_swap_waits_briefly_for_a_reader_then_names_it(pg_url, pg_schema):
    target = day_target(pg_schema)
    load_day(pg_url, target, readings(value=1.0))
    reader = psycopg.connect(pg_url, application_name="drill reader")
    try:
        reader.execute(sql.SQL("SELECT count(*) FROM {}").format(target.ident))  # open transaction
        patience = wh.SwapPatience(lock_timeout_s=0.2, tries=2, pause_s=0.1)
        with pytest.raises(
            wh.WarehouseError,
            match=r"pid \d+ \(application 'drill reader'.*previous version is kept",
        ):
            load_day(pg_url, target, readings(value=2.0), patience=patience)
        # Meanwhile other readers were not queued for good: a fresh one reads at once.
        with psycopg.connect(pg_url) as other:
            other.execute("SET lock_timeout = '2s'")
            assert (
                other.execute(sql.SQL("SELECT count(*) FROM {}").format(target.ident)).fetchone()[0]
                == 48
            )
    finally:
        reader.close()
    back = wh.read_arrow(pg_url, target, D1, D1 + dt.timedelta(days=1))
    assert set(back["consumption_kwh"].to_pylist()) == {1.0}
    load_day(pg_url, target, readings(value=2.0))  # the reader gone, the swap goes through
    assert set(wh.read_arrow(pg_url, target)["consumption_kwh"].to_pylist()) == {2.0}


# -- 4. leftovers are swept -------------------------------------------------------------------


def stage_tables(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname LIKE %s",
                (schema, "%\\_\\_stage\\_%"),
            )
        )


def test_the_next_load_sweeps_a_dead_loads_staging_but_not_a_live_one(pg_url, pg_schema):
    target = day_target(pg_schema)
    load_day(pg_url, target, readings())
    live = wh.StagingOwner(pg_url)  # a load in progress in another session
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for stage_id in ("deadbeef00", live.stage_id):  # a crashed load's and the live one's
                conn.execute(
                    sql.SQL("CREATE TABLE {} (LIKE {})").format(
                        sql.Identifier(pg_schema, f"readings__stage_{stage_id}_p20240101"),
                        target.ident,
                    )
                )
        load_day(pg_url, target, readings(value=3.0))
        assert stage_tables(pg_url, pg_schema) == [f"readings__stage_{live.stage_id}_p20240101"]
    finally:
        live.close()
    load_day(pg_url, target, readings(value=3.0))
    assert stage_tables(pg_url, pg_schema) == []


def test_the_next_write_sweeps_a_dead_writers_parquet_staging(tmp_path):
    asset_dir = tmp_path / "readings"
    write_arrow_days(readings(), asset_dir, [D1], "simulated_timestamp")
    dead = asset_dir / ".staging-deadbeef"
    (dead / f"day={D1}").mkdir(parents=True)
    pq.write_table(readings(), dead / f"day={D1}" / "part-00000.parquet")
    with staging_folder(asset_dir) as live:  # another writer, alive
        from energy_assets.storage.parquet_io import sweep

        sweep(asset_dir)
        assert not dead.exists() and live.exists()
    assert sorted(p.name for p in asset_dir.iterdir() if p.name.startswith(".staging")) == []


# -- 5. a Parquet day is replaced atomically for readers and serially for writers -----------


def test_readers_see_the_old_day_or_the_new_one_never_nothing(tmp_path, spark):
    asset_dir = tmp_path / "readings"
    write_arrow_days(readings(value=0.0), asset_dir, [D1], "simulated_timestamp")
    stop = threading.Event()
    errors: list[BaseException] = []

    def rewrite() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            try:
                write_arrow_days(readings(value=float(k)), asset_dir, [D1], "simulated_timestamp")
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)
                return

    writers = [threading.Thread(target=rewrite) for _ in range(2)]  # two writers of one day
    for w in writers:
        w.start()
    try:
        seen = set()
        for _ in range(150):
            table = read_arrow_days(asset_dir, [str(D1)])
            assert table.num_rows == 48
            values = set(table["consumption_kwh"].to_pylist())
            assert len(values) == 1  # one version, whole
            seen |= values
        rows = spark_read_days(spark, asset_dir, [D1]).count()
        assert rows == 48
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert not errors, errors
    assert len(seen) > 1  # the day was replaced while it was read
    leftovers = [
        p.name for p in asset_dir.iterdir() if p.name.startswith((".staging", ".link", ".replaced"))
    ]
    assert leftovers == []
    assert len(list((asset_dir / ".versions" / f"day={D1}").iterdir())) >= 1


def test_reads_take_only_the_files_the_io_manager_wrote(tmp_path):
    asset_dir = tmp_path / "readings"
    write_arrow_days(readings(), asset_dir, [D1], "simulated_timestamp")
    folder = day_dir(asset_dir, D1)
    original = folder / "part-00000.parquet"
    copy = folder / "part-00000 (copy).parquet"
    copy.write_bytes(original.read_bytes())  # a stray copy would double the rows
    with pytest.raises(FolderError, match="did not write"):
        read_arrow_days(asset_dir, [str(D1)])
    copy.unlink()
    pq.write_table(pa.table({"other": [1]}), folder / "zz-other.parquet")  # another schema
    with pytest.raises(FolderError, match="zz-other.parquet, which its writer did not write"):
        read_arrow_days(asset_dir, [str(D1)])
    (folder / "zz-other.parquet").unlink()
    assert read_arrow_days(asset_dir, [str(D1)]).num_rows == 48
    empty = day_dir(asset_dir, D1 + dt.timedelta(days=1))
    empty.mkdir()  # an empty day folder made by hand
    with pytest.raises(FolderError, match="was not written by the Parquet IO manager"):
        read_arrow_days(asset_dir, [str(D1 + dt.timedelta(days=1))])


# -- 6. reloading an unpartitioned table keeps what users added --------------------------------


def test_reloading_a_table_keeps_grants_indexes_and_views(pg_url, pg_schema):
    target = wh.TableTarget(pg_schema, "houses", None, ("house_id",))
    houses = pa.table({"house_id": ["H1", "H2"], "profile": ["low", "high"]})
    wh.load_table(pg_url, target, houses.schema, arrow_copy_writer(houses, pg_url))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT SELECT ON {} TO PUBLIC").format(target.ident))
        conn.execute(sql.SQL("CREATE INDEX houses_by_profile ON {} (profile)").format(target.ident))
        conn.execute(
            sql.SQL("CREATE VIEW {} AS SELECT * FROM {} WHERE profile = 'high'").format(
                sql.Identifier(pg_schema, "high_houses"), target.ident
            )
        )
    again = pa.table({"house_id": ["H1", "H2", "H3"], "profile": ["low", "high", "high"]})
    wh.load_table(pg_url, target, again.schema, arrow_copy_writer(again, pg_url))
    with psycopg.connect(pg_url) as conn:
        assert (
            conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(pg_schema, "high_houses"))
            ).fetchone()[0]
            == 2
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND indexname = 'houses_by_profile'",
                (pg_schema,),
            ).fetchone()[0]
            == 1
        )
        acl = conn.execute(
            "SELECT relacl::text FROM pg_class WHERE oid = to_regclass(%s)",
            (target.ident.as_string(conn),),
        ).fetchone()[0]
        assert "=r/" in acl  # SELECT for PUBLIC


# -- 7. concurrent first loads into a new schema -----------------------------------------------


def test_concurrent_first_loads_into_a_new_schema_all_succeed(pg_url, pg_schema):
    errors: list[BaseException] = []

    def first_load(k: int) -> None:
        try:
            load_day(pg_url, day_target(pg_schema, f"table {k}"), readings())
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=first_load, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(6):
        assert wh.read_arrow(pg_url, day_target(pg_schema, f"table {k}")).num_rows == 48


# -- 8. text with newlines, quotes, tabs and backslashes ---------------------------------------


def test_text_comes_back_exactly_through_every_read_path(pg_url, pg_schema, spark):
    tricky = [
        "line one\nline two",
        'a "quoted", text',
        "tab\there",
        "back\\slash",
        "\r\n",
        "",
        None,
        "ü ✓",
    ]
    n = 20_000  # a CSV chunk boundary falls inside quoted newlines
    table = readings(n).append_column("note", pa.array([tricky[k % len(tricky)] for k in range(n)]))
    target = day_target(pg_schema)
    load_day(pg_url, target, table)
    back = wh.read_arrow(pg_url, target).sort_by(
        [("simulated_timestamp", "ascending"), ("house_id", "ascending")]
    )
    want = table.sort_by([("simulated_timestamp", "ascending"), ("house_id", "ascending")])
    assert back["note"].to_pylist() == want["note"].to_pylist()
    assert (
        back.to_pandas()["note"].tolist()[: len(tricky)] == want["note"].to_pylist()[: len(tricky)]
    )
    frame = read_spark(spark, pg_url, target, D1, D1 + dt.timedelta(days=1))
    notes = sorted((r["note"] is None, r["note"] or "") for r in frame.select("note").collect())
    assert notes == sorted((v is None, v or "") for v in want["note"].to_pylist())


# -- 9. the embedded server's state cannot point elsewhere --------------------------------------


def test_a_damaged_or_stale_state_file_is_rebuilt(pg_url, capfd):
    if "passfile" not in psycopg.conninfo.conninfo_to_dict(pg_url):
        pytest.skip("ENERGY_PG_URL names an external server")
    home = Path(psycopg.conninfo.conninfo_to_dict(pg_url)["passfile"]).parent
    state = home / "postgres.json"
    port = json.loads(state.read_text())["port"]
    try:
        state.write_text("")  # damaged
        embedded._verified.clear()
        url = embedded.ensure_embedded_server(home, "energy_test")
        assert "damaged" in capfd.readouterr().err
        assert json.loads(state.read_text())["port"] == port
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
        # A record naming another port (taken since by something else): the server's own
        # postmaster.pid is believed, and the record rewritten.
        state.write_text(json.dumps({"port": 1, "pgdata": str(home / "pgdata")}))
        embedded._verified.clear()
        url = embedded.ensure_embedded_server(home, "energy_test")
        assert psycopg.conninfo.conninfo_to_dict(url)["port"] == str(port)
        assert json.loads(state.read_text())["port"] == port
    finally:
        state.write_text(json.dumps({"port": port, "pgdata": str(home / "pgdata")}))


def test_a_server_that_is_not_ours_is_never_used(tmp_path, pg_url):
    if "passfile" not in psycopg.conninfo.conninfo_to_dict(pg_url):
        pytest.skip("ENERGY_PG_URL names an external server")
    port = int(psycopg.conninfo.conninfo_to_dict(pg_url)["port"])
    home = tmp_path / "other_home"
    (home / "pgdata").mkdir(parents=True)
    embedded._write_passfile(home, {"postgres": uuid.uuid4().hex, "energy": uuid.uuid4().hex})
    assert not embedded._is_ours(home, port)  # our test server answers there, but not for home


# -- 10. the doctor refuses bad settings before any work ---------------------------------------


@pytest.mark.parametrize(
    "env,message",
    [
        ({"ENERGY_SIM_START": "2024-13-01"}, "ENERGY_SIM_START='2024-13-01' is not a date"),
        ({"ENERGY_SIM_START": "2025-01-01", "ENERGY_SIM_END": "2024-01-01"}, "must come before"),
        ({"ENERGY_CLIMATE": "mars"}, "ENERGY_CLIMATE='mars' is not a known climate"),
        ({"ENERGY_DATA_DIR": "/dev/null/data"}, "ENERGY_DATA_DIR=/dev/null/data cannot be written"),
    ],
)
def test_the_doctor_refuses_bad_settings_in_one_sentence(env, message):
    done = subprocess.run(
        [sys.executable, "-m", "energy_assets.doctor"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_day_left_missing_between_two_renames_is_restored(tmp_path):
    """The IO manager's earlier versions replaced a day by two renames; a crash between them left
    the day only in a hidden ``.replaced-*`` folder. The next write of the asset restores it."""
    from energy_assets.storage.parquet_io import sweep

    asset_dir = tmp_path / "readings"
    write_arrow_days(readings(), asset_dir, [D1], "simulated_timestamp")
    orphan = asset_dir / f".replaced-abcd1234-day={D1 + dt.timedelta(days=1)}"
    orphan.mkdir()
    pq.write_table(readings(day=D1 + dt.timedelta(days=1)), orphan / "part-00000.parquet")
    sweep(asset_dir)
    assert not orphan.exists()
    assert read_arrow_days(asset_dir, [str(D1 + dt.timedelta(days=1))]).num_rows == 48
