"""How good the household classifier and the anomaly detection are, at a size you choose.

Materializes the Parquet side of the graph (simulate, clean, aggregate, classify, detect) for
DAYS simulated days of HOUSES houses into a scratch data directory, as one run, then prints
the classifier's held-out accuracy and macro-F1 for every day whose window is full, and the
anomalies' precision and recall on house-days with a full warm-up.

    .venv/bin/python benchmarks/models.py --houses 500 --start 2024-03-01 --days 56

The figures are computed from the run, never fixed; the floors of the issue are printed
beside them.
"""

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
from dagster import materialize

from energy_assets.analytics.anomalies import score_against_truth
from energy_assets.assets.analytics import daily_aggregates
from energy_assets.assets.cleaning import vee
from energy_assets.assets.models import (
    ANOMALY_PRECISION_FLOOR,
    ANOMALY_RECALL_FLOOR,
    CLASSIFIER_MIN_DAYS,
    MACRO_F1_FLOOR,
    consumption_anomalies,
    household_classifier,
)
from energy_assets.assets.simulation import houses, simulated_meters
from energy_assets.resources import SimulationResource
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.parquet_io import ParquetIOManager
from energy_assets.storage.spark import SparkResource


def main() -> None:
    """Run the graph's Parquet side and print the models' figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--houses", type=int, default=500)
    ap.add_argument("--interval", type=int, default=15)
    ap.add_argument("--start", default="2024-03-01")
    ap.add_argument("--days", type=int, default=56)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--climate", default=os.environ.get("ENERGY_CLIMATE", "santiago"))
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    start = dt.date.fromisoformat(args.start)
    end = start + dt.timedelta(days=args.days - 1)
    data = Path(args.data_dir or tempfile.mkdtemp(prefix="energy-models-"))
    spark = SparkResource(master="local[*]", ui=False)
    lake = LakeResource(data_dir=str(data))
    resources = {
        "spark": spark,
        "lake": lake,
        "simulation": SimulationResource(
            houses=args.houses, interval_minutes=args.interval, seed=args.seed, climate=args.climate
        ),
        "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
    }
    t0 = time.perf_counter()
    materialize(
        [
            houses,
            simulated_meters,
            vee,
            daily_aggregates,
            household_classifier,
            consumption_anomalies,
        ],
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
    )
    wall = time.perf_counter() - t0

    models = sorted((data / "household_classifier" / "models").glob("*.json"))
    cards = [json.loads(p.read_text()) for p in models]
    full = [c for c in cards if c["metrics"].get("window_days", 0) >= CLASSIFIER_MIN_DAYS]
    f1 = pd.Series({c["as_of_day"]: c["metrics"]["macro_f1"] for c in full})
    acc = pd.Series({c["as_of_day"]: c["metrics"]["accuracy"] for c in full})

    found = (
        ds.dataset(str(data / "consumption_anomalies"), format="parquet", partitioning="hive")
        .to_table()
        .to_pandas()
    )
    truth = ds.dataset(
        str(data / "simulation_truth"), format="parquet", partitioning="hive"
    ).to_table(filter=pc.field("category") == "anomaly", columns=["house_id", "day", "kind"])
    scores = score_against_truth(found, truth.to_pandas())

    print(
        f"\n{args.houses} houses, {args.interval}-minute readings, {start}..{end}, seed {args.seed}"
    )
    print(f"wall time of the run: {wall:.0f} s; data in {data}\n")
    print("| figure | value | floor |")
    print("|---|---|---|")
    if len(f1):
        print(
            f"| classifier macro-F1, days with {CLASSIFIER_MIN_DAYS}+ days of history "
            f"({len(f1)} days): mean | {f1.mean():.3f} | {MACRO_F1_FLOOR} |"
        )
        print(f"| classifier macro-F1: min / max | {f1.min():.3f} / {f1.max():.3f} | |")
        print(f"| classifier accuracy: mean | {acc.mean():.3f} | |")
    print(
        f"| anomalies: house-days judged (>= 28 days of history) | {scores['house_days_judged']} | |"
    )
    print(
        f"| anomalies: injected anomalous house-days among them | {scores['anomalous_house_days']} | |"
    )
    print(f"| anomalies: precision | {scores['precision']:.3f} | {ANOMALY_PRECISION_FLOOR} |")
    print(f"| anomalies: recall | {scores['recall']:.3f} | {ANOMALY_RECALL_FLOOR} |")
    for kind, r in sorted(scores["recall_by_kind"].items()):
        print(f"| anomalies: recall of {kind} | {r:.3f} | |")


if __name__ == "__main__":
    main()
