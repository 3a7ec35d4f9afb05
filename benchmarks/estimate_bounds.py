"""How far a gap estimator could go on a run's gaps: ours and the simple ways beside two bounds.

Reads a data folder that ``benchmarks/models.py --data-dir`` (or one cell of its grid) wrote and
prints, by gap length, on the injected gaps of houses with the whole history that every way
could estimate (``cleaning_evaluation``'s rows), the MAE against the truth of:

- ours and the three simple ways (linear interpolation, a week earlier, the typical day scaled);
- the better of ours and interpolation, chosen interval by interval *with the truth*: an oracle
  no estimator can be, so a floor for any choice between the two;
- a gradient-boosted blend (absolute loss) of all four ways, the gap's length, the interval's
  place in it, its hour and the two readings either side of the gap, fitted *to the truth* with
  the houses split into five folds: what a learned blend of the same information reaches.

Each figure is beside the gain over the best simple way, the issue's measure.

    .venv/bin/python benchmarks/estimate_bounds.py /tmp/energy-grid-XXXX/santiago-2024-01-01-7
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import GroupKFold

from energy_assets.assets.evaluation import GAP_LENGTHS
from energy_assets.cleaning.estimation import HISTORY_DAYS

SIMPLE_WAYS = ("linear_kwh", "week_earlier_kwh", "profile_scaled_kwh")
WAYS = ("estimate_kwh", *SIMPLE_WAYS)
#: Readings either side of a gap the blend sees, nearest first.
SIDE_READINGS = 2


def read(data: Path, asset: str, columns: list[str] | None = None, where=None) -> pd.DataFrame:
    """An asset's day folders as one frame (hidden version folders are skipped by pyarrow)."""
    dataset = ds.dataset(str(data / asset), format="parquet", partitioning="hive")
    return dataset.to_table(columns=columns, filter=where).to_pandas()


def scored_gaps(data: Path, interval_minutes: int) -> pd.DataFrame:
    """Every estimated interval every way could estimate, with its truth, its place in its gap
    and the gap's neighbours."""
    gaps = read(data, "gap_estimates").drop(columns="day", errors="ignore")
    truth = read(
        data,
        "simulation_truth",
        ["house_id", "simulated_timestamp", "true_value"],
        pc.field("kind") == "gap",
    )
    gaps = gaps.merge(truth, on=["house_id", "simulated_timestamp"])
    gaps = gaps.sort_values(["house_id", "simulated_timestamp"], ignore_index=True)
    step = pd.Timedelta(minutes=interval_minutes)
    ts = gaps["simulated_timestamp"]
    starts = (gaps["house_id"] != gaps["house_id"].shift()) | (ts - ts.shift() != step)
    gaps["gap"] = starts.cumsum()
    by_gap = gaps.groupby("gap")
    gaps["place"] = by_gap.cumcount()
    gaps["places_left"] = by_gap["place"].transform("max") - gaps["place"]
    gaps["hour"] = ts.dt.hour + ts.dt.minute / 60
    readings = read(
        data, "cleaned_readings", ["house_id", "simulated_timestamp", "consumption_kwh"]
    )
    reading = readings.set_index(["house_id", "simulated_timestamp"])["consumption_kwh"]
    first = by_gap["simulated_timestamp"].transform("min")
    last = by_gap["simulated_timestamp"].transform("max")
    for k in range(1, SIDE_READINGS + 1):
        for name, at in ((f"before_{k}", first - k * step), (f"after_{k}", last + k * step)):
            key = pd.MultiIndex.from_arrays([gaps["house_id"], at])
            gaps[name] = reading.reindex(key).to_numpy()
    lengths = np.full(len(gaps), GAP_LENGTHS[-1][0], dtype=object)
    for label, longest in reversed(GAP_LENGTHS[:-1]):
        lengths[gaps["gap_minutes"].to_numpy() <= longest] = label
    gaps["gap_length"] = lengths
    # Only now: a gap's place and neighbours are those of the whole gap, not of the intervals
    # of it that every way estimated.
    return gaps[gaps[list(WAYS)].notna().all(axis=1)]


def learned_blend(gaps: pd.DataFrame) -> np.ndarray:
    """Out-of-fold predictions of a gradient-boosted blend fitted to the truth, split by house."""
    sides = [f"{s}_{k}" for k in range(1, SIDE_READINGS + 1) for s in ("before", "after")]
    features = gaps[[*WAYS, "gap_minutes", "place", "places_left", "hour", *sides]].to_numpy()
    truth = gaps["true_value"].to_numpy()
    predicted = np.zeros(len(gaps))
    for train, test in GroupKFold(5).split(features, truth, gaps["house_id"]):
        model = HistGradientBoostingRegressor(
            loss="absolute_error", max_iter=300, learning_rate=0.05, random_state=0
        )
        predicted[test] = model.fit(features[train], truth[train]).predict(features[test])
    return predicted


def main() -> None:
    """Print the table for one data folder."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="a data folder of benchmarks/models.py")
    ap.add_argument("--interval", type=int, default=15, help="the readings' minutes")
    args = ap.parse_args()
    gaps = scored_gaps(args.data, args.interval)
    # The blend learns from every house's gaps; it is scored, as the rest, on the houses with
    # their whole history.
    gaps["learned_blend"] = learned_blend(gaps)
    gaps = gaps[gaps["history_days"] >= HISTORY_DAYS]
    ours, linear = gaps["estimate_kwh"], gaps["linear_kwh"]
    truth = gaps["true_value"]
    gaps["oracle_ours_or_linear"] = np.where(
        (ours - truth).abs() <= (linear - truth).abs(), ours, linear
    )
    shown = ("estimate_kwh", *SIMPLE_WAYS, "oracle_ours_or_linear", "learned_blend")
    print(f"{args.data}: MAE (kWh), gain over the best simple way in brackets\n")
    print("| gap length | intervals | " + " | ".join(shown) + " |")
    print("|---" * (len(shown) + 2) + "|")
    for label, _ in GAP_LENGTHS:
        of_length = gaps[gaps["gap_length"] == label]
        if of_length.empty:
            continue
        mae = {w: (of_length[w] - of_length["true_value"]).abs().mean() for w in shown}
        best = min(mae[w] for w in SIMPLE_WAYS)
        cells = [f"{mae[w]:.4f} ({1 - mae[w] / best:+.0%})" for w in shown]
        print(f"| {label} | {len(of_length):,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
