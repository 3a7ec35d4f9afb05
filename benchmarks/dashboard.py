"""How responsive the dashboard is on the warehouse it points at.

    ENERGY_PG_SCHEMA=bench .venv/bin/python benchmarks/dashboard.py

Runs the Streamlit app headless (``streamlit.testing``) against ``ENERGY_PG_URL`` (or the
embedded server) and ``ENERGY_PG_SCHEMA``, and prints the wall time of a first render (empty
cache: every query runs in PostgreSQL), of a rerun (cached), and of the interactions a user
makes (another range, another profile, chosen houses, another anomaly). The peer is the size
of what it reads: the rows of the daily table and of the rejected readings.
"""

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


def main() -> int:
    """Render the app, interact with it, print the timings."""
    import os

    from streamlit.testing.v1 import AppTest

    from energy_assets.explore import query

    sizes = query(
        "SELECT (SELECT count(*) FROM {d}) AS daily, (SELECT count(DISTINCT house_id) FROM {d}) "
        "AS houses, (SELECT count(*) FROM {r}) AS rejected, (SELECT count(*) FROM {c}) AS cleaned",
        d="energy_daily",
        r="energy_data_rejected",
        c="energy_data_cleaned",
    ).iloc[0]
    at = AppTest.from_file(APP, default_timeout=600)
    timings = []

    def timed(label: str, action=None) -> None:
        if action:
            action()
        start = time.perf_counter()
        at.run()
        timings.append((label, time.perf_counter() - start))
        if at.exception:
            raise SystemExit(f"the app failed: {at.exception[0].message}")

    timed("first render (every query in PostgreSQL)")
    timed("rerun (cached queries)")
    dates = at.sidebar.date_input[0]
    first = dates.value[0]
    timed("one day instead of the whole range", lambda: dates.set_value((first, first)))
    timed("profile 'high' only", lambda: at.sidebar.multiselect[0].set_value(["high"]))
    houses = at.sidebar.multiselect[1]
    timed("200 chosen houses", lambda: houses.set_value(houses.options[:200]))
    if at.selectbox:
        box = at.selectbox[0]
        timed("another anomaly", lambda: box.select_index(len(box.options) - 1))
    print(
        f"warehouse schema {os.environ.get('ENERGY_PG_SCHEMA', 'energy')}: {sizes['houses']:,} houses,"
        f" {sizes['daily']:,} house-days, {sizes['cleaned']:,} cleaned readings,"
        f" {sizes['rejected']:,} rejected; {os.cpu_count()} cores\n"
    )
    print("| interaction | seconds |")
    print("|---|---|")
    for label, secs in timings:
        print(f"| {label} | {secs:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
