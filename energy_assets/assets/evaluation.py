"""Scoring the cleaning against the simulator's truth: the only readers of simulation_truth."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

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
        AssetCheckSpec(
            "faults_caught",
            asset="cleaning_evaluation",
            description=f"at least {CAUGHT_FLOOR:.0%} of injected faulty readings refused",
        ),
        AssetCheckSpec(
            "good_kept",
            asset="cleaning_evaluation",
            description=f"at most {REFUSED_GOOD_CEILING:.1%} of good readings refused",
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
    return MaterializeResult(
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name="faults_caught",
                passed=s["caught_share"] >= CAUGHT_FLOOR,
                severity=AssetCheckSeverity.WARN,
                metadata={"caught_share": s["caught_share"]},
            ),
            AssetCheckResult(
                check_name="good_kept",
                passed=s["refused_good_share"] <= REFUSED_GOOD_CEILING,
                severity=AssetCheckSeverity.WARN,
                metadata={"refused_good_share": s["refused_good_share"]},
            ),
        ],
    )
