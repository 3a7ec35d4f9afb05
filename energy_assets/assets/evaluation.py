"""Scoring the cleaning against the simulator's truth: the only readers of simulation_truth."""

from dataclasses import astuple, dataclass

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


@dataclass(frozen=True)
class FaultCounts:
    """A day's refusable faults and good readings, and what the cleaning did with them."""

    faults: int = 0
    caught: int = 0
    good: int = 0
    good_refused: int = 0

    def __add__(self, other: "FaultCounts") -> "FaultCounts":
        return FaultCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def caught_share(self) -> float:
        """The share of injected faulty readings refused."""
        return self.caught / self.faults if self.faults else 1.0

    @property
    def refused_good_share(self) -> float:
        """The share of good readings refused."""
        return self.good_refused / self.good if self.good else 0.0


def _faults(truth: DataFrame) -> DataFrame:
    return truth.where(F.col("kind").isin(*REFUSABLE)).select(*KEY, "kind", "day").distinct()


def fault_counts_by_day(
    raw: DataFrame, rejected: DataFrame, truth: DataFrame
) -> dict[str, FaultCounts]:
    """Per day: refusable faults, those refused, good readings, those refused, from the truth."""
    faults = _faults(truth)
    rej_keys = rejected.select(*KEY).distinct()

    def per_day(frame: DataFrame) -> dict[str, int]:
        return {str(r["day"]): r["count"] for r in frame.groupBy("day").count().collect()}

    n_faults = per_day(faults)
    caught = per_day(faults.join(rej_keys, KEY, "left_semi"))
    refused_good = per_day(rejected.join(faults.select(*KEY), KEY, "left_anti"))
    raw_rows = per_day(raw)
    faulty_rows = per_day(truth.where(F.col("kind").isin(*REFUSABLE)))
    return {
        d: FaultCounts(
            n_faults.get(d, 0),
            caught.get(d, 0),
            raw_rows[d] - faulty_rows.get(d, 0),
            refused_good.get(d, 0),
        )
        for d in raw_rows
    }


def estimate_scores(cleaned: DataFrame, truth: DataFrame) -> dict:
    """The error of estimated values against the gaps' true values."""
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
    return {
        "estimated_scored": errors["n"],
        "estimate_mae_kwh": float(errors["mae"] or 0.0),
        "estimate_mean_true_kwh": float(errors["mean_truth"] or 0.0),
    }


def missed_by_kind(rejected: DataFrame, truth: DataFrame) -> dict[str, int]:
    """Injected faulty readings the cleaning kept, by kind of fault."""
    rej_keys = rejected.select(*KEY).distinct()
    missed = _faults(truth).join(rej_keys, KEY, "left_anti").groupBy("kind").count().collect()
    return {r["kind"]: r["count"] for r in missed}


@asset(
    partitions_def=simulated_days,
    backfill_policy=single_run,
    group_name="evaluation",
    kinds={"spark"},
    check_specs=[
        day_check(
            "faults_caught",
            "cleaning_evaluation",
            f"at least {CAUGHT_FLOOR:.0%} of the day's injected faulty readings refused "
            "(simulated data only: not run on landed data, which has no injected truth)",
        ),
        day_check(
            "good_kept",
            "cleaning_evaluation",
            f"at most {REFUSED_GOOD_CEILING:.1%} of the day's good readings refused "
            "(simulated data only: not run on landed data, which has no injected truth)",
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
    days = context.partition_keys
    by_day = fault_counts_by_day(raw_readings, rejected_readings, simulation_truth)
    total = sum(by_day.values(), FaultCounts())
    missed = missed_by_kind(rejected_readings, simulation_truth)
    yield MaterializeResult(
        metadata={
            "faults": total.faults,
            "faults_caught": total.caught,
            "caught_share": total.caught_share,
            "good_readings": total.good,
            "good_refused": total.good_refused,
            "refused_good_share": total.refused_good_share,
            **estimate_scores(cleaned_readings, simulation_truth),
            **{f"missed/{k}": v for k, v in missed.items()},
        }
    )
    yield day_results(
        context,
        "cleaning_evaluation",
        "faults_caught",
        AssetCheckSeverity.WARN,
        {d: _caught(by_day.get(d, FaultCounts())) for d in days},
        {"caught_share": total.caught_share},
    )
    yield day_results(
        context,
        "cleaning_evaluation",
        "good_kept",
        AssetCheckSeverity.WARN,
        {d: _kept(by_day.get(d, FaultCounts())) for d in days},
        {"refused_good_share": total.refused_good_share},
    )


def _caught(c: FaultCounts) -> Verdict:
    return Verdict(
        c.caught_share >= CAUGHT_FLOOR,
        f"{c.caught:,} of {c.faults:,} injected faulty readings refused ({c.caught_share:.2%})",
        {"caught_share": c.caught_share},
    )


def _kept(c: FaultCounts) -> Verdict:
    return Verdict(
        c.refused_good_share <= REFUSED_GOOD_CEILING,
        f"{c.good_refused:,} of {c.good:,} good readings refused ({c.refused_good_share:.3%})",
        {"refused_good_share": c.refused_good_share},
    )
