"""Gap estimates from the house's own similar days, beside the simple ways, as Spark expressions.

A house's days repeat: the hours around a gap say which of its recent days the missing hours
resembled. ``similar_days`` takes the median, slot by slot, of the house's
:data:`SIMILAR_DAYS` days (of the :data:`HISTORY_DAYS` before) whose readings in the
:data:`CONTEXT_SLOTS` slots on either side of the gap were closest to today's, and blends it into
linear interpolation near the gap's edges, where the neighbouring readings know best. A median,
not a mean: an appliance's run on one similar day is not spread over the estimate, which is what
an estimate judged by its absolute error wants.

The same pass computes the three simple ways it is judged against: linear interpolation, the
same interval a week earlier, and the house's typical day scaled to the readings around the gap.

History comes from ``load_shapes``: per house and local day, the energy of each complete
15-minute slot of the readings that pass the row rules. It is built from every delivery that
passes them (not from the cleaned readings, which would make the cleaning depend on its own
choices), so a slot holding a duplicate delivery is left out rather than counted twice.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from energy_assets.calendar_spark import day_start
from energy_assets.calendar_spark import epoch_seconds as _epoch
from energy_assets.cleaning.rules import SET_RULES, CleaningParams

#: Days of a house's history a gap is estimated from.
HISTORY_DAYS = 28
#: Slots of history compared on each side of a gap: an hour at 15 minutes.
CONTEXT_SLOTS = 4
#: The closest days whose median is the estimate, and the fewest that make one.
SIMILAR_DAYS = 7
FEWEST_SIMILAR_DAYS = 5
#: Within this many minutes of a measured neighbour, the estimate leans on interpolation: its
#: weight falls by e each such step away from the gap's nearest measured edge.
EDGE_MINUTES = 15.0
SHAPE_SLOT_MINUTES = 15
GAP = ["house_id", "day", "_from"]


def slot_minutes(params: CleaningParams) -> int:
    """Minutes of a history slot: 15, or the interval when it is longer."""
    return max(SHAPE_SLOT_MINUTES, params.interval_minutes)


def intervals_per_slot(params: CleaningParams) -> int:
    """Readings that make a complete slot."""
    return slot_minutes(params) // params.interval_minutes


def slot_of(timestamp: Column, day: Column, params: CleaningParams) -> Column:
    """The slot of the local day an interval starts in, counted from the day's start."""
    elapsed = _epoch(timestamp) - day_start(day, params.timezone)
    return F.floor(elapsed / (slot_minutes(params) * 60)).cast("int")


#: Reasons of readings that pass the row rules and are refused as deliveries.
DELIVERY_REASONS = [r.code for r in SET_RULES]


def load_shapes(classified: DataFrame, params: CleaningParams) -> DataFrame:
    """Per house and local day, the energy of each complete slot of readings that pass the row
    rules (``house_id``, ``day``, ``slot``, ``kwh``), from ``classify``'s frame: its values are
    parsed, and its refused deliveries still say they passed the row rules."""
    reason = F.col("reason")
    valid = classified.where(reason.isNull() | reason.isin(*DELIVERY_REASONS))
    return (
        valid.groupBy(
            "house_id",
            "day",
            slot_of(F.col("simulated_timestamp"), F.col("day"), params).alias("slot"),
        )
        .agg(F.sum("_consumption_kwh").alias("kwh"), F.count("*").alias("_n"))
        .where(F.col("_n") == intervals_per_slot(params))
        .drop("_n")
    )


def _slot_energy(kept: DataFrame, gaps: DataFrame, params: CleaningParams) -> DataFrame:
    """Today's complete slots of the house-days with a gap, from the kept readings."""
    house_days = F.broadcast(gaps.select("house_id", "day").distinct())
    return (
        kept.join(house_days, ["house_id", "day"], "left_semi")
        .groupBy(
            "house_id",
            "day",
            slot_of(F.col("simulated_timestamp"), F.col("day"), params).alias("slot"),
        )
        .agg(F.sum("consumption_kwh").alias("today"), F.count("*").alias("_n"))
        .where(F.col("_n") == intervals_per_slot(params))
        .drop("_n")
    )


def _in_context(slot: Column) -> Column:
    s0, s1 = F.col("_s0"), F.col("_s1")
    return slot.between(s0 - CONTEXT_SLOTS, s0 - 1) | slot.between(s1 + 1, s1 + CONTEXT_SLOTS)


def with_history_estimates(
    filled: DataFrame, kept: DataFrame, history: DataFrame, params: CleaningParams
) -> DataFrame:
    """``filled`` (one row a missing interval, with ``linear_kwh``) with the history's estimates:
    ``similar_days_kwh``, ``week_earlier_kwh``, ``profile_scaled_kwh`` and ``history_days``."""
    per_slot = float(intervals_per_slot(params))
    filled = filled.select(
        "*", slot_of(F.col("simulated_timestamp"), F.col("day"), params).alias("slot")
    )
    gaps = filled.groupBy(*GAP).agg(F.min("slot").alias("_s0"), F.max("slot").alias("_s1"))
    # Every slot of a gap and of its context, with today's energy in the context's complete
    # slots; then each of them on every day of the history window, matched by equality (a
    # range join would pair every gap with every slot of its house's history).
    around = F.sequence(F.col("_s0") - CONTEXT_SLOTS, F.col("_s1") + CONTEXT_SLOTS)
    slots = gaps.select("*", F.explode(around).alias("slot"))
    today = _slot_energy(kept, gaps, params)
    slots = slots.join(today, ["house_id", "day", "slot"], "left").select(
        *GAP,
        "_s0",
        "_s1",
        "slot",
        F.when(_in_context(F.col("slot")), F.col("today")).alias("today"),
    )
    n_context = slots.groupBy(*GAP).agg(F.count("today").alias("_n_context"))
    back = F.explode(F.sequence(F.lit(1), F.lit(HISTORY_DAYS))).alias("_back")
    shapes = history.select(
        "house_id", F.col("day").alias("_hday"), "slot", F.col("kwh").cast("double").alias("kwh")
    )
    # The history's scan looks small on disk (Spark would broadcast it) and is not in memory;
    # the rows it meets are read four times below, so they are computed once.
    past = (
        slots.select("*", back)
        .select("*", F.date_sub("day", F.col("_back")).alias("_hday"))
        .drop("_back")
        .join(shapes.hint("merge"), ["house_id", "_hday", "slot"])
        .join(n_context, GAP)
        .localCheckpoint()
    )
    in_gap = F.col("slot").between(F.col("_s0"), F.col("_s1"))

    # A day is comparable when it has every context slot today has and a slot of the gap; the
    # closest ones are chosen.
    days = past.groupBy(*GAP, "_hday").agg(
        F.sum(F.abs(F.col("kwh") - F.col("today"))).alias("_distance"),
        F.count("today").alias("_matched"),
        F.first("_n_context").alias("_n_context"),
        F.max(in_gap.cast("int")).alias("_covers"),
    )
    comparable = days.where((F.col("_matched") == F.col("_n_context")) & (F.col("_covers") == 1))
    closest = Window.partitionBy(*GAP).orderBy(F.coalesce("_distance", F.lit(0.0)), F.desc("_hday"))
    chosen = (
        comparable.select(
            *GAP,
            "_hday",
            F.row_number().over(closest).alias("_rank"),
            F.count("*").over(Window.partitionBy(*GAP)).alias("_comparable"),
        )
        .where((F.col("_rank") <= SIMILAR_DAYS) & (F.col("_comparable") >= FEWEST_SIMILAR_DAYS))
        .drop("_rank", "_comparable")
    )
    similar = (
        past.where(in_gap)
        .join(chosen, [*GAP, "_hday"], "left_semi")
        .groupBy(*GAP, "slot")
        .agg(F.median("kwh").alias("_similar"))
    )
    # The simple ways: the typical day (the mean of the days before), scaled to the readings
    # around the gap, and the same slot a week earlier.
    typical = past.groupBy(*GAP, "slot").agg(
        F.avg("kwh").alias("_typical"), F.first("today", ignorenulls=True).alias("_today")
    )
    scale = (
        typical.where(F.col("_today").isNotNull())
        .groupBy(*GAP)
        .agg(F.try_divide(F.sum("_today"), F.sum("_typical")).alias("_scale"))
    )
    week = past.where(F.col("_hday") == F.date_sub("day", 7)).select(
        *GAP, "slot", F.col("kwh").alias("_week")
    )
    history_days = days.groupBy(*GAP).agg(F.count("*").alias("_history_days"))
    estimates = (
        filled.join(similar, [*GAP, "slot"], "left")
        .join(typical.drop("_today"), [*GAP, "slot"], "left")
        .join(scale, GAP, "left")
        .join(week, [*GAP, "slot"], "left")
        .join(history_days, GAP, "left")
    )
    # A slot's energy, spread evenly over its intervals.
    slot_energy = {
        "similar_days_kwh": F.col("_similar"),
        "week_earlier_kwh": F.col("_week"),
        "profile_scaled_kwh": F.col("_typical") * F.coalesce(F.col("_scale"), F.lit(1.0)),
    }
    return estimates.select(
        *[c for c in filled.columns if c != "slot"],
        *[(energy / per_slot).alias(name) for name, energy in slot_energy.items()],
        F.coalesce(F.col("_history_days"), F.lit(0)).alias("history_days"),
    )


def chosen_estimate(estimates: DataFrame, params: CleaningParams) -> DataFrame:
    """Each missing interval's estimate and the method that made it; intervals no method may
    estimate (a gap longer than ``max_gap_minutes`` without enough history) are dropped."""
    near_edge = F.exp(-F.col("_edge_minutes") / EDGE_MINUTES)
    weight = F.coalesce(near_edge, F.lit(0.0))
    has_similar = F.col("similar_days_kwh").isNotNull()
    blended = weight * F.col("linear_kwh") + (1 - weight) * F.col("similar_days_kwh")
    max_missing = params.max_gap_minutes // params.interval_minutes
    return estimates.select(
        "*",
        F.when(has_similar, blended).otherwise(F.col("linear_kwh")).alias("estimate_kwh"),
        F.when(has_similar, F.lit("similar_days")).otherwise(F.lit("linear")).alias("method"),
    ).where(has_similar | (F.col("_n") <= max_missing))


#: The history's estimates of a missing interval's energy, beside ``linear_kwh``.
HISTORY_ESTIMATES = ("similar_days_kwh", "week_earlier_kwh", "profile_scaled_kwh")


def without_history(filled: DataFrame) -> DataFrame:
    """``filled`` with the history's estimates left empty: linear interpolation only."""
    return filled.select(
        "*",
        *[F.lit(None).cast("double").alias(name) for name in HISTORY_ESTIMATES],
        F.lit(0).cast("long").alias("history_days"),
    )
