"""Validation, estimation and editing (VEE) of raw readings, as Spark DataFrame expressions.

``classify`` gives every raw row its fate in one pass (one sort per house-day): a reject
reason, or kept with quality flags. ``estimate_gaps`` adds interpolated readings for short gaps.
``cleaned`` and ``rejected`` cut the two outputs. No Python UDF anywhere.

The raw text of the values is parsed once, before the shuffle, and does not travel through the
window operators (carrying three strings through them cost a third of the cleaning's time): a
row keeps its identity in the raw files instead, and ``rejected`` takes the refused rows' text
from the raw files by that identity.
"""

from __future__ import annotations

import datetime as dt

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.window import WindowSpec

from energy_assets.calendar import local_day
from energy_assets.calendar_spark import day_end, day_start, local_date
from energy_assets.calendar_spark import epoch_seconds as _epoch
from energy_assets.cleaning.estimation import (
    LONGEST_DAY_MINUTES,
    chosen_estimate,
    slot_minutes,
    with_history_estimates,
    without_history,
)
from energy_assets.cleaning.rules import VALUES, CleaningParams, parsed_values, row_reason

RAW_COLUMNS = ("house_id", "simulated_timestamp", "ingested_at", *VALUES)
REJECTED_COLUMNS = (*RAW_COLUMNS, "reason")


def _same(a: Column, b: Column) -> Column:
    return a.eqNullSafe(b)


def _with_identity(raw: DataFrame) -> DataFrame:
    """``raw`` with ``_file`` and ``_row``: which raw file a row comes from and where in it.

    A file scan has Spark's ``_metadata`` (the file and the row's index in it, stable however
    the scan is split); any other frame (tests build them in memory) is numbered by
    ``monotonically_increasing_id``, which is stable for a frame evaluated twice unshuffled.
    """
    try:
        ident = [
            F.xxhash64(F.col("_metadata.file_path")).alias("_file"),
            F.col("_metadata.row_index").alias("_row"),
        ]
        return raw.select("*", *ident)
    except AnalysisException:
        return raw.select(
            "*", F.lit(0).cast("long").alias("_file"), F.monotonically_increasing_id().alias("_row")
        )


def _day(raw: DataFrame, timezone: str) -> Column:
    """The local day of each raw row: its day folder, or its interval's local date."""
    if "day" in raw.columns:
        return F.col("day")
    return local_date(F.col("simulated_timestamp"), timezone)


def _raw_text_hash(names: tuple[str, ...]) -> Column:
    """One 64-bit hash of the raw text of ``names``; a null and an empty text hash apart."""
    parts = []
    for name in names:
        parts += [F.col(name), F.col(name).isNull()]
    return F.xxhash64(*parts)


def _house_day_order() -> WindowSpec:
    """The one order of every window over a house-day's rows: by interval, latest delivery
    first; deliveries of an interval that share a time of ingestion, the smaller values first,
    then by the text's hash, so that identical copies lie next to each other."""
    tie = [F.desc("ingested_at"), *[F.col(f"_{v}") for v in VALUES], F.col("_text")]
    return Window.partitionBy("house_id", "day").orderBy(F.col("simulated_timestamp"), *tie)


def classify(raw: DataFrame, params: CleaningParams) -> DataFrame:
    """Every raw row with ``reason`` (null when kept), parsed values and flags.

    One sort per house-day, whatever the size: every window orders a house-day's rows the same
    way (:func:`_house_day_order`), and frames only look back or take the whole day (Spark
    evaluates "unbounded following" frames row by row). The neighbours of the kept readings,
    which the gap estimates need, are not carried here: :func:`kept_neighbours` finds them over
    the kept readings alone.
    """
    df = _with_stuck_meters(_with_duplicates(_parsed(raw, params)), params)
    late = (_epoch(F.col("ingested_at")) - _epoch(F.col("simulated_timestamp"))) > (
        (params.interval_minutes + params.late_after_minutes) * 60
    )
    # Only what the outputs read: the classified frame is cached, so every column costs (the
    # flags as two booleans, not their mostly empty text, whose string column the cache's
    # statistics went through value by value: cleaned() spells them out).
    return df.select(
        "house_id",
        "simulated_timestamp",
        "ingested_at",
        "day",
        *[f"_{v}" for v in VALUES],
        "reason",
        "_conflict",
        late.alias("_late"),
        "_file",
        "_row",
    )


def _parsed(raw: DataFrame, params: CleaningParams) -> DataFrame:
    """The row rules and parsing on the raw text: after this only numbers and the text's hash
    go on, so the shuffle and the window operators move no text but the house id."""
    return _with_identity(raw).select(
        "house_id",
        "simulated_timestamp",
        "ingested_at",
        _day(raw, params.timezone).alias("day"),
        "_file",
        "_row",
        *parsed_values(),
        row_reason(params).alias("reason"),
        _raw_text_hash(VALUES).alias("_text"),
    )


def _with_duplicates(df: DataFrame) -> DataFrame:
    """Valid deliveries of an interval already delivered refused as duplicates (identical, or
    superseded by a later delivery), and the kept one flagged where they disagreed
    (``_conflict``)."""
    valid = F.col("reason").isNull()
    kwh, ts = F.col("_consumption_kwh"), F.col("simulated_timestamp")
    by_day = _house_day_order()
    before = by_day.rowsBetween(Window.unboundedPreceding, -1)
    # Identical: same interval, same ingestion, same raw text (by its 64-bit hash), and just
    # before in the order. A duplicate: an earlier row in the order with the same interval.
    identical = ts == F.lag("simulated_timestamp").over(by_day)
    for name in ("ingested_at", "_text"):
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
    return (
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


def _with_stuck_meters(df: DataFrame, params: CleaningParams) -> DataFrame:
    """Kept readings in a run of one consumption value ``stuck_run`` long refused as a stuck
    meter (all but the run's first).

    A kept reading's place in its run is the kept readings since the run's first; a run is
    stuck once one of its readings lies ``stuck_run`` places in. The day's stuck runs are
    gathered over the whole day in the same order, so no second sort (by run) is needed.
    """
    kept, kwh = F.col("reason").isNull(), F.col("_consumption_kwh")
    by_day = _house_day_order()
    before = by_day.rowsBetween(Window.unboundedPreceding, -1)
    upto = by_day.rowsBetween(Window.unboundedPreceding, 0)
    prev_kwh = F.last(F.when(kept, kwh), ignorenulls=True).over(before)
    df = df.select(
        "*",
        (kept & (prev_kwh.isNull() | (prev_kwh != kwh))).alias("_new_run"),
        F.sum(kept.cast("int")).over(upto).alias("_kept_index"),
    )
    run_start = F.last(F.when(F.col("_new_run"), F.col("_kept_index")), True).over(upto)
    df = df.select(
        *[c for c in df.columns if c != "_kept_index"],
        F.sum(F.col("_new_run").cast("int")).over(upto).alias("_run"),
        (F.col("_kept_index") - run_start).alias("_in_run"),
    )
    whole_day = by_day.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    in_a_long_run = kept & (F.col("_in_run") >= params.stuck_run)
    stuck_runs = F.collect_set(F.when(in_a_long_run, F.col("_run"))).over(whole_day)
    stuck = kept & (F.col("_in_run") >= 1) & F.array_contains(stuck_runs, F.col("_run"))
    return df.select(
        *[c for c in df.columns if c != "reason"],
        F.when(stuck, F.lit("stuck_meter")).otherwise(F.col("reason")).alias("reason"),
    )


def quality_flags() -> Column:
    """A kept reading's flags as ``cleaned_readings`` stores them, from ``classify``'s columns."""
    return F.concat_ws(
        ",",
        F.when(F.col("_conflict"), F.lit("conflict_resolved")),
        F.when(F.col("_late"), F.lit("late_delivery")),
    )


def kept_neighbours(classified: DataFrame) -> DataFrame:
    """The kept readings, each with the kept reading before it (``_prev...``) and whether it is
    the day's last kept one (``_last_kept``).

    Only the kept readings' time and values go through this window: a kept reading's interval
    is its own (duplicates are refused), so time orders them, and the classified rows already
    lie in that order by house-day, so Spark neither shuffles nor sorts them again.
    """
    ts = F.col("simulated_timestamp")
    in_time = Window.partitionBy("house_id", "day").orderBy(ts)
    kept = classified.where(F.col("reason").isNull()).select(
        "house_id", "day", ts, *[f"_{v}" for v in VALUES]
    )
    return kept.select(
        "*",
        F.lag(ts).over(in_time).alias("_prevsimulated_timestamp"),
        *[F.lag(f"_{v}").over(in_time).alias(f"_prev_{v}") for v in VALUES],
        F.lead(ts).over(in_time).isNull().alias("_last_kept"),
    )


def missing_intervals(
    classified: DataFrame, params: CleaningParams, longest_minutes: int
) -> DataFrame:
    """One row a missing interval of gaps up to ``longest_minutes``, with its linear estimate.

    Values are interpolated between the gap's measured neighbours (at a day's edge the nearest
    value is carried).
    """
    step = params.interval_minutes * 60
    kept = kept_neighbours(classified)
    ts = _epoch(F.col("simulated_timestamp"))
    start = day_start(F.col("day"), params.timezone)
    end = day_end(F.col("day"), params.timezone)
    prev_ts = _epoch(F.col("_prevsimulated_timestamp"))
    max_missing = longest_minutes // params.interval_minutes
    here = {v: F.col(f"_{v}") for v in VALUES}  # this reading's values
    has_previous = F.col("_prevsimulated_timestamp").isNotNull()

    def fits(missing: Column) -> Column:
        return (missing >= 1) & (missing <= max_missing)

    def gap(
        start: Column,
        missing: Column,
        a: dict[str, Column],
        b: dict[str, Column],
    ) -> Column:
        """A gap of ``missing`` intervals after ``start``, from values ``a`` to values ``b``;
        null when it is no gap to fill."""
        return F.when(
            fits(missing),
            F.struct(
                start.alias("_from"),
                missing.cast("int").alias("_n"),
                *[a[v].alias(f"_a_{v}") for v in VALUES],
                *[b[v].alias(f"_b_{v}") for v in VALUES],
            ),
        )

    # Before a kept reading: from the previous kept one, or, for the day's first, from the
    # start of the day carrying this value back.
    before_missing = F.when(has_previous, (ts - prev_ts) / step - 1).otherwise((ts - start) / step)
    before_values = {
        v: F.when(has_previous, F.col(f"_prev_{v}")).otherwise(here[v]) for v in VALUES
    }
    before = gap(
        F.when(has_previous, prev_ts).otherwise(start - step),
        before_missing,
        before_values,
        here,
    )
    # After the day's last kept reading: to the end of the day, carrying its value on.
    after_missing = F.when(F.col("_last_kept"), (end - ts) / step - 1).otherwise(F.lit(0.0))
    after = gap(ts, after_missing, here, here)
    # One pass over the kept readings (not one a kind of gap): the few next to a gap give it.
    gaps = (
        kept.where(fits(before_missing) | fits(after_missing))
        .select("house_id", "day", F.explode(F.array(before, after)).alias("_gap"))
        .where(F.col("_gap").isNotNull())
        .select("house_id", "day", "_gap.*")
    )
    k = F.explode(F.sequence(F.lit(1), F.col("_n"))).alias("_k")
    filled = gaps.select("*", k)
    frac = F.col("_k") / (F.col("_n") + 1)
    linear = {v: F.col(f"_a_{v}") + (F.col(f"_b_{v}") - F.col(f"_a_{v}")) * frac for v in VALUES}
    return filled.select(
        "house_id",
        "day",
        "_from",
        "_n",
        F.timestamp_seconds(F.col("_from") + F.col("_k") * step)
        .cast("timestamp_ntz")
        .alias("simulated_timestamp"),
        linear["consumption_kwh"].alias("linear_kwh"),
        linear["temperature"].alias("temperature"),
        linear["voltage"].alias("voltage"),
    )


def estimated(
    classified: DataFrame, params: CleaningParams, history: DataFrame | None = None
) -> DataFrame:
    """Every missing interval some method estimates, with each method's value and the one used.

    Without ``history`` (``load_shapes`` of the days before) gaps up to ``max_gap_minutes`` are
    interpolated; with it, gaps of a history slot or longer are estimated from the house's
    analogues (:mod:`energy_assets.cleaning.estimation`), still by interpolation where the
    house has too little history. A gap shorter than a slot (minutes at 1-minute readings, most
    of them a single refused reading) is interpolated: the history cannot see inside a slot.
    """
    if history is None:
        filled = missing_intervals(classified, params, params.max_gap_minutes)
        return chosen_estimate(without_history(filled), params)
    kept = classified.where(F.col("reason").isNull()).select(
        "house_id", "day", "simulated_timestamp", F.col("_consumption_kwh").alias("consumption_kwh")
    )
    # Computed once: the history's joins and the short gaps read the missing intervals three
    # times, and each reading would scan the classified readings again.
    filled = missing_intervals(classified, params, LONGEST_DAY_MINUTES).localCheckpoint()
    within_slot = F.col("_n") * params.interval_minutes < slot_minutes(params)
    short = without_history(filled.where(within_slot))
    long = with_history_estimates(filled.where(~within_slot), kept, history, params)
    return chosen_estimate(short.unionByName(long), params)


#: ``gap_estimates``: every estimated interval with the method used and the simple ways' values.
GAP_ESTIMATE_COLUMNS = (
    "house_id",
    "simulated_timestamp",
    "gap_minutes",
    "method",
    "estimate_kwh",
    "linear_kwh",
    "week_earlier_kwh",
    "profile_scaled_kwh",
    "analog_kwh",
    "history_days",
    "day",
)


def gap_estimates(estimates: DataFrame, params: CleaningParams) -> DataFrame:
    """The estimated intervals as ``gap_estimates`` stores them (``estimates``: :func:`estimated`)."""
    gap_minutes = (F.col("_n") * params.interval_minutes).alias("gap_minutes")
    return estimates.select(
        *[gap_minutes if c == "gap_minutes" else c for c in GAP_ESTIMATE_COLUMNS]
    )


def cleaned(
    classified: DataFrame, params: CleaningParams, estimates: DataFrame | None = None
) -> DataFrame:
    """Kept readings (parsed, flagged) plus the estimated ones (by default, interpolated)."""
    kept = classified.where(F.col("reason").isNull()).select(
        "house_id",
        "simulated_timestamp",
        "ingested_at",
        *[F.col(f"_{v}").alias(v) for v in VALUES],
        F.lit(False).alias("is_estimated"),
        quality_flags().alias("quality_flags"),
        "day",
    )
    if estimates is None:
        estimates = estimated(classified, params)
    return kept.unionByName(
        estimates.select(
            "house_id",
            "simulated_timestamp",
            F.lit(None).cast("timestamp_ntz").alias("ingested_at"),
            F.col("estimate_kwh").alias("consumption_kwh"),
            "temperature",
            "voltage",
            F.lit(True).alias("is_estimated"),
            F.lit("estimated").alias("quality_flags"),
            "day",
        )
    )


def rejected(raw: DataFrame, classified: DataFrame) -> DataFrame:
    """Refused readings with their raw values as delivered and the reason.

    The reasons (about 1 % of the rows: a row identity and a code each) are broadcast and the
    raw files scanned once more for those rows' text, which costs no shuffle.
    """
    reasons = classified.where(F.col("reason").isNotNull()).select(
        "_file", "_row", "reason", F.col("day").alias("_day")
    )
    return (
        _with_identity(raw)
        .join(F.broadcast(reasons), ["_file", "_row"])
        .select(*REJECTED_COLUMNS, F.col("_day").alias("day"))
    )


def house_day_counts(clean: DataFrame) -> DataFrame:
    """Readings, estimates and repeated keys per house-day, in one query over ``clean``.

    A reading repeats a key when another reading of its house has the same timestamp. The
    readings are spread by house-day once, then counted per key and per house-day in the same
    tasks by hash aggregates (Spark's bitmaps of distinct seconds, used before, have a binary
    buffer, which made a sort aggregate that sorted every reading: docs/scaling.md).
    """
    per_key = (
        clean.select("house_id", "day", "simulated_timestamp", "is_estimated")
        .repartition("house_id", "day")
        .groupBy("house_id", "day", "simulated_timestamp")
        .agg(F.count("*").alias("n"), F.sum(F.col("is_estimated").cast("int")).alias("est"))
    )
    return per_key.groupBy("house_id", "day").agg(
        F.sum("n").alias("n"),
        F.sum("est").alias("est"),
        F.sum(F.col("n") - 1).alias("repeated"),
    )


def expected_intervals(params: CleaningParams, day: dt.date) -> int:
    """Intervals a house should deliver on the local ``day`` (23, 24 or 25 hours)."""
    return local_day(day, params.timezone).intervals(params.interval_minutes)
