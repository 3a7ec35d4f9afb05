"""The gap estimates on gaps cut into a run's readings: thousands a cell, where its meters lost a
few hundred, so that a cell's gain over the simple ways is measured rather than sampled.

A cell of the season grid scores its estimates on the gaps the simulator injected after the
warm-up: about 350 gaps up to an hour, 150 of 1-3 h and 30 over 3 h. Resampled by gap, the
gain over the best simple way moves by ±10 points at a 90 % interval on the short gaps and by
±15 on the long ones; a floor judged cell by cell on those counts is partly a draw.

This reads a data folder of ``benchmarks/models.py`` (one cell of its grid), draws house-days
after the warm-up, cuts one gap into each (its length drawn as the simulator draws a delivery
gap's: log-normal around 45 minutes, at most 6 hours; its start anywhere in the day), runs the
cleaning's own estimation (``vee.estimated``, the run's ``load_shapes`` as history) on the kept
readings left, and scores it with ``cleaning_evaluation``'s function against the readings cut
out. What the run had estimated stays missing: a cut gap that meets a refused reading is one
longer gap, as a lost delivery's would be; only the cut readings are scored. It prints ours and
the simple ways by gap length, the gain over the best of them, and the gain's 90 % interval
over 1,000 resamplings of the gaps; for one cell, also where our error lies (the intervals that
ran an appliance against the rest).

    .venv/bin/python benchmarks/estimate_holdout.py /tmp/energy-grid-XXXX/santiago-2024-01-01-7
    .venv/bin/python benchmarks/estimate_holdout.py /tmp/energy-grid-XXXX    # a row a cell
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from dagster import AssetKey  # noqa: E402
from models import cell_days  # noqa: E402  (benchmarks/models.py: a cell's days)
from pyspark.sql import functions as F  # noqa: E402

from energy_assets.assets.evaluation import (  # noqa: E402
    ESTIMATORS,
    GAP_LENGTHS,
    estimate_scores,
    gap_length,
)
from energy_assets.cleaning.estimation import HISTORY_DAYS  # noqa: E402
from energy_assets.cleaning.rules import CleaningParams  # noqa: E402
from energy_assets.cleaning.vee import estimated, gap_estimates  # noqa: E402
from energy_assets.resources import SimulationResource  # noqa: E402
from energy_assets.storage.lake import LakeResource  # noqa: E402
from energy_assets.storage.parquet_io import ParquetIOManager  # noqa: E402
from energy_assets.storage.spark import SparkResource  # noqa: E402

#: The simulator's delivery gaps: log-normal minutes around this median, at most the longest.
GAP_MEDIAN_MINUTES, GAP_LONGEST_MINUTES = 45.0, 360.0
SIMPLE = [w for w in ESTIMATORS if w != "ours"]
#: An interval whose true mean power is at least this ran an appliance (a kettle, an oven, a
#: shower, a heater): the part of the error no neighbour can foretell when the run lies inside
#: the gap.
APPLIANCE_KW = 1.2


def judged_days(store: ParquetIOManager, days: list[dt.date]) -> pd.DataFrame:
    """The cleaned readings of the house-days of ``days``, as the IO manager published them."""
    readings = store.read_arrow_days(AssetKey("cleaned_readings"), days).to_pandas()
    return readings[
        [
            "house_id",
            "simulated_timestamp",
            "consumption_kwh",
            "temperature",
            "voltage",
            "is_estimated",
            "day",
        ]
    ]


def cut_gaps(readings: pd.DataFrame, gaps: int, interval: int, seed: int) -> pd.DataFrame:
    """One gap in each of ``gaps`` house-days drawn from ``readings``: ``cut`` marks the kept
    readings it takes out (the estimated ones it crosses were missing already)."""
    rng = np.random.default_rng(seed)
    house_days = readings[["house_id", "day"]].drop_duplicates()
    chosen = house_days.sample(n=min(gaps, len(house_days)), random_state=seed)
    minutes = np.clip(
        np.exp(np.log(GAP_MEDIAN_MINUTES) + rng.standard_normal(len(chosen))),
        interval,
        GAP_LONGEST_MINUTES,
    )
    chosen = chosen.assign(
        _len=np.maximum(1, np.round(minutes / interval)).astype(int), _u=rng.random(len(chosen))
    )
    days = readings.merge(chosen, on=["house_id", "day"]).sort_values(
        ["house_id", "simulated_timestamp"], ignore_index=True
    )
    place = days.groupby(["house_id", "day"]).cumcount()
    count = days.groupby(["house_id", "day"])["house_id"].transform("size")
    start = np.floor(days["_u"] * count)
    days["cut"] = (place >= start) & (place < start + days["_len"]) & ~days["is_estimated"]
    return days.drop(columns=["_len", "_u"])


@dataclass(frozen=True)
class ApplianceSplit:
    """Of one gap length: the share of intervals that ran an appliance (:data:`APPLIANCE_KW`),
    their share of our absolute error, and our gain over linear interpolation on them and on
    the rest."""

    intervals: float
    error: float
    gain_on_them: float
    gain_elsewhere: float


@dataclass(frozen=True)
class LengthFigures:
    """One gap length of a cell: its gaps and intervals, every way's MAE, our gain and its
    90 % interval, and where our error lies."""

    gaps: int
    intervals: int
    mae: dict[str, float]
    gain: float
    low: float
    high: float
    appliances: ApplianceSplit


def holdout(data: Path, spark: SparkResource, gaps: int, seed: int, interval: int) -> dict:
    """Per gap length, the figures of the estimates on gaps cut into one cell's readings."""
    cell = json.loads(data.with_suffix(".json").read_text())
    settings = SimulationResource(
        climate=cell["climate"], interval_minutes=interval, seed=cell["seed"]
    ).settings()
    # The cell's own local days (a grid holds both presets; the partitions' zone is not asked).
    params = CleaningParams(interval_minutes=interval, timezone=settings.climate_preset.timezone)
    start = dt.date.fromisoformat(cell["start"])
    store = ParquetIOManager(lake=LakeResource(data_dir=str(data)), spark=spark)
    days = cell_days(cell)
    cut = cut_gaps(judged_days(store, days[HISTORY_DAYS:]), gaps, interval, seed)

    session = spark.session
    history = store.read_days(
        AssetKey("load_shapes"), pd.date_range(start, max(cut["day"])).date
    ).select("house_id", "day", "slot", "kwh")
    # The cut house-days as the cleaning's classified rows: what is left kept, as parsed values
    # (the intervals the run estimated stay missing, and are estimated again but not scored).
    values = ["consumption_kwh", "temperature", "voltage"]
    left = cut[~cut["cut"] & ~cut["is_estimated"]]
    classified = session.createDataFrame(
        left[["house_id", "day", "simulated_timestamp", *values]]
    ).select(
        "house_id",
        "day",
        F.col("simulated_timestamp").cast("timestamp_ntz").alias("simulated_timestamp"),
        *[F.col(v).alias(f"_{v}") for v in values],
        F.lit(None).cast("string").alias("reason"),
    )
    truth = session.createDataFrame(
        cut.loc[cut["cut"], ["house_id", "simulated_timestamp", "consumption_kwh"]]
        .rename(columns={"consumption_kwh": "true_value"})
        .assign(kind="gap")
    ).withColumn("simulated_timestamp", F.col("simulated_timestamp").cast("timestamp_ntz"))
    # Scored and then collected: computed once, not once for each (the analogues' search is
    # most of the script's time).
    estimates = (
        gap_estimates(estimated(classified, params, history), params)
        .where(F.col("history_days") >= HISTORY_DAYS)
        .localCheckpoint()
    )
    scores = estimate_scores(estimates, truth)
    rows = (
        estimates.join(truth, ["house_id", "simulated_timestamp"])
        .select("*", gap_length(F.col("gap_minutes")).alias("gap_length"))
        .toPandas()
    )
    # The intervals every way estimated, as the gain compares them.
    rows = rows[rows[list(ESTIMATORS.values())].notna().all(axis=1)]
    figures = {}
    for label, _ in GAP_LENGTHS:
        mae = {w: scores.get(f"estimate_mae/{label}/{w}", float("nan")) for w in ESTIMATORS}
        of_length = rows[rows["gap_length"].eq(label)]
        gaps_of_length, intervals, low, high = resampled_gain(of_length, seed)
        figures[label] = LengthFigures(
            gaps_of_length,
            intervals,
            mae=mae,
            gain=1 - mae["ours"] / min(mae[w] for w in SIMPLE),
            low=low,
            high=high,
            appliances=appliance_split(of_length, interval),
        )
    return figures


def print_cell(data: Path, figures: dict) -> None:
    """One cell's table: every way's MAE by gap length, our gain and its interval."""
    print(f"{data}: MAE (kWh) on gaps cut after the warm-up, gain over the best simple way\n")
    print("| gap length | gaps | intervals | " + " | ".join(ESTIMATORS) + " | gain | 90 % |")
    print("|---" * (len(ESTIMATORS) + 5) + "|")
    for label, f in figures.items():
        print(
            f"| {label} | {f.gaps:,} | {f.intervals:,} | "
            + " | ".join(f"{f.mae[w]:.4f}" for w in ESTIMATORS)
            + f" | {f.gain:+.1%} | {f.low:+.1%} … {f.high:+.1%} |"
        )


def print_appliances(figures: dict) -> None:
    """Where our error lies: the intervals that ran an appliance against the rest."""
    print(
        f"\nIntervals whose true mean power was {APPLIANCE_KW} kW or more (an appliance ran):\n\n"
        "| gap length | share of intervals | share of our error | our gain over linear on them"
        " | on the rest |\n|---|---|---|---|---|"
    )
    for label, f in figures.items():
        a = f.appliances
        print(
            f"| {label} | {a.intervals:.1%} | {a.error:.1%} | {a.gain_on_them:+.1%} |"
            f" {a.gain_elsewhere:+.1%} |"
        )


def grid_row(data: Path, figures: dict) -> str:
    """One cell of a grid: by gap length, our gain, its interval and the gaps."""
    cells = [f"{f.gain:+.1%} ({f.low:+.1%} … {f.high:+.1%}; {f.gaps:,})" for f in figures.values()]
    return f"| {data.name} | " + " | ".join(cells) + " |"


def main() -> None:
    """Print the table for one data folder, or a row for each cell of a grid's folder."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="a data folder of benchmarks/models.py, or a grid's")
    ap.add_argument("--gaps", type=int, default=4000, help="gaps to cut, one a house-day")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--interval", type=int, default=15, help="the readings' minutes")
    args = ap.parse_args()
    spark = SparkResource(master="local[*]", ui=False)
    cells = sorted(p.with_suffix("") for p in args.data.glob("*.json"))
    if not cells:
        figures = holdout(args.data, spark, args.gaps, args.seed, args.interval)
        print_cell(args.data, figures)
        print_appliances(figures)
        return
    print(
        "| cell | "
        + " | ".join(f"{label}: gain (90 %; gaps)" for label, _ in GAP_LENGTHS)
        + " |\n|---"
        + "|---" * len(GAP_LENGTHS)
        + "|",
        flush=True,
    )
    for cell in cells:
        print(grid_row(cell, holdout(cell, spark, args.gaps, args.seed, args.interval)), flush=True)


def appliance_split(rows: pd.DataFrame, interval: int) -> ApplianceSplit:
    """Of one gap length's scored intervals: how many ran an appliance, their share of our
    error, and our gain over linear interpolation on them and on the rest."""
    ours = (rows["estimate_kwh"] - rows["true_value"]).abs()
    linear = (rows["linear_kwh"] - rows["true_value"]).abs()
    ran = rows["true_value"] >= APPLIANCE_KW * interval / 60

    def gain(part: pd.Series) -> float:
        return 1 - ours[part].sum() / linear[part].sum() if linear[part].sum() else float("nan")

    return ApplianceSplit(
        intervals=float(ran.mean()),
        error=float(ours[ran].sum() / ours.sum()) if ours.sum() else float("nan"),
        gain_on_them=gain(ran),
        gain_elsewhere=gain(~ran),
    )


def resampled_gain(picked: pd.DataFrame, seed: int) -> tuple[int, int, float, float]:
    """Of one gap length's scored intervals: the gaps, the intervals, and the 5th and 95th
    percentiles of our gain over 1,000 resamplings of the gaps."""
    if picked.empty:
        return 0, 0, float("nan"), float("nan")
    gap = picked.groupby(["house_id", "day"]).ngroup()  # one cut gap a house-day
    errors = pd.DataFrame(
        {w: (picked[c] - picked["true_value"]).abs() for w, c in ESTIMATORS.items()}
    ).groupby(gap)
    sums, counts = errors.sum().to_numpy(), errors.size().to_numpy()
    picks = np.random.default_rng(seed).integers(0, len(sums), (1000, len(sums)))
    mae = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)[:, None]
    gains = 1 - mae[:, 0] / mae[:, 1:].min(axis=1)
    low, high = np.percentile(gains, [5, 95])
    return len(sums), len(picked), float(low), float(high)


if __name__ == "__main__":
    main()
