"""``python -m energy_assets.summary``: what a run left behind, in a few lines that explain it.

Rows per warehouse table, then every asset check of the run with its one-line reason, sorted
into what passed, what cannot judge yet (a model window longer than the run), findings about
the data (houses whose meters lost too much), and failures. ``--run-log FILE`` names the run by
the id in the log that ``make run`` kept; without it, the newest run not launched by a sensor.
"""

import argparse
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

RUN_ID = re.compile(r" - ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - ")


@dataclass(frozen=True)
class CheckLine:
    """One check of the run: where, its verdict over the run, and why."""

    asset: str
    name: str
    passed: bool
    severity: str
    reason: str
    judged: bool

    @property
    def kind(self) -> str:
        """passed, not judged, finding or failed."""
        if self.passed:
            return "passed"
        if not self.judged:
            return "not judged"
        if "finding:" in self.reason:
            return "finding"
        return "failed"


def table_counts(url: str, schema: str = "energy") -> list[tuple[str, int]]:
    """Rows of every top-level table of ``schema`` (partitioned tables count their days)."""
    from energy_assets.storage.warehouse import STAGE_LIKE, connect

    with connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                      AND c.relname NOT LIKE %s ORDER BY 1""",
                (schema, STAGE_LIKE),
            )
        ]
        return [
            (
                name,
                conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
                ).fetchone()[0],
            )
            for name in names
        ]


def run_id_from_log(path: Path) -> str | None:
    """The run id in a ``dagster asset materialize`` log (its last run)."""
    if not path.exists():
        return None
    found = RUN_ID.findall(path.read_text(errors="replace"))
    return found[-1] if found else None


def the_run(instance, run_id: str | None):
    """The run named by ``run_id``, else the newest one that no sensor launched."""
    if run_id:
        return instance.get_run_by_id(run_id)
    for run in instance.get_runs(limit=50):
        if "dagster/sensor_name" not in run.tags:
            return run
    return None


def check_lines(instance, run_id: str) -> list[CheckLine]:
    """The run's checks: the run-level result of each (partitioned checks also keep per-day ones)."""
    from dagster import DagsterEventType

    from energy_assets.assets.verdicts import JUDGED

    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    chosen: dict[tuple[str, str], object] = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        key = (evaluation.asset_key.to_user_string(), evaluation.check_name)
        # The result over the range has no partition; a one-day run has only its day's.
        if key not in chosen or evaluation.partition is None:
            chosen[key] = evaluation
    lines = []
    for (asset, name), evaluation in sorted(chosen.items()):
        judged = evaluation.metadata.get(JUDGED)
        lines.append(
            CheckLine(
                asset,
                name,
                evaluation.passed,
                evaluation.severity.value,
                evaluation.description or "",
                judged.value if judged is not None else True,
            )
        )
    return lines


def took(instance, run) -> str:
    """`` in N s``: how long the run took from its start to its end (the servers' start, made
    before it, not counted); empty when that is not known."""
    if run is None:
        return ""
    stats = instance.get_run_stats(run.run_id)
    if not (stats.start_time and stats.end_time):
        return ""
    return f" in {stats.end_time - stats.start_time:.1f} s"


def print_checks(lines: list[CheckLine]) -> None:
    """Print the checks grouped by kind, each with its reason."""
    counts = {
        k: sum(1 for c in lines if c.kind == k)
        for k in ("passed", "not judged", "finding", "failed")
    }
    print(
        f"asset checks: {counts['passed']} passed, {counts['not judged']} not judged yet, "
        f"{counts['finding']} findings, {counts['failed']} failed"
    )
    for kind, label in (
        ("failed", "FAILED"),
        ("finding", "FINDING"),
        ("not judged", "NOT YET"),
        ("passed", "ok"),
    ):
        for c in (c for c in lines if c.kind == kind):
            tag = f"{label} {c.severity}" if kind == "failed" else label
            print(f"  {tag:<13} {c.asset}:{c.name} - {c.reason}")


def main(argv: list[str] | None = None) -> int:
    """Print rows per table, the run's checks with their reasons, and how to go on."""
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail-on-error", action="store_true")
    parser.add_argument("--run-log", type=Path, help="a materialize log naming the run")
    args = parser.parse_args(argv)

    from dagster import DagsterInstance

    from energy_assets.resources import build_resources
    from energy_assets.settings import load_settings
    from energy_assets.storage.warehouse import redact

    settings = load_settings()
    url = settings.pg_url or build_resources(settings)["postgres"].conninfo()
    print(f"\nWarehouse tables (schema {settings.pg_schema}):")
    for name, rows in table_counts(url, settings.pg_schema):
        print(f"  {name:<28} {rows:>12,} rows")
    instance = DagsterInstance.get()
    run = the_run(instance, run_id_from_log(args.run_log) if args.run_log else None)
    lines = check_lines(instance, run.run_id) if run else []
    status = run.status.value if run else None
    print(f"\nRun {run.run_id if run else '(none)'}: {status}{took(instance, run)}; ", end="")
    print_checks(lines)
    if any(c.kind == "not judged" for c in lines):
        print(
            "  (The models judge a day once it has 28 days of history: a run from the first "
            "simulated day shorter than that is inside the warm-up; `make run DAYS=35` judges "
            "its last days, in about 2.5 times the time of the 7-day default.)"
        )
    print("\nOpen the Dagster UI with `make dev`, then http://127.0.0.1:3000")
    # The embedded server's URL names its password file, not a password; an external URL may
    # hold one, so only its redacted form is printed.
    if settings.pg_url:
        print(f'Query the warehouse ({redact(url)}): psql "$ENERGY_PG_URL"')
    else:
        print(f"Query the warehouse: psql '{url}'")
    errors = [c for c in lines if c.kind == "failed" and c.severity == "ERROR"]
    if args.fail_on_error and errors:
        print(f"{len(errors)} ERROR check(s) failed.", file=sys.stderr)
        return 1
    return 0 if status == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
