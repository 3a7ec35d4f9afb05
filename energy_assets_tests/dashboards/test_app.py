"""The Streamlit dashboard over the small neighbourhood: every widget path renders, and a
headless Chromium shows its charts."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from energy_assets_tests.helpers import wait_until_up

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboards" / "app.py")
CHROMIUM = shutil.which("chromium")
TITLES = {
    "Mean energy per local hour of a house-day",
    "Energy of each house on each local day",
    "Predicted profile against the registry's",
    "Refused readings by reason code",
}


@pytest.fixture
def warehouse_env(neighbourhood, pg_url, monkeypatch):
    _, _, schema, _ = neighbourhood
    monkeypatch.setenv("ENERGY_PG_URL", pg_url)
    monkeypatch.setenv("ENERGY_PG_SCHEMA", schema)
    return {"ENERGY_PG_URL": pg_url, "ENERGY_PG_SCHEMA": schema}


def run(at: AppTest) -> AppTest:
    at.run(timeout=120)
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_every_widget_path_renders(warehouse_env):
    at = run(AppTest.from_file(APP, default_timeout=120))
    assert at.title[0].value == "The neighbourhood"
    assert [m.label for m in at.metric] == ["House-days", "Energy", "Estimated intervals"]
    # Load curves, heatmap, classes, rejected reasons (the anomaly chart needs anomalies).
    charts = [n for n in _walk(at._tree) if getattr(n, "type", "") == "vega_lite_chart"]
    assert len(charts) >= 4
    # A shorter range, one profile, chosen houses.
    dates = at.sidebar.date_input[0]
    dates.set_value((dates.value[0], dates.value[0]))
    run(at)
    at.sidebar.multiselect[0].set_value(["high"])
    run(at)
    houses = at.sidebar.multiselect[1]
    houses.set_value(houses.options[:3])
    run(at)
    at.sidebar.multiselect[0].set_value([])  # no profile chosen: all of them
    run(at)
    # The anomaly section says why it is empty (a week is inside the warm-up).
    assert any("warm-up" in m.value for m in at.markdown)


def test_an_empty_warehouse_says_what_to_do(pg_url, pg_schema, monkeypatch):
    monkeypatch.setenv("ENERGY_PG_URL", pg_url)
    monkeypatch.setenv("ENERGY_PG_SCHEMA", pg_schema)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert "make run" in at.info[0].value


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium here")
def test_chromium_shows_the_charts(warehouse_env, tmp_path):
    assert CHROMIUM, "CI installs Debian's chromium: it is missing"
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true"]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    command += ["--browser.gatherUsageStats", "false"]
    app = subprocess.Popen(
        command,
        env={**os.environ, **warehouse_env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/_stcore/health", 60)
        shot = tmp_path / "dashboard.png"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            # Vega-Lite draws each chart as marks (SVG here) inside a .vega-embed container;
            # the app streams its elements over a websocket, so wait for them to arrive.
            page.wait_for_function(
                "document.querySelectorAll('.vega-embed .marks').length >= 4", timeout=90_000
            )
            text = page.inner_text("body")
            # Each chart is SVG: its title, axis titles and tick labels are text elements.
            charts = page.eval_on_selector_all(
                ".vega-embed",
                "embeds => embeds.map(e => Array.from(e.querySelectorAll('svg text'))"
                ".map(t => t.textContent))",
            )
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
        assert "Mean daily load curve per profile" in text and "House-days" in text
        assert "local hour" in text and "local day" in text  # the captions say so
        seen = {t: set(texts) for texts in charts for t in texts if t in TITLES}
        _reads_as(seen, "Mean energy per local hour of a house-day", ["local hour", "kWh per hour"])
        assert {"00:00", "18:00", "23:00"} <= seen["Mean energy per local hour of a house-day"]
        heatmap = "Energy of each house on each local day"
        _reads_as(seen, heatmap, ["local day", "house", "kWh per day"])
        # The day axis reads as the chosen range's dates, not epoch milliseconds.
        assert {"2024-03-04", "2024-03-10"} <= seen[heatmap]
        assert not any(t.isdigit() and len(t) >= 10 for t in seen[heatmap])
        _reads_as(seen, "Predicted profile against the registry's", ["predicted profile", "houses"])
        assert {"low", "medium", "high"} & seen["Predicted profile against the registry's"]
        _reads_as(seen, "Refused readings by reason code", ["readings", "reason"])
        assert {"malformed_consumption_kwh", "duplicate_identical"} & seen[
            "Refused readings by reason code"
        ]
        import matplotlib.image

        pixels = matplotlib.image.imread(shot)
        assert pixels.shape[0] >= 1000 and pixels.std() > 0.02
        keep = os.environ.get("ENERGY_SCREENSHOT_DIR")
        if keep:
            shutil.copy(shot, Path(keep) / shot.name)
    finally:
        app.terminate()
        app.wait(timeout=30)


def _reads_as(seen: dict[str, set[str]], title: str, axis_titles: list[str]) -> None:
    """The chart titled ``title`` is on the page with these axis titles."""
    assert title in seen, f"no chart titled {title!r}: {sorted(seen)}"
    missing = set(axis_titles) - seen[title]
    assert not missing, f"{title!r} has no axis titled {sorted(missing)}: {sorted(seen[title])}"


def _walk(node):
    yield node
    for c in getattr(node, "children", {}).values():
        yield from _walk(c)
