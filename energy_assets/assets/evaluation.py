"""Scoring the cleaning against the simulator's truth: the only readers of simulation_truth."""

from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from energy_assets.assets.verdicts import Verdict, day_check, day_results
from energy_assets.partitions import simulated_days, single_run

#: Truth kinds that a cleaning must refuse; late and out-of-order deliveries are good readings.
REFUSABLE = (
    "null",
    "error",
    "sentinel_-9999",
    "sentinel_9999",
    "nan",
    "unit_error",
    "negative",
    "stuck_meter",
    "duplicate_identical",
    "duplicate_conflicting",
)
CAUGHT_FLOOR = 0.99
REFUSED_GOOD_CEILING = 0.001
KEY = ["house_id", "simulated_timestamp", "ingested_at"]


def score_cleaning(
    raw: DataFrame, cleaned: DataFrame, rejected: DataFrame, truth: DataFrame
) -> dict:
    """Faults caught, good readings refused, and the error of estimated values, from the truth."""
    faults = truth.where(F.col("kind").isin(*REFUSABLE)).select(*KEY, "kind").distinct()
    n_faults = faults.count()
    rej_keys = rejected.select(*KEY).distinct()
    caught = faults.join(rej_keys, KEY, "left_semi").count()
    refused_good = rejected.join(faults, KEY, "left_anti").count()
    n_good = raw.count() - truth.where(F.col("kind").isin(*REFUSABLE)).count()
    gaps = truth.where(F.col("kind") == "gap").select(
        "house_id", "simulated_timestamp", F.col("true_value").alias("truth")
    )
    est = cleaned.where("is_estimated").select("house_id", "simulated_timestamp", "consumption_kwh")
    errors = (
        est.join(gaps, ["house_id", "simulated_timestamp"])
        .agg(
            F.avg(F.abs(F.col("consumption_kwh") - F.col("truth"))).alias("mae"),
            F.avg("truth").alias("mean_truth"),
            F.count("*").alias("n"),
        )
        .collect()[0]
    )
    missed = faults.join(rej_keys, KEY, "left_anti").groupBy("kind").count().collect()
    return {
        "faults": n_faults,
        "faults_caught": caught,
        "caught_share": caught / n_faults if n_faults else 1.0,
        "good_readings": n_good,
        "good_refused": refused_good,
        "refused_good_share": refused_good / n_good if n_good else 0.0,
        "estimated_scored": errors["n"],
        "estimate_mae_kwh": float(errors["mae"] or 0.0),
        "estimate_mean_true_kwh": float(errors["mean_truth"] or 0.0),
        "missed_by_kind": {r["kind"]: r["count"] for r in missed},
    }


@asset(
    partitions_def=simulated_days,
    backfill_policy=single_run,
    group_name="evaluation",
    kinds={"spark"},
    check_specs=[
        day_check(
            "faults_caught",
            "cleaning_evaluation",
            f"at least {CAUGHT_FLOOR:.0%} of the day's injected faulty readings refused",
        ),
        day_check(
            "good_kept",
            "cleaning_evaluation",
            f"at most {REFUSED_GOOD_CEILING:.1%} of the day's good readings refused",
        ),
    ],
)
def cleaning_evaluation(
    context: AssetExecutionContext,
    raw_readings: DataFrame,
    cleaned_readings: DataFrame,
    rejected_readings: DataFrame,
    simulation_truth: DataFrame,
):
    """How well the cleaning did, scored against what the simulator injected."""
    s = score_cleaning(raw_readings, cleaned_readings, rejected_readings, simulation_truth)
    missed = s.pop("missed_by_kind")
    metadata = {**s, **{f"missed/{k}": v for k, v in missed.items()}}
    by_day = shares_by_day(raw_readings, rejected_readings, simulation_truth)
    days = context.partition_keys
    yield MaterializeResult(metadata=metadata)
    yield day_results(
        context,
        "cleaning_evaluation",
        "faults_caught",
        AssetCheckSeverity.WARN,
        {d: _caught(*by_day.get(d, (0, 0, 0, 0))[:2]) for d in days},
        {"caught_share": s["caught_share"]},
    )
    yield day_results(
        context,
        "cleaning_evaluation",
        "good_kept",
        AssetCheckSeverity.WARN,
        {d: _kept(*by_day.get(d, (0, 0, 0, 0))[2:]) for d in days},
        {"refused_good_share": s["refused_good_share"]},
    )


def shares_by_day(raw: DataFrame, rejected: DataFrame, truth: DataFrame) -> dict:
    """Per day: (faults, faults caught, good readings, good readings refused)."""
    faults = truth.where(F.col("kind").isin(*REFUSABLE)).select(*KEY, "day").distinct()
    rej_keys = rejected.select(*KEY).distinct()

    def per_day(frame: DataFrame) -> dict[str, int]:
        return {str(r["day"]): r["count"] for r in frame.groupBy("day").count().collect()}

    n_faults = per_day(faults)
    caught = per_day(faults.join(rej_keys, KEY, "left_semi"))
    refused_good = per_day(rejected.join(faults.drop("day"), KEY, "left_anti"))
    raw_rows = per_day(raw)
    faulty_rows = per_day(truth.where(F.col("kind").isin(*REFUSABLE)))
    return {
        d: (
            n_faults.get(d, 0),
            caught.get(d, 0),
            raw_rows[d] - faulty_rows.get(d, 0),
            refused_good.get(d, 0),
        )
        for d in raw_rows
    }


def _caught(faults: int, caught: int) -> Verdict:
    share = caught / faults if faults else 1.0
    return Verdict(
        share >= CAUGHT_FLOOR,
        f"{caught:,} of {faults:,} injected faulty readings refused ({share:.2%})",
        {"caught_share": share},
    )


def _kept(good: int, refused: int) -> Verdict:
    share = refused / good if good else 0.0
    return Verdict(
        share <= REFUSED_GOOD_CEILING,
        f"{refused:,} of {good:,} good readings refused ({share:.3%})",
        {"refused_good_share": share},
    )
