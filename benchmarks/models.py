"""How good the household classifier and the anomaly detection are, at a size and season you choose.

One run: materializes the Parquet side of the graph (simulate, clean, aggregate, classify,
detect) for DAYS simulated days of HOUSES houses into a scratch data directory, then prints the
classifier's held-out macro-F1 over the days with at least 28 days of history, the anomalies'
precision and recall (and recall per kind) on house-days with a sufficient baseline, and the
gap estimates' MAE by gap length beside linear interpolation, the same interval a week earlier
and the typical day scaled (``cleaning_evaluation``'s table, on the injected gaps of houses with
the whole 28 days of history: after the warm-up, as the anomalies are judged).

    .venv/bin/python benchmarks/models.py --houses 500 --start 2024-03-01 --days 56

A cell's estimates are scored on the few hundred gaps its meters lost; ``--gap-rate`` (lost
deliveries a house-day, 0.04 by default) scores them on more, at the price of more gaps in the
history the estimates and the models read:

    .venv/bin/python benchmarks/models.py --climate london --start 2024-01-01 --seed 7 --houses 500 --gap-rate 0.3

The season grid: every cell is such a run in its own process (its own preset's time zone):
start months January, April, July and October (every season in both hemispheres), seeds 42 and
7, the Santiago and London presets; 500 houses at 15 minutes, 56 days each (the 28-day warm-up
and four weeks of verdicts). It prints one row a cell, with the floors.

    .venv/bin/python benchmarks/models.py --grid [--houses 500] [--cells santiago:2024-01-01:42,...]

A grid's folder (printed as ``energy-grid-...``, it keeps every cell's data) can have its
anomalies detected and its classifiers trained and scored again after a change of the
models alone, without simulating and cleaning again:

    .venv/bin/python benchmarks/models.py --rescore /tmp/energy-grid-XXXX [--anomalies-only]

(``--anomalies-only`` keeps the classifier's figures as the cells' runs left them: a rescoring
in minutes where the classifier's 28 fits a cell take most of the time.)

The figures are computed from the runs, never fixed.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from dagster import AssetKey, materialize

from energy_assets.analytics.anomalies import score_against_truth
from energy_assets.analytics.classifier import ClassifierParams, classify_day
from energy_assets.assets.analytics import daily_aggregates
from energy_assets.assets.cleaning import vee
from energy_assets.assets.evaluation import GAP_LENGTHS, cleaning_evaluation, estimate_scores
from energy_assets.assets.models import (
    ANOMALY_PRECISION_FLOOR,
    ANOMALY_RECALL_FLOOR,
    CLASSIFIER_MIN_DAYS,
    CLASSIFIER_WINDOW_DAYS,
    MACRO_F1_FLOOR,
    consumption_anomalies,
    household_classifier,
    model_dir,
)
from energy_assets.assets.simulation import houses, simulated_meters
from energy_assets.cleaning.estimation import HISTORY_DAYS
from energy_assets.partitions import range_tags
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
    ap.add_argument(
        "--gap-rate",
        type=float,
        default=None,
        help="lost deliveries a house-day (the simulator's gap_per_house_day, 0.04 unless set): "
        "more gaps measure the estimates on more intervals",
    )
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--grid", action="store_true", help="run the season grid")
    ap.add_argument("--cells", default=None, help="climate:start:seed,... (default: the grid)")
    ap.add_argument(
        "--rescore",
        default=None,
        help="a grid's folder: detect and score its cells' anomalies again with this code",
    )
    ap.add_argument(
        "--anomalies-only",
        action="store_true",
        help="with --rescore: keep the classifier's figures as the cells' runs left them",
    )
    args = ap.parse_args()
    if args.rescore:
        rescore_grid(Path(args.rescore), classifier=not args.anomalies_only)
        return
    if args.grid:
        run_grid(args)
        return
    start = dt.date.fromisoformat(args.start)
    end = start + dt.timedelta(days=args.days - 1)
    data = Path(args.data_dir or tempfile.mkdtemp(prefix="energy-models-"))
    spark = SparkResource(master="local[*]", ui=False)
    lake = LakeResource(data_dir=str(data))
    resources = {
        "spark": spark,
        "lake": lake,
        "simulation": SimulationResource(
            houses=args.houses,
            interval_minutes=args.interval,
            seed=args.seed,
            climate=args.climate,
            fault_rates={} if args.gap_rate is None else {"gap_per_house_day": args.gap_rate},
        ),
        "parquet_io_manager": ParquetIOManager(lake=lake, spark=spark),
    }
    t0 = time.perf_counter()
    result = materialize(
        [
            houses,
            simulated_meters,
            vee,
            cleaning_evaluation,
            daily_aggregates,
            household_classifier,
            consumption_anomalies,
        ],
        resources=resources,
        tags=range_tags(start.isoformat(), end.isoformat()),
    )
    wall = time.perf_counter() - t0
    # The estimates after the warm-up, as the anomalies are judged: the gaps of houses with the
    # whole 28 days of history, scored by cleaning_evaluation's own function.
    store, days = resources["parquet_io_manager"], pd.date_range(start, end).date
    gaps = store.read_days(AssetKey("gap_estimates"), days)
    truth = store.read_days(AssetKey("simulation_truth"), days)
    evaluation = estimate_scores(gaps.where(f"history_days >= {HISTORY_DAYS}"), truth)
    assert result.success
    estimates = {
        label: {
            way: evaluation.get(f"estimate_mae/{label}/{way}", float("nan"))
            for way in ("ours", "linear", "week_earlier", "profile_scaled")
        }
        for label, _ in GAP_LENGTHS
    }

    models = sorted(model_dir(lake).glob("*.json"))
    cards = [json.loads(p.read_text()) for p in models]
    full = [c for c in cards if c["metrics"].get("window_days", 0) >= CLASSIFIER_MIN_DAYS]
    f1 = pd.Series({c["as_of_day"]: c["metrics"]["macro_f1"] for c in full})
    acc = pd.Series({c["as_of_day"]: c["metrics"]["accuracy"] for c in full})

    found = store.read_arrow_days(AssetKey("consumption_anomalies"), days).to_pandas()
    scores = score_against_truth(found, injected_anomalies(store, days))

    figures = {
        "climate": args.climate,
        "start": args.start,
        "days": args.days,
        "gap_rate": args.gap_rate,
        "seed": args.seed,
        "wall_s": wall,
        "macro_f1_mean": float(f1.mean()) if len(f1) else float("nan"),
        "macro_f1_min": float(f1.min()) if len(f1) else float("nan"),
        "precision": scores["precision"],
        "recall": scores["recall"],
        "recall_by_kind": scores["recall_by_kind"],
        "house_days_judged": scores["house_days_judged"],
        "estimate_mae": estimates,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(figures))
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
    print(f"\nGap estimates of houses with {HISTORY_DAYS} days of history:")
    print(evaluation["estimate_mae_by_gap_length"].value)


GRID_HEADER = (
    "| preset | start | seed | anomaly precision | recall | recall: left on / failing / "
    "vacancy / bypass | macro-F1 mean (min) | estimate gain over the best simple way: "
    "<= 1 h / 1-3 h / > 3 h | meets floors | wall s |\n|---|---|---|---|---|---|---|---|---|---|"
)
GRID_STARTS = ("2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01")
GRID_SEEDS = (42, 7)
GRID_CLIMATES = ("santiago", "london")


def run_grid(args: argparse.Namespace) -> None:
    """Each cell in its own process (the partitions follow its preset's time zone); a table."""
    cells = (
        [tuple(c.split(":")) for c in args.cells.split(",")]
        if args.cells
        else [(c, s, str(n)) for c in GRID_CLIMATES for s in GRID_STARTS for n in GRID_SEEDS]
    )
    out = Path(tempfile.mkdtemp(prefix="energy-grid-"))
    print(f"the cells' data and figures: {out}", flush=True)
    rows = []
    for climate, start, seed in cells:
        result = out / f"{climate}-{start}-{seed}.json"
        cmd = [
            sys.executable,
            __file__,
            *("--climate", climate, "--start", start, "--seed", seed),
            *("--houses", str(args.houses), "--days", str(args.days)),
            *("--interval", str(args.interval), "--json", str(result)),
            *("--data-dir", str(out / f"{climate}-{start}-{seed}")),
            *(("--gap-rate", str(args.gap_rate)) if args.gap_rate is not None else ()),
        ]
        env = {**os.environ, "ENERGY_CLIMATE": climate}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode or not result.exists():
            print(f"cell {climate} {start} seed {seed} failed:\n{done.stderr[-2000:]}")
            continue
        rows.append(json.loads(result.read_text()))
        print(_grid_row(rows[-1]), flush=True)
    print(
        f"\n{args.houses} houses, {args.interval}-minute readings, {args.days} days a cell; "
        f"floors: precision {ANOMALY_PRECISION_FLOOR}, recall {ANOMALY_RECALL_FLOOR}, "
        f"classifier macro-F1 (mean of a cell's days) {GRID_F1_FLOOR}, estimates "
        f"{ESTIMATE_GAIN_FLOOR:.0%} below the best simple way's MAE in every gap length\n"
    )
    _print_tables(rows)


def rescore_grid(grid: Path, classifier: bool = True) -> None:
    """The anomalies and (unless ``classifier`` is False) the classifier of every cell of a
    grid's folder, computed again from its daily aggregates and registry (what the
    consumption_anomalies and household_classifier assets do over the cell's days); the gap
    estimates as run."""
    from energy_assets.analytics.anomalies import detect_anomalies

    rows = []
    spark = SparkResource(master="local[*]", ui=False)  # not started: the reads are Arrow's
    for result in sorted(grid.glob("*.json")):
        r = json.loads(result.read_text())
        store = ParquetIOManager(
            lake=LakeResource(data_dir=str(result.with_suffix(""))), spark=spark
        )
        days = cell_days(r)
        daily = store.read_arrow_days(AssetKey("daily_aggregates"), days).to_pandas()
        found = detect_anomalies(daily, sorted(daily["day"].unique()))
        r |= score_against_truth(found, injected_anomalies(store, days))
        if classifier:
            registry = store.read_arrow(AssetKey("houses")).to_pandas()
            r |= classifier_scores(daily, registry)
        result.write_text(json.dumps(r))
        rows.append(r)
        print(_grid_row(r), flush=True)
    _print_tables(rows)


def cell_days(cell: dict) -> list[dt.date]:
    """The simulated days of a cell's run, from its figures (56 where older figures lack them)."""
    start = dt.date.fromisoformat(cell["start"])
    return list(pd.date_range(start, periods=cell.get("days", 56)).date)


def injected_anomalies(store: ParquetIOManager, days: list[dt.date]) -> pd.DataFrame:
    """The anomalies the simulator injected (house, day, kind), from its truth."""
    truth = store.read_arrow_days(AssetKey("simulation_truth"), days)
    truth = truth.filter(pc.equal(truth["category"], "anomaly"))
    return truth.select(["house_id", "day", "kind"]).to_pandas()


def classifier_scores(daily: pd.DataFrame, registry: pd.DataFrame) -> dict:
    """Held-out macro-F1 (mean and min) of the models of the days with a full warm-up."""
    params, f1 = ClassifierParams(), []
    for day in sorted(daily["day"].unique()):
        trained, _ = classify_day(daily, registry, params, day, CLASSIFIER_WINDOW_DAYS)
        if trained.metrics["window_days"] >= CLASSIFIER_MIN_DAYS:
            f1.append(trained.metrics["macro_f1"])
    return {"macro_f1_mean": float(np.mean(f1)), "macro_f1_min": float(np.min(f1))}


def _print_tables(rows: list[dict]) -> None:
    """The grid's table, then its cells' gap-estimate MAE by gap length."""
    print(f"\n{GRID_HEADER}")
    for r in rows:
        print(_grid_row(r))
    ways = ("ours", "linear", "week_earlier", "profile_scaled")
    print(
        "\nGap estimates, MAE (kWh) after the warm-up, "
        f"{' / '.join(ways)}:\n\n| preset | start | seed | "
        + " | ".join(label for label, _ in GAP_LENGTHS)
        + " |\n|---|---|---|"
        + "---|" * len(GAP_LENGTHS)
    )
    for r in rows:
        cells = [
            " / ".join(f"{r['estimate_mae'][label][w]:.4f}" for w in ways)
            for label, _ in GAP_LENGTHS
        ]
        print(f"| {r['climate']} | {r['start']} | {r['seed']} | " + " | ".join(cells) + " |")


GRID_F1_FLOOR = 0.92
ESTIMATE_GAIN_FLOOR = 0.20


def _gains(r: dict) -> list[float]:
    """Per gap length, 1 - our MAE over the best simple way's."""
    gains = []
    for label, _ in GAP_LENGTHS:
        mae = r["estimate_mae"][label]
        best = min(mae["linear"], mae["week_earlier"], mae["profile_scaled"])
        gains.append(1 - mae["ours"] / best if best == best and best else float("nan"))
    return gains


KINDS = ("appliance_left_on", "appliance_failing", "vacancy", "meter_bypass")


def _grid_row(r: dict) -> str:
    """One cell of the grid as a Markdown row."""
    kinds = " / ".join(f"{r['recall_by_kind'].get(k, float('nan')):.2f}" for k in KINDS)
    gains = _gains(r)
    ok = (
        r["precision"] >= ANOMALY_PRECISION_FLOOR
        and r["recall"] >= ANOMALY_RECALL_FLOOR
        and r["macro_f1_mean"] >= GRID_F1_FLOOR
        and all(g >= ESTIMATE_GAIN_FLOOR for g in gains)
    )
    return (
        f"| {r['climate']} | {r['start']} | {r['seed']} | {r['precision']:.3f} | "
        f"{r['recall']:.3f} | {kinds} | {r['macro_f1_mean']:.3f} ({r['macro_f1_min']:.3f}) | "
        f"{' / '.join(f'{g:+.0%}' for g in gains)} | {'yes' if ok else 'NO'} | {r['wall_s']:.0f} |"
    )


if __name__ == "__main__":
    main()
