"""The exploratory notebook runs against the small neighbourhood and leaves HTML behind."""

import json

import nbformat
from dagster import AssetKey


def test_the_notebook_is_stored_without_outputs():
    nb = nbformat.read("notebooks/exploration.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_notebook_asset_executes_it_against_the_warehouse(neighbourhood):
    result, lake, _, _ = neighbourhood
    meta = next(
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key == AssetKey("exploration_notebook")
    )
    executed = nbformat.read(meta["notebook"].value, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # A figure per section, and a sentence of reading under each.
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4
    assert meta["readings"].value.count("Reading:") == 4
    assert "40 houses" in json.dumps(executed.cells[1].outputs)
    html = (lake / "exploration_notebook" / "exploration.html").read_text()
    assert "<html" in html and "Household classes" in html and "data:image/png;base64" in html
