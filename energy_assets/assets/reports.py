"""Reports over the warehouse: the exploratory notebook, executed and kept as HTML."""

import os
from pathlib import Path

import nbformat
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from energy_assets.partitions import single_run
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.postgres_io import PostgresResource

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "exploration.ipynb"
READS = ("energy_daily", "energy_data_rejected", "energy_anomalies", "household_classes", "houses")


def execute_notebook(source: Path, env: dict[str, str], timeout: int = 600):
    """Run a notebook top to bottom in a fresh kernel with ``env``; return the executed one."""
    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=timeout,
        resources={"metadata": {"path": str(source.parent)}},
    )
    client.execute(env={**os.environ, **env})
    return nb


@asset(
    group_name="reports",
    deps=[AssetKey(["warehouse", name]) for name in READS],
    kinds={"jupyter", "html"},
    backfill_policy=single_run,
)
def exploration_notebook(
    context: AssetExecutionContext, postgres: PostgresResource, lake: LakeResource
) -> MaterializeResult:
    """The exploratory notebook, executed against the warehouse; executed copy and HTML kept."""
    env = {
        "ENERGY_PG_URL": postgres.conninfo(),
        "ENERGY_PG_SCHEMA": postgres.warehouse_schema,
    }
    nb = execute_notebook(NOTEBOOK, env)
    out = lake.path("exploration_notebook")
    out.mkdir(parents=True, exist_ok=True)
    executed, html = out / "exploration.ipynb", out / "exploration.html"
    # Written beside and renamed, so a reader never sees half a report.
    for path, text in (
        (executed, nbformat.writes(nb)),
        (html, HTMLExporter().from_notebook_node(nb)[0]),
    ):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    readings = [
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("name") == "stdout" and "Reading:" in o.get("text", "")
    ]
    return MaterializeResult(
        metadata={
            "notebook": MetadataValue.notebook(str(executed)),
            "html": MetadataValue.path(str(html)),
            "readings": MetadataValue.md("\n\n".join(r.strip() for r in readings)),
        }
    )
