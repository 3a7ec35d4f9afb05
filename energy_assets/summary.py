"""``python -m energy_assets.summary``: what the last run left behind, in a few lines."""

import sys
import warnings

from psycopg import sql


def table_counts(url: str, schema: str = "energy") -> list[tuple[str, int]]:
    """Rows of every top-level table of ``schema`` (partitioned tables count their days)."""
    from energy_assets.storage.warehouse import connect

    with connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                      AND c.relname NOT LIKE %s ORDER BY 1""",
                (schema, "%\\_\\_stage\\_%"),
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


def last_run_checks() -> tuple[str | None, list[tuple[str, str, bool, str]]]:
    """The status of the newest run and its asset-check evaluations."""
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.get()
    runs = instance.get_runs(limit=1)
    if not runs:
        return None, []
    run = runs[0]
    records = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    checks = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        checks.append(
            (
                evaluation.asset_key.to_user_string(),
                evaluation.check_name,
                evaluation.passed,
                evaluation.severity.value,
            )
        )
    return run.status.value, checks


def main() -> int:
    """Print rows per table, the last run's checks and how to open the UI."""
    warnings.simplefilter("ignore")
    from energy_assets.resources import build_resources
    from energy_assets.settings import load_settings
    from energy_assets.storage.warehouse import redact

    settings = load_settings()
    postgres = build_resources(settings)["postgres"]
    url = settings.pg_url or postgres.conninfo()
    print(f"\nWarehouse tables (schema {settings.pg_schema}):")
    for name, rows in table_counts(url, settings.pg_schema):
        print(f"  {name:<28} {rows:>12,} rows")
    status, checks = last_run_checks()
    passed = sum(1 for c in checks if c[2])
    failed = [c for c in checks if not c[2]]
    print(f"\nLast run: {status}; asset checks: {passed} passed, {len(failed)} failed")
    for asset_key, name, _, severity in failed:
        print(f"  FAILED {severity:<5} {asset_key}:{name}")
    print("\nOpen the Dagster UI with `make dev`, then http://127.0.0.1:3000")
    # The embedded server's URL names its password file, not a password; an external URL may
    # hold one, so only its redacted form is printed.
    if settings.pg_url:
        print(f'Query the warehouse ({redact(url)}): psql "$ENERGY_PG_URL"')
    else:
        print(f"Query the warehouse: psql '{url}'")
    errors = [c for c in failed if c[3] == "ERROR"]
    if "--fail-on-error" in sys.argv and errors:
        print(f"{len(errors)} ERROR check(s) failed.", file=sys.stderr)
        return 1
    return 0 if status == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
