"""The whole pipeline at the sizes that matter, stage by stage, beside its peers in the same run.

    make bench                                         # small, medium and large, one table
    make bench HOUSES=10000 INTERVAL=1 BENCH_DAYS=7    # one size you choose

``make bench`` runs three sizes (``--sizes small medium large``), each in its own process: the
default ``make run`` (100 houses, 15 minutes, 7 days), 2,000 houses at 1 minute for a day (2.9M
readings) and 10,000 houses at 1 minute for a day (14.4M). A size materializes the graph
(everything but the notebook report) as one Dagster run, in its process, on the embedded
PostgreSQL (or ENERGY_PG_URL), into a scratch data directory and the schema ``bench``. It
samples the memory of the Dagster process and of the Spark driver JVM while the run lasts, then
measures the peers on the same rows: a plain Parquet write of the raw readings (the
simulator's peer), DuckDB running the cleaning rules (the cleaning's), server-side ``COPY ...
FROM 'file'`` of the same raw and cleaned rows into bare tables and into a keyed one (the
loads'), and Spark's JDBC writer when its driver jar is installed (``--jdbc``). Prints the
table and writes it at the top of ``benchmarks/RESULTS.md``, earlier runs kept below.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.simplefilter("ignore")

import psutil  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from psycopg import sql  # noqa: E402

SCHEMA = "bench"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every process: Spark, PostgreSQL, ...)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


class MemorySampler(threading.Thread):
    """Peak resident memory of this process and of its Java children, and the machine's busy
    CPU seconds, sampled twice a second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.peak_self = 0
        self.peak_jvm = 0
        self.samples: list[tuple[float, int]] = []  # (time, this process's resident bytes)
        self.cpu: list[tuple[float, float]] = []  # (time, the machine's busy CPU seconds)
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                self.cpu.append((time.time(), machine_cpu_seconds()))
                rss = self.me.memory_info().rss
                self.samples.append((time.time(), rss))
                self.peak_self = max(self.peak_self, rss)
                jvm = sum(
                    c.memory_info().rss
                    for c in self.me.children(recursive=True)
                    if "java" in c.name()
                )
                self.peak_jvm = max(self.peak_jvm, jvm)
            except psutil.Error:
                pass
            time.sleep(0.5)


def warehouse_url() -> str:
    """ENERGY_PG_URL or the embedded server's ``energy`` database."""
    url = os.environ.get("ENERGY_PG_URL")
    if url:
        return url
    from energy_assets.storage.embedded import ensure_embedded_server

    return ensure_embedded_server(Path(os.environ.get("ENERGY_HOME", ".energy")).resolve())


def step_seconds(result) -> dict[str, float]:
    """Wall seconds of each step of a run, from its STEP_SUCCESS events."""
    return {
        e.step_key: e.event_specific_data.duration_ms / 1000
        for e in result.all_events
        if e.event_type_value == "STEP_SUCCESS"
    }


def step_spans(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """When each step of a run started and ended (epoch seconds), from its events."""
    spans: dict[str, list[float]] = {}
    for entry in instance.all_logs(run_id):
        e = entry.dagster_event
        if e is not None and e.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            spans.setdefault(e.step_key, []).append(entry.timestamp)
    return {key: (min(ts), max(ts)) for key, ts in spans.items()}


def step_peaks(
    spans: dict[str, tuple[float, float]], samples: list[tuple[float, int]]
) -> dict[str, float]:
    """The Dagster process's peak resident memory (GiB) while each step ran."""
    return {
        key: max((rss for t, rss in samples if a <= t <= b), default=0) / 2**30
        for key, (a, b) in spans.items()
    }


def busy_cores(cpu: list[tuple[float, float]], a: float, b: float) -> float | None:
    """How many cores the machine kept busy on average from ``a`` to ``b``: what is left of
    the machine for running steps side by side. None for a span under a second of samples."""
    inside = [(t, c) for t, c in cpu if a <= t <= b]
    if len(inside) < 2 or inside[-1][0] - inside[0][0] < 1.0:
        return None
    (t0, c0), (t1, c1) = inside[0], inside[-1]
    return (c1 - c0) / (t1 - t0)


def server_copy(url: str, table: str, columns: list[str], work: Path, key: list[str]) -> dict:
    """Server-side COPY of a warehouse table's rows from a file: into a bare unlogged table,
    then key; and, with a key, into a logged table that has it already, as the warehouse's."""
    import psycopg

    from energy_assets.storage.embedded import superuser_url

    dump = work / f"{table}.csv"
    # Server-side files need the superuser (the pipeline's role may not read or write them).
    with psycopg.connect(superuser_url(url), autocommit=True) as conn:
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        conn.execute(
            sql.SQL("COPY (SELECT {} FROM {}) TO {} (FORMAT csv)").format(
                cols, sql.Identifier(SCHEMA, table), sql.Literal(str(dump))
            )
        )
        bare = sql.Identifier(SCHEMA, f"peer_{table}")
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(bare))
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                bare, cols, sql.Identifier(SCHEMA, table)
            )
        )
        start = time.perf_counter()
        conn.execute(sql.SQL("COPY {} FROM {} (FORMAT csv)").format(bare, sql.Literal(str(dump))))
        copy_s = time.perf_counter() - start
        key_s = 0.0
        if key:
            start = time.perf_counter()
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    bare, sql.SQL(", ").join(map(sql.Identifier, key))
                )
            )
            key_s = time.perf_counter() - start
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(bare)).fetchone()[0]
        conn.execute(sql.SQL("DROP TABLE {}").format(bare))
        keyed_s = 0.0
        if key:
            # The same rows into the warehouse table's shape: logged, with its key before the COPY.
            keyed = sql.Identifier(SCHEMA, f"peer_keyed_{table}")
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(keyed))
            conn.execute(
                sql.SQL("CREATE TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                    keyed, cols, sql.Identifier(SCHEMA, table)
                )
            )
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    keyed, sql.SQL(", ").join(map(sql.Identifier, key))
                )
            )
            start = time.perf_counter()
            conn.execute(
                sql.SQL("COPY {} FROM {} (FORMAT csv)").format(keyed, sql.Literal(str(dump)))
            )
            keyed_s = time.perf_counter() - start
            conn.execute(sql.SQL("DROP TABLE {}").format(keyed))
    dump.unlink()
    return {"rows": rows, "copy_s": copy_s, "key_s": key_s, "keyed_s": keyed_s}


def jdbc_write(spark, url: str, table: str, work: Path) -> float:
    """Spark's JDBC writer (batched) of a table's Parquet twin into a bare table."""
    import psycopg

    from energy_assets.storage.embedded import password_of

    info = psycopg.conninfo.conninfo_to_dict(url)
    frame = spark.read.parquet(str(work))
    start = time.perf_counter()
    frame.write.format("jdbc").options(
        url=f"jdbc:postgresql://{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/"
        f"{info['dbname']}",
        dbtable=f"{SCHEMA}.jdbc_{table}",
        user=info.get("user", "postgres"),
        password=password_of(url) or "",
        driver="org.postgresql.Driver",
        batchsize="10000",
        rewriteBatchedStatements="true",
    ).mode("overwrite").save()
    return time.perf_counter() - start


@dataclass
class RunFigures:
    """One run of the graph and its peers, as measured (seconds unless named otherwise)."""

    houses: int
    interval: int
    start: str
    days: int
    driver_memory: str
    success: bool = False
    wall: float = 0.0
    raw: int = 0
    cleaned: int = 0
    steps: dict[str, float] = field(default_factory=dict)
    peak_self_gib: float = 0.0
    peak_jvm_gib: float = 0.0
    step_peak_gib: dict[str, float] = field(default_factory=dict)
    step_cores: dict[str, float] = field(default_factory=dict)
    run_cores: float = 0.0
    parquet_s: float = 0.0
    duck_s: float = 0.0
    copy_raw: dict = field(default_factory=dict)
    copy_clean: dict = field(default_factory=dict)
    jdbc_s: float | None = None

    def step(self, *keys: str) -> float:
        """Seconds of the named steps together."""
        return sum(self.steps.get(k, 0.0) for k in keys)

    @property
    def command(self) -> str:
        return (
            f"make bench HOUSES={self.houses} INTERVAL={self.interval} BENCH_DAYS={self.days}"
            f" BENCH_START={self.start}"
        )


#: The stages the tables show: label, the steps they sum, the peer's label and its seconds.
STAGES = [
    ("simulate (raw readings + truth, Parquet)", ("simulated_meters",)),
    ("clean (VEE, cleaned + rejected Parquet, checks)", ("vee",)),
    ("load energy_data_raw (+ twin check)", ("warehouse__energy_data_raw",)),
    ("load energy_data_cleaned (+ key, twin check)", ("warehouse__energy_data_cleaned",)),
    ("load energy_data_rejected", ("warehouse__energy_data_rejected",)),
    ("daily aggregates (+ sum check)", ("daily_aggregates",)),
    ("load energy_daily", ("warehouse__energy_daily",)),
    ("household classifier (one model a day)", ("household_classifier",)),
    ("consumption anomalies", ("consumption_anomalies",)),
]
NAMED_STEPS = {k for _, keys in STAGES for k in keys}


def peers_of(f: RunFigures) -> dict[str, tuple[str, float, int]]:
    """Each stage's peer in the same run: what it is, its seconds and the rows it handled."""
    clean_key = f.copy_clean.get("copy_s", 0.0) + f.copy_clean.get("key_s", 0.0)
    return {
        STAGES[0][0]: ("pyarrow Parquet write of the same raw rows", f.parquet_s, f.raw),
        STAGES[1][0]: ("DuckDB, same rules", f.duck_s, f.raw),
        STAGES[2][0]: (
            "server-side COPY from a file, bare table",
            f.copy_raw.get("copy_s", 0.0),
            f.raw,
        ),
        STAGES[3][0]: ("server-side COPY from a file, bare table, then key", clean_key, f.cleaned),
    }


def per_s(n: int, s: float) -> str:
    return f"{n / s:,.0f}" if s else "-"


def run_table(f: RunFigures, title: str) -> list[str]:
    """One run, stage by stage, each stage beside its peer (the layout of a single size)."""
    cores = os.cpu_count()
    mem_gib = psutil.virtual_memory().total / 2**30
    peers = peers_of(f)
    keyed = f.copy_clean.get("keyed_s", 0.0)
    bare = f.copy_clean.get("copy_s", 0.0)
    lines = [
        f"## {title}\n",
        f"`{f.command}` (commit {commit()}, {dt.date.today()}) on a machine with {cores} cores"
        f" and {mem_gib:.0f} GiB; {f.raw:,} raw readings, {f.cleaned:,} cleaned; one Dagster"
        f" run, wall {f.wall:.0f} s ({'success' if f.success else 'FAILED'}).\n",
        "| stage | seconds | readings/s | peer in the same run | peer seconds | peer readings/s |",
        "|---|---|---|---|---|---|",
    ]
    for label, keys in STAGES:
        secs = f.step(*keys)
        rows = f.cleaned if "cleaned" in label or "daily" in label else f.raw
        shown = per_s(rows, secs) if label in peers or label.startswith("daily") else ""
        peer, peer_s, peer_rows = peers.get(label, ("", 0.0, 0))
        lines.append(
            f"| {label} | {secs:.1f} | {shown} | {peer} | {f'{peer_s:.1f}' if peer else ''} |"
            f" {per_s(peer_rows, peer_s) if peer else ''} |"
        )
        if label.startswith("load energy_data_cleaned"):
            lines.append(
                "| | | | server-side COPY from a file into a logged table keyed like"
                f" energy_data_cleaned | {keyed:.1f} | {per_s(f.cleaned, keyed)} |"
            )
            if f.jdbc_s is not None:
                lines.append(
                    f"| | | | Spark JDBC, batched, cleaned rows | {f.jdbc_s:.1f} |"
                    f" {per_s(f.cleaned, f.jdbc_s)} |"
                )
    lines += [
        f"| **whole run** | **{f.wall:.1f}** | **{per_s(f.raw, f.wall)}** | COPY of the cleaned"
        f" rows into a logged table keyed like energy_data_cleaned | {keyed:.1f} | pipeline /"
        f" keyed COPY = **{f.wall / keyed:.1f}×** |"
        if keyed
        else None,
        f"| | | | COPY of the cleaned rows into a bare unlogged table (no key) | {bare:.1f} |"
        f" pipeline / bare COPY = **{f.wall / bare:.1f}×** |"
        if bare
        else None,
        "",
        f"Peak memory: Dagster process {f.peak_self_gib:.2f} GiB; Spark driver JVM"
        f" {f.peak_jvm_gib:.2f} GiB (driver memory setting {f.driver_memory}).",
        "Dagster process's peak while each step ran (GiB): "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(f.step_peak_gib.items())),
        "",
        f"Cores the machine kept busy (of {cores}; Spark, PostgreSQL and the rest): the whole run"
        f" {f.run_cores:.2f}; while each step of a second or more ran: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(f.step_cores.items())),
        "",
        "Other steps (seconds): "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(f.steps.items()) if k not in NAMED_STEPS),
    ]
    return [line for line in lines if line is not None]


#: The sizes `make bench` runs: the small one is `make run`'s default.
SIZES = {
    "small": ("`make run`'s default: 100 houses, 15 min, 7 days", 100, 15, "2024-01-01", 7),
    "medium": ("2,000 houses, 1 min, 1 day", 2000, 1, "2024-07-01", 1),
    "large": ("10,000 houses, 1 min, 1 day", 10000, 1, "2024-07-01", 1),
}


def sizes_table(figures: dict[str, RunFigures]) -> list[str]:
    """All sizes in one table: per stage, ours and the peer's seconds side by side."""
    cores = os.cpu_count()
    mem_gib = psutil.virtual_memory().total / 2**30
    names = list(figures)
    lines = [
        "## Small, medium and large runs\n",
        f"`make bench` (commit {commit()}, {dt.date.today()}) on a machine with {cores} cores and"
        f" {mem_gib:.0f} GiB: each size one Dagster run of the graph (all but the notebook) in its"
        " own process, on the embedded PostgreSQL, its peers measured on the same rows right"
        " after it. Seconds; ours / the peer's. The server's start and the install are not"
        " counted.\n",
    ]
    for name in names:
        f = figures[name]
        lines.append(
            f"- **{name}**: {SIZES[name][0]} ({f.command}): {f.raw:,} raw readings,"
            f" {f.cleaned:,} cleaned; {'success' if f.success else 'FAILED'}; peak memory: Dagster"
            f" process {f.peak_self_gib:.2f} GiB, Spark driver JVM {f.peak_jvm_gib:.2f} GiB."
        )
    lines += [
        "",
        "| stage | peer in the same run | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    peer_labels = peers_of(next(iter(figures.values())))
    for label, keys in STAGES:
        cells = []
        for name in names:
            f = figures[name]
            ours = f.step(*keys)
            peer = peers_of(f).get(label)
            cells.append(f"{ours:.1f} / {peer[1]:.1f}" if peer else f"{ours:.1f}")
        peer_name = peer_labels.get(label, ("",))[0]
        lines.append(f"| {label} | {peer_name} | " + " | ".join(cells) + " |")
    others = [sum(v for k, v in figures[n].steps.items() if k not in NAMED_STEPS) for n in names]
    lines.append("| other steps | | " + " | ".join(f"{o:.1f}" for o in others) + " |")
    lines.append(
        "| all steps | | "
        + " | ".join(f"{sum(figures[n].steps.values()):.1f}" for n in names)
        + " |"
    )
    cells = []
    for name in names:
        f = figures[name]
        keyed = f.copy_clean.get("keyed_s", 0.0)
        ratio = f" (**{f.wall / keyed:.1f}×**)" if keyed else ""
        cells.append(f"**{f.wall:.1f}** / {keyed:.1f}{ratio}")
    lines.append(
        "| **whole run** (wall) | COPY of the cleaned rows into a logged table keyed like"
        " energy_data_cleaned | " + " | ".join(cells) + " |"
    )
    return lines


def commit() -> str:
    """The checkout's short commit, marked when the tree has changes."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' with changes' if dirty else ''}" if head else "unknown"


def prepend_results(path: Path, section: list[str]) -> None:
    """Write ``section`` at the top of RESULTS.md, earlier runs kept below it."""
    title = "# Benchmark results\n"
    earlier = path.read_text() if path.exists() else ""
    earlier = earlier.removeprefix(title).lstrip("\n")
    path.write_text(title + "\n" + "\n".join(section).rstrip() + "\n\n" + earlier)


def measure(args: argparse.Namespace) -> RunFigures:
    """Run the graph at one size, then its peers on the same rows."""
    from clean import duckdb_sql
    from dagster import AssetKey, DagsterInstance, materialize

    from energy_assets.assets.warehouse import RAW
    from energy_assets.cleaning.rules import CleaningParams
    from energy_assets.definitions import defs
    from energy_assets.partitions import range_tags
    from energy_assets.resources import SimulationResource
    from energy_assets.storage.lake import LakeResource
    from energy_assets.storage.parquet_io import ParquetIOManager
    from energy_assets.storage.postgres_io import PostgresIOManager, PostgresResource
    from energy_assets.storage.spark import SparkResource

    figures = RunFigures(args.houses, args.interval, args.start, args.days, args.driver_memory)
    start = dt.date.fromisoformat(args.start)
    end = start + dt.timedelta(days=args.days - 1)
    work = Path(tempfile.mkdtemp(prefix="energy-bench-"))
    os.chmod(work, 0o777)  # the server writes and reads the peers' files here
    url = warehouse_url()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:  # the benchmark's schema, from empty
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    spark = SparkResource(master="local[*]", ui=False, driver_memory=args.driver_memory)
    lake = LakeResource(data_dir=str(work / "data"))
    postgres = PostgresResource(url=url, warehouse_schema=SCHEMA)
    resources = {
        "spark": spark,
        "lake": lake,
        "postgres": postgres,
        "simulation": SimulationResource(houses=args.houses, interval_minutes=args.interval),
        "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
        "warehouse_io_manager": PostgresIOManager(postgres=postgres, spark=spark),
    }
    assets = [a for a in defs.assets if AssetKey("exploration_notebook") not in a.keys]

    sampler = MemorySampler()
    sampler.start()
    t0 = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            assets,
            resources=resources,
            instance=instance,
            tags=range_tags(start.isoformat(), end.isoformat()),
        )
        figures.wall = time.perf_counter() - t0
        sampler.running = False
        sampler.join()
        spans = step_spans(instance, result.run_id)
        figures.step_peak_gib = step_peaks(spans, sampler.samples)
        figures.step_cores = {
            key: cores
            for key, (a, b) in spans.items()
            if (cores := busy_cores(sampler.cpu, a, b)) is not None
        }
        figures.run_cores = busy_cores(sampler.cpu, 0.0, float("inf")) or 0.0
    figures.success = result.success
    figures.steps = step_seconds(result)
    figures.peak_self_gib = sampler.peak_self / 2**30
    figures.peak_jvm_gib = sampler.peak_jvm / 2**30

    def rows(asset: str) -> int:
        return ds.dataset(
            str(work / "data" / asset), format="parquet", partitioning="hive"
        ).count_rows()

    figures.raw, figures.cleaned = rows("raw_readings"), rows("cleaned_readings")
    # The run's own figures first: a peer that fails must not take them with it.
    print(
        f"run: {'success' if result.success else 'FAILED'}, wall {figures.wall:.1f} s,"
        f" {figures.raw:,} raw and {figures.cleaned:,} cleaned readings; peak memory: Dagster"
        f" process {figures.peak_self_gib:.2f} GiB, Spark driver JVM"
        f" {figures.peak_jvm_gib:.2f} GiB;"
        f" steps (s): {json.dumps({k: round(v, 1) for k, v in sorted(figures.steps.items())})};"
        " Dagster process's peak by step (GiB):"
        f" {json.dumps({k: round(v, 2) for k, v in sorted(figures.step_peak_gib.items())})}",
        flush=True,
    )

    if args.no_peers:
        shutil.rmtree(work, ignore_errors=True)
        return figures
    # Peers, on the same rows, after the run (their memory is not the pipeline's). The Parquet
    # write goes a day at a time: a week of raw readings in memory at once is 20 GB.
    session = spark.session
    for day_dir in sorted((work / "data" / "raw_readings").glob("day=*")):
        raw_day = ds.dataset(str(day_dir), format="parquet").to_table()
        t = time.perf_counter()
        pq.write_table(raw_day, work / f"peer_raw_{day_dir.name}.parquet", compression="zstd")
        figures.parquet_s += time.perf_counter() - t
        del raw_day
    print(f"peer: Parquet write {figures.parquet_s:.1f} s", flush=True)

    import duckdb

    params = CleaningParams(
        interval_minutes=args.interval,
        nominal_voltage=resources["simulation"].settings().climate_preset.nominal_voltage,
    )
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    # Beside a Spark driver and PostgreSQL: a bounded heap, spilling to the work directory.
    con.execute("SET memory_limit = '6GB'")
    con.execute(f"SET temp_directory = '{work / 'duck_tmp'}'")
    (work / "duck").mkdir()
    t = time.perf_counter()
    con.execute(
        duckdb_sql(str(work / "data" / "raw_readings" / "**" / "*.parquet"), work / "duck", params)
    )
    figures.duck_s = time.perf_counter() - t
    con.close()
    print(f"peer: DuckDB cleaning {figures.duck_s:.1f} s", flush=True)

    raw_cols = list(RAW)
    figures.copy_raw = server_copy(url, "energy_data_raw", raw_cols, work, [])
    figures.copy_clean = server_copy(
        url,
        "energy_data_cleaned",
        [*raw_cols, "is_estimated", "quality_flags"],
        work,
        ["house_id", "simulated_timestamp"],
    )
    print(
        f"peer: server-side COPY raw {figures.copy_raw}, cleaned {figures.copy_clean}", flush=True
    )
    if args.jdbc and JDBC_JAR.exists():
        figures.jdbc_s = jdbc_write(session, url, "cleaned", work / "data" / "cleaned_readings")
    shutil.rmtree(work, ignore_errors=True)
    return figures


def measure_sizes(names: list[str], args: argparse.Namespace) -> dict[str, RunFigures]:
    """Each size in its own process (its own Spark, as separate runs have), one after another."""
    import subprocess

    figures = {}
    for name in names:
        _, houses, interval, start, days = SIZES[name]
        print(f"\n== {name}: {SIZES[name][0]}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [
                sys.executable,
                __file__,
                *("--houses", str(houses), "--interval", str(interval)),
                *("--start", start, "--days", str(days), "--driver-memory", args.driver_memory),
                *("--json", out.name, *(["--jdbc"] if args.jdbc else [])),
            ]
            subprocess.run(command, check=True)
            figures[name] = RunFigures(**json.loads(Path(out.name).read_text()))
    return figures


def main() -> int:
    """Run the pipeline at one size or at the named sizes, then the peers; print and write."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", choices=list(SIZES), help="the named sizes, in turn")
    ap.add_argument("--houses", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=15)
    ap.add_argument("--start", default="2024-07-01")
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--jdbc", action="store_true", help="also time Spark's JDBC writer")
    ap.add_argument(
        "--no-peers", action="store_true", help="the run's own figures only (with --json)"
    )
    ap.add_argument("--json", help="write the figures here instead of RESULTS.md (--sizes does)")
    ap.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args()
    if args.sizes:
        figures = measure_sizes(args.sizes, args)
        section = sizes_table(figures)
        for name, f in figures.items():
            section += ["", *run_table(f, f"{name.capitalize()}: {SIZES[name][0]}")]
        ok = all(f.success for f in figures.values())
    else:
        if args.jdbc and JDBC_JAR.exists():
            os.environ["PYSPARK_SUBMIT_ARGS"] = f"--jars {JDBC_JAR} pyspark-shell"
        f = measure(args)
        if args.json:
            Path(args.json).write_text(json.dumps(asdict(f)))
            return 0 if f.success else 1
        title = f"{args.houses:,} houses, {args.interval} min, {args.days} days from {args.start}"
        section, ok = run_table(f, title), f.success
    text = "\n".join(section) + "\n"
    print(text)
    prepend_results(Path(args.results), section)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
