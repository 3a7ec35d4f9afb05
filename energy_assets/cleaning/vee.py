"""Validation, estimation and editing (VEE) of raw readings, as Spark DataFrame expressions.

``classify`` gives every raw row its fate in one pass (one sort per house-day): a reject reason,
or kept with quality flags. ``estimate_gaps`` adds interpolated readings for short gaps.
``cleaned`` and ``rejected`` cut the two outputs. No Python UDF anywhere.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from energy_assets.cleaning.rules import CleaningParams, parsing, row_reason

VALUES = ("consumption_kwh", "temperature", "voltage")
RAW_COLUMNS = ("house_id", "simulated_timestamp", "ingested_at", *VALUES)
REJECTED_COLUMNS = (*RAW_COLUMNS, "reason")


def _epoch(col: Column) -> Column:
    """Seconds since 1970 of a UTC timestamp (with or without zone; the session is UTC)."""
    return col.cast("timestamp").cast("long")


def _same(a: Column, b: Column) -> Column:
    return a.eqNullSafe(b)


def classify(raw: DataFrame, params: CleaningParams) -> DataFrame:
    """Every raw row with ``reason`` (null when kept), parsed values and flags.

    Two sorts per house-day, whatever the size: frames only look back (Spark evaluates
    "unbounded following" frames row by row), and the second window's order is chosen so that
    the third reuses it.
    """
    day = F.col("day") if "day" in raw.columns else F.to_date("simulated_timestamp")
    df = raw.select(*RAW_COLUMNS, day.alias("day"))
    for name in VALUES:
        df = df.withColumn(f"_{name}", parsing(name))
    df = df.withColumn("reason", row_reason(params))
    valid = F.col("reason").isNull()
    kwh = F.col("_consumption_kwh")
    ts = F.col("simulated_timestamp")

    # Sort 1: by house-day, interval, latest delivery first. Duplicates: an earlier row in this
    # order with the same interval. Identical: the row just before is the same delivery.
    tie = [F.desc("ingested_at"), *[F.col(v) for v in VALUES]]
    by_day = Window.partitionBy("house_id", "day").orderBy(ts, *tie)
    before = by_day.rowsBetween(Window.unboundedPreceding, -1)
    upto = by_day.rowsBetween(Window.unboundedPreceding, 0)
    identical = ts == F.lag("simulated_timestamp").over(by_day)
    for name in ("ingested_at", *VALUES):
        identical = identical & _same(F.col(name), F.lag(name).over(by_day))
    last_valid_ts = F.last(F.when(valid, ts), ignorenulls=True).over(before)
    # The kept delivery disagrees with the next valid one of its interval: a resolved conflict.
    nxt = F.lead("simulated_timestamp").over(by_day)
    conflict = (
        valid
        & (nxt == ts)
        & F.lead(valid).over(by_day)
        & ~_same(F.lead("_consumption_kwh").over(by_day), kwh)
    )
    df = (
        df.select(
            "*",
            F.when(valid & F.coalesce(identical, F.lit(False)), F.lit("duplicate_identical"))
            .when(
                valid & F.coalesce(last_valid_ts == ts, F.lit(False)), F.lit("duplicate_superseded")
            )
            .otherwise(F.col("reason"))
            .alias("_reason"),
            F.coalesce(conflict, F.lit(False)).alias("_conflict"),
        )
        .drop("reason")
        .withColumnRenamed("_reason", "reason")
    )

    # Stuck meters: runs of one consumption value over the kept readings, numbered in sort 1.
    # Independent window columns go in one select, so Spark evaluates them in one operator.
    kept = F.col("reason").isNull()
    prev_kwh = F.last(F.when(kept, kwh), ignorenulls=True).over(before)
    df = df.select("*", (kept & (prev_kwh.isNull() | (prev_kwh != kwh))).alias("_new_run"))
    df = df.select("*", F.sum(F.col("_new_run").cast("int")).over(upto).alias("_run"))
    # Sort 2: by run. Runs number rows in time order, so (run, time) is time order again and the
    # neighbour windows below reuse this sort.
    by_run = Window.partitionBy("house_id", "day", "_run").orderBy(ts, *tie)
    run_len = F.sum(kept.cast("int")).over(
        by_run.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    stuck = kept & ~F.col("_new_run") & (run_len >= params.stuck_run + 1)
    df = df.select(
        *[c for c in df.columns if c != "reason"],
        F.when(stuck, F.lit("stuck_meter")).otherwise(F.col("reason")).alias("reason"),
    )

    # Neighbours among the readings finally kept, for gap estimation.
    in_time = Window.partitionBy("house_id", "day").orderBy("_run", ts, *tie)
    kept = F.col("reason").isNull()
    previous = in_time.rowsBetween(Window.unboundedPreceding, -1)
    kept_idx = F.sum(kept.cast("int")).over(in_time.rowsBetween(Window.unboundedPreceding, 0))
    total_kept = F.sum(kept.cast("int")).over(
        in_time.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    df = df.select(
        "*",
        *[
            F.last(F.when(kept, F.col(name)), True).over(previous).alias(f"_prev{name}")
            for name in ("simulated_timestamp", *[f"_{v}" for v in VALUES])
        ],
        (kept & (kept_idx == total_kept)).alias("_last_kept"),
    )
    late = (_epoch(F.col("ingested_at")) - _epoch(ts)) > (
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
    day_end = day_start + 86400
    here = "_"  # this reading's values
    before = "_prev_"  # the previous kept reading's values

    def gaps_where(which: Column, start: Column, missing: Column, a: str, b: str) -> DataFrame:
        """Gaps of ``missing`` intervals after ``start``, from values ``a`` to values ``b``."""
        return (
            kept.where(which)
            .where((missing >= 1) & (missing <= max_missing))
            .select(
                "house_id",
                "day",
                start.alias("_from"),
                missing.cast("int").alias("_n"),
                *[F.col(f"{a}{v}").alias(f"_a_{v}") for v in VALUES],
                *[F.col(f"{b}{v}").alias(f"_b_{v}") for v in VALUES],
            )
        )

    has_previous = F.col("_prevsimulated_timestamp").isNotNull()
    gaps = (
        # Inside a day: between the previous kept reading and this one.
        gaps_where(has_previous, prev_ts, (ts - prev_ts) / step - 1, before, here)
        # Before the first kept reading of the day, and after the last: carry the nearest value.
        .unionByName(
            gaps_where(~has_previous, day_start - step, (ts - day_start) / step, here, here)
        )
        .unionByName(gaps_where(F.col("_last_kept"), ts, (day_end - ts) / step - 1, here, here))
    )
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


def house_day_counts(clean: DataFrame) -> DataFrame:
    """Readings, estimates and repeated keys per house-day, in one aggregate over ``clean``.

    A reading repeats a key when another reading of its house-day has the same second: the
    distinct seconds are counted with Spark's bitmaps (32,768 seconds a bucket, three buckets a
    day), so uniqueness costs no shuffle of the 100M keys of a week.
    """
    second = _epoch(F.col("simulated_timestamp")) - _epoch(F.col("day").cast("timestamp"))
    position = second + 1  # bitmap positions start at 1
    per_bucket = clean.groupBy("house_id", "day", F.bitmap_bucket_number(position).alias("_b")).agg(
        F.count("*").alias("n"),
        F.sum(F.col("is_estimated").cast("int")).alias("est"),
        F.bitmap_count(F.bitmap_construct_agg(F.bitmap_bit_position(position))).alias("seconds"),
    )
    return per_bucket.groupBy("house_id", "day").agg(
        F.sum("n").alias("n"),
        F.sum("est").alias("est"),
        F.sum(F.col("n") - F.col("seconds")).alias("repeated"),
    )


def expected_intervals(params: CleaningParams) -> int:
    """Intervals a house should deliver in a day."""
    return 1440 // params.interval_minutes
