"""Scoring the cleaning against the simulator's truth: the only readers of simulation_truth."""

from dataclasses import astuple, dataclass
from functools import reduce

from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from energy_assets.assets.verdicts import Verdict, day_check, day_results
from energy_assets.cleaning.estimation import HISTORY_DAYS
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
#: How much lower the estimates' MAE must be than the best simple way's, in every gap length,
#: where the house has its whole history: what the season grid holds in every cell on its own
#: few hundred gaps (least 12 %), which a run's few hundred cannot tell apart from a draw above
#: this. On thousands (the grid at --gap-rate 0.3) every cell holds 20 % (README, models).
ESTIMATE_GAIN_FLOOR = 0.10
#: Intervals compared in a gap length before it is judged: fewer say little (a week of 100
#: houses has about 300 intervals of gaps up to an hour).
ESTIMATE_MIN_COMPARED = 100
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
    counted = {
        "faults": faults,
        "caught": faults.join(rej_keys, KEY, "left_semi"),
        "refused_good": rejected.join(faults.select(*KEY), KEY, "left_anti"),
        "raw": raw,
        "faulty": truth.where(F.col("kind").isin(*REFUSABLE)),
    }
    # One query for the five counts: each of its own costs a small run more in starting its
    # jobs than in counting.
    tagged = [frame.select("day", F.lit(name).alias("_what")) for name, frame in counted.items()]
    rows = reduce(DataFrame.unionByName, tagged).groupBy("_what", "day").count().collect()
    per_day = {name: {} for name in counted}
    for r in rows:
        per_day[r["_what"]][str(r["day"])] = r["count"]
    return {
        d: FaultCounts(
            per_day["faults"].get(d, 0),
            per_day["caught"].get(d, 0),
            n - per_day["faulty"].get(d, 0),
            per_day["refused_good"].get(d, 0),
        )
        for d, n in per_day["raw"].items()
    }


#: Gap lengths the estimates are scored by: (label, longest minutes).
GAP_LENGTHS = (("<= 1 h", 60), ("1-3 h", 180), ("> 3 h", None))
#: The simple ways the estimates are judged against, beside ours (columns of gap_estimates).
ESTIMATORS = {
    "ours": "estimate_kwh",
    "linear": "linear_kwh",
    "week_earlier": "week_earlier_kwh",
    "profile_scaled": "profile_scaled_kwh",
}


def gap_length(minutes: F.Column) -> F.Column:
    """The gap-length bucket (:data:`GAP_LENGTHS`) of a gap of ``minutes``."""
    bucket = F.lit(GAP_LENGTHS[-1][0])
    for label, longest in reversed(GAP_LENGTHS[:-1]):
        bucket = F.when(minutes <= longest, F.lit(label)).otherwise(bucket)
    return bucket


def estimate_scores(gap_estimates: DataFrame, truth: DataFrame) -> dict:
    """The estimates' error against the gaps' true values: over all, by method, and by gap
    length beside the simple ways on the intervals every way could estimate."""
    return _score_metadata(estimate_rows(gap_estimates, truth))


def estimate_rows(gap_estimates: DataFrame, truth: DataFrame) -> list[dict]:
    """Sums of the estimates' errors per day, gap length, method and whether the house had its
    whole history (``full_history``): one query, from which every score is a sum of rows."""
    gaps = truth.where(F.col("kind") == "gap").select(
        "house_id", "simulated_timestamp", F.col("true_value").alias("truth")
    )
    scored = gap_estimates.join(gaps, ["house_id", "simulated_timestamp"]).select(
        "*",
        gap_length(F.col("gap_minutes")).alias("gap_length"),
        (F.col("history_days") >= HISTORY_DAYS).alias("full_history"),
    )
    error = {name: F.abs(F.col(col) - F.col("truth")) for name, col in ESTIMATORS.items()}
    every_way = F.lit(True)
    for col in ESTIMATORS.values():
        every_way = every_way & F.col(col).isNotNull()
    rows = (
        scored.groupBy("day", "gap_length", "method", "full_history")
        .agg(
            F.count("*").alias("n"),
            F.sum(error["ours"]).alias("error_ours"),
            F.sum("truth").alias("truth"),
            F.sum(every_way.cast("int")).alias("compared"),
            *[F.sum(F.when(every_way, e)).alias(f"compared_{n}") for n, e in error.items()],
        )
        .collect()
    )
    return [r.asDict() for r in rows]


@dataclass(frozen=True)
class LengthScore:
    """The estimates of one gap length on the intervals every way could estimate."""

    compared: int
    mae: dict[str, float]  # by ESTIMATORS name

    @property
    def gain(self) -> float:
        """How much lower our MAE is than the best simple way's (1 - ours / best)."""
        best = min(v for e, v in self.mae.items() if e != "ours")
        return 1 - self.mae["ours"] / best if best else 0.0


def length_scores(rows: list[dict]) -> dict[str, LengthScore]:
    """Per gap length with any interval compared, its :class:`LengthScore` from summed rows."""
    scores = {}
    for label, _ in GAP_LENGTHS:
        of_length = [r for r in rows if r["gap_length"] == label]
        compared = sum(r["compared"] for r in of_length)
        if compared:
            mae = {
                e: sum(r[f"compared_{e}"] or 0.0 for r in of_length) / compared for e in ESTIMATORS
            }
            scores[label] = LengthScore(compared, mae)
    return scores


def _score_metadata(rows: list[dict]) -> dict:
    """Metadata of the estimates' scores from :func:`estimate_rows`' sums."""
    n = sum(r["n"] for r in rows)
    metadata = {
        "estimated_scored": n,
        "estimate_mae_kwh": sum(r["error_ours"] for r in rows) / n if n else 0.0,
        "estimate_mean_true_kwh": sum(r["truth"] for r in rows) / n if n else 0.0,
    }
    for method in sorted({r["method"] for r in rows}):
        metadata[f"estimated_scored/{method}"] = sum(r["n"] for r in rows if r["method"] == method)
    table = [
        "| gap length | intervals compared | "
        + " | ".join(ESTIMATORS)
        + " | ours vs best simple way |"
    ]
    table.append("|---" * (len(ESTIMATORS) + 3) + "|")
    scores = length_scores(rows)
    for label, _ in GAP_LENGTHS:
        if label not in scores:
            table.append(f"| {label} | 0 |" + " |" * (len(ESTIMATORS) + 1))
            continue
        score = scores[label]
        for e, v in score.mae.items():
            metadata[f"estimate_mae/{label}/{e}"] = v
        metadata[f"estimate_gain/{label}"] = score.gain
        cells = " | ".join(f"{v:.4f}" for v in score.mae.values())
        table.append(f"| {label} | {score.compared:,} | {cells} | {score.gain:+.0%} |")
    metadata["estimate_mae_by_gap_length"] = MetadataValue.md(
        "MAE (kWh) against the truth, on the injected gaps every way could estimate:\n\n"
        + "\n".join(table)
    )
    return metadata


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
        day_check(
            "estimates_beat_simple_ways",
            "cleaning_evaluation",
            f"the gap estimates' MAE at least {ESTIMATE_GAIN_FLOOR:.0%} below the best of linear "
            "interpolation, the same interval a week earlier and the typical day scaled, in "
            f"every gap length with {ESTIMATE_MIN_COMPARED}+ intervals compared, pooled over the "
            f"run's injected gaps in houses with {HISTORY_DAYS} days of history; days without "
            "such gaps are not judged (simulated data only: not run on landed data, which has "
            "no injected truth)",
        ),
    ],
)
def cleaning_evaluation(
    context: AssetExecutionContext,
    raw_readings: DataFrame,
    rejected_readings: DataFrame,
    gap_estimates: DataFrame,
    simulation_truth: DataFrame,
):
    """How well the cleaning did, scored against what the simulator injected."""
    days = context.partition_keys
    by_day = fault_counts_by_day(raw_readings, rejected_readings, simulation_truth)
    total = sum(by_day.values(), FaultCounts())
    missed = missed_by_kind(rejected_readings, simulation_truth)
    estimates = estimate_rows(gap_estimates, simulation_truth)
    yield MaterializeResult(
        metadata={
            "faults": total.faults,
            "faults_caught": total.caught,
            "caught_share": total.caught_share,
            "good_readings": total.good,
            "good_refused": total.good_refused,
            "refused_good_share": total.refused_good_share,
            **_score_metadata(estimates),
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
    yield day_results(
        context,
        "cleaning_evaluation",
        "estimates_beat_simple_ways",
        AssetCheckSeverity.WARN,
        _estimates_verdicts(estimates, days),
        {"gain_floor": ESTIMATE_GAIN_FLOOR},
    )


def _estimates_verdicts(rows: list[dict], days: list[str]) -> dict[str, Verdict]:
    """The estimates against the simple ways, pooled over the run's gaps in houses with their
    whole history, on each day that has such gaps; the others not judged."""
    full = [r for r in rows if r["full_history"]]
    judged_days = {str(r["day"]) for r in full if r["compared"]}
    gains = {
        label: score.gain
        for label, score in length_scores(full).items()
        if score.compared >= ESTIMATE_MIN_COMPARED
    }
    if not gains:
        judged_days = set()
    ok = all(g >= ESTIMATE_GAIN_FLOOR for g in gains.values())
    pooled = Verdict(
        ok,
        "estimates' MAE below the best simple way's by "
        + ", ".join(f"{g:+.0%} ({label})" for label, g in gains.items())
        + f" ({'at least' if ok else 'not all at least'} {ESTIMATE_GAIN_FLOOR:.0%})",
        {f"gain/{label}": g for label, g in gains.items()},
    )
    waiting = Verdict(
        False,
        f"not judged: the run has fewer than {ESTIMATE_MIN_COMPARED} estimated intervals of "
        f"every gap length in houses with {HISTORY_DAYS} days of history, or none on this day",
        judged=False,
    )
    return {d: pooled if d in judged_days else waiting for d in days}


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
