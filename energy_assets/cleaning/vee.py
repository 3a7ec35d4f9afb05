"""Validation, estimation and editing (VEE) of raw readings, as Spark DataFrame expressions.

``classify`` gives every raw row its fate in one pass (one sort per house-day): a reject reason,
or kept with quality flags. ``estimate_gaps`` adds interpolated readings for short gaps.
``cleaned`` and ``rejected`` cut the two outputs. No Python UDF anywhere.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from energy_assets.cleaning.rules import CleaningParams, parsed, row_reason

VALUES = ("consumption_kwh", "temperature", "voltage")
RAW_COLUMNS = ("house_id", "simulated_timestamp", "ingested_at", *VALUES)
CLEANED_COLUMNS = (
    "house_id",
    "simulated_timestamp",
    "ingested_at",
    "consumption_kwh",
    "temperature",
    "voltage",
    "is_estimated",
    "quality_flags",
)
REJECTED_COLUMNS = (*RAW_COLUMNS, "reason")


def _epoch(col: Column) -> Column:
    """Seconds since 1970 of a UTC timestamp (with or without zone; the session is UTC)."""
    return col.cast("timestamp").cast("long")


def _same(a: Column, b: Column) -> Column:
    return a.eqNullSafe(b)


def classify(raw: DataFrame, params: CleaningParams) -> DataFrame:
    """Every raw row with ``reason`` (null when kept), parsed values and flags."""
    day = F.col("day") if "day" in raw.columns else F.to_date("simulated_timestamp")
    df = raw.select(*RAW_COLUMNS, day.alias("day")).withColumn("reason", row_reason(params))
    for name in VALUES:
        df = df.withColumn(f"_{name}", parsed(name))
    valid = F.col("reason").isNull()

    # One ordering serves every window: by house-day, interval, latest delivery first.
    order = [F.col("simulated_timestamp"), F.desc("ingested_at"), *[F.col(v) for v in VALUES]]
    by_interval = Window.partitionBy("house_id", "day", "simulated_timestamp").orderBy(*order[1:])
    earlier = by_interval.rowsBetween(Window.unboundedPreceding, -1)
    identical = F.lit(True)
    for name in ("ingested_at", *VALUES):
        identical = identical & _same(F.col(name), F.lag(name).over(by_interval))
    valid_before = F.coalesce(F.sum(valid.cast("int")).over(earlier), F.lit(0)) > 0
    # Conflicting: valid deliveries of the interval disagree on the value.
    values_in_interval = F.size(
        F.collect_set(F.when(valid, F.col("_consumption_kwh"))).over(
            by_interval.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
        )
    )
    df = (
        df.select(
            "*",
            F.when(valid & F.coalesce(identical, F.lit(False)), F.lit("duplicate_identical"))
            .when(valid & valid_before, F.lit("duplicate_superseded"))
            .otherwise(F.col("reason"))
            .alias("_reason"),
            (values_in_interval > 1).alias("_conflict"),
        )
        .drop("reason")
        .withColumnRenamed("_reason", "reason")
    )

    # Stuck meters: runs of one consumption value over the kept readings of a house-day.
    by_day = Window.partitionBy("house_id", "day").orderBy(*order)
    kept = F.col("reason").isNull()
    before = by_day.rowsBetween(Window.unboundedPreceding, -1)
    upto = by_day.rowsBetween(Window.unboundedPreceding, 0)
    after = by_day.rowsBetween(1, Window.unboundedFollowing)
    kwh = F.col("_consumption_kwh")
    df = df.withColumn("_prev_kwh", F.last(F.when(kept, kwh), ignorenulls=True).over(before))
    df = df.withColumn("_kept_idx", F.sum(kept.cast("int")).over(upto))
    new_run = kept & (F.col("_prev_kwh").isNull() | (F.col("_prev_kwh") != kwh))
    df = df.withColumn("_run_start", F.last(F.when(new_run, F.col("_kept_idx")), True).over(upto))
    df = df.withColumn(
        "_next_start", F.first(F.when(new_run, F.col("_kept_idx")), True).over(after)
    )
    total_kept = F.sum(kept.cast("int")).over(
        by_day.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    run_len = F.coalesce(F.col("_next_start"), total_kept + 1) - F.col("_run_start")
    stuck = kept & (F.col("_kept_idx") > F.col("_run_start")) & (run_len >= params.stuck_run + 1)
    df = df.withColumn("reason", F.when(stuck, F.lit("stuck_meter")).otherwise(F.col("reason")))

    # Neighbours among the readings finally kept, for gap estimation.
    kept = F.col("reason").isNull()
    for name in ("simulated_timestamp", *[f"_{v}" for v in VALUES]):
        df = df.withColumn(f"_prev{name}", F.last(F.when(kept, F.col(name)), True).over(before))
    df = df.withColumn(
        "_next_ts", F.first(F.when(kept, F.col("simulated_timestamp")), True).over(after)
    )
    late = (_epoch(F.col("ingested_at")) - _epoch(F.col("simulated_timestamp"))) > (
        (params.interval_minutes + params.late_after_minutes) * 60
    )
    flags = F.concat_ws(
        ",",
        F.when(F.col("_conflict"), F.lit("conflict_resolved")),
        F.when(late, F.lit("late_delivery")),
    )
    return df.withColumn("quality_flags", flags)


def estimate_gaps(classified: DataFrame, params: CleaningParams) -> DataFrame:
    """Interpolated readings for gaps up to ``max_gap_minutes`` (edges carry the nearest value)."""
    step = params.interval_minutes * 60
    kept = classified.where(F.col("reason").isNull())
    ts = _epoch(F.col("simulated_timestamp"))
    day_start = _epoch(F.col("day").cast("timestamp"))
    prev_ts = _epoch(F.col("_prevsimulated_timestamp"))
    max_missing = params.max_gap_minutes // params.interval_minutes
    inner_missing = ((ts - prev_ts) / step - 1).cast("int")
    lead_missing = ((ts - day_start) / step).cast("int")
    day_end = day_start + 86400
    trail_missing = ((day_end - ts) / step - 1).cast("int")
    pieces = []
    # Inside a day: between the previous kept reading and this one.
    inner = (
        kept.where(F.col("_prevsimulated_timestamp").isNotNull())
        .where((inner_missing >= 1) & (inner_missing <= max_missing))
        .select(
            "house_id",
            "day",
            prev_ts.alias("_from"),
            inner_missing.alias("_n"),
            *[F.col(f"_prev_{v}").alias(f"_a_{v}") for v in VALUES],
            *[F.col(f"_{v}").alias(f"_b_{v}") for v in VALUES],
        )
    )
    pieces.append(inner)
    # Before the first kept reading of the day, and after the last: carry the nearest value.
    lead = (
        kept.where(F.col("_prevsimulated_timestamp").isNull())
        .where((lead_missing >= 1) & (lead_missing <= max_missing))
        .select(
            "house_id",
            "day",
            (day_start - step).alias("_from"),
            lead_missing.alias("_n"),
            *[F.col(f"_{v}").alias(f"_a_{v}") for v in VALUES],
            *[F.col(f"_{v}").alias(f"_b_{v}") for v in VALUES],
        )
    )
    pieces.append(lead)
    trail = (
        kept.where(F.col("_next_ts").isNull())
        .where((trail_missing >= 1) & (trail_missing <= max_missing))
        .select(
            "house_id",
            "day",
            ts.alias("_from"),
            trail_missing.alias("_n"),
            *[F.col(f"_{v}").alias(f"_a_{v}") for v in VALUES],
            *[F.col(f"_{v}").alias(f"_b_{v}") for v in VALUES],
        )
    )
    pieces.append(trail)
    gaps = pieces[0].unionByName(pieces[1]).unionByName(pieces[2])
    k = F.explode(F.sequence(F.lit(1), F.col("_n"))).alias("_k")
    filled = gaps.select("*", k)
    frac = F.col("_k") / (F.col("_n") + 1)
    return filled.select(
        "house_id",
        F.timestamp_seconds(F.col("_from") + F.col("_k") * step)
        .cast("timestamp_ntz")
        .alias("simulated_timestamp"),
        F.lit(None).cast("timestamp_ntz").alias("ingested_at"),
        *[
            (F.col(f"_a_{v}") + (F.col(f"_b_{v}") - F.col(f"_a_{v}")) * frac).alias(v)
            for v in VALUES
        ],
        F.lit(True).alias("is_estimated"),
        F.lit("estimated").alias("quality_flags"),
        "day",
    )


def cleaned(classified: DataFrame, params: CleaningParams) -> DataFrame:
    """Kept readings (parsed, flagged) plus the estimated ones."""
    kept = classified.where(F.col("reason").isNull()).select(
        "house_id",
        "simulated_timestamp",
        "ingested_at",
        *[F.col(f"_{v}").alias(v) for v in VALUES],
        F.lit(False).alias("is_estimated"),
        "quality_flags",
        "day",
    )
    return kept.unionByName(estimate_gaps(classified, params))


def rejected(classified: DataFrame) -> DataFrame:
    """Refused readings with their raw values and the reason."""
    return classified.where(F.col("reason").isNotNull()).select(*REJECTED_COLUMNS, "day")


def expected_intervals(params: CleaningParams) -> int:
    """Intervals a house should deliver in a day."""
    return 1440 // params.interval_minutes
