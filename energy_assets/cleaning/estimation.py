"""Gap estimates from the house's own analogues, beside the simple ways, as Spark expressions.

A house repeats itself: the readings just around a gap say what was going on (a kettle
starting, the oven on, the night's standby), and the house's other moments that began and
ended the same way say what filled the missing interval. ``analog`` searches every window of
the gap's length in the house's :data:`HISTORY_DAYS` days before and in today's readings,
starting within :data:`ANALOG_REACH_MINUTES` of the gap, for those whose slots on either side
(:data:`ANALOG_CONTEXT_WEIGHTS`, the nearest counting most) were closest to today's, and takes
the weighted median of the :data:`ANALOGS` closest, slot by slot, each weighted by how close it
came (an analog ensemble). A median, not a mean: an appliance's run in one analogue is not
spread over the estimate, which is what an estimate judged by its absolute error wants. Other
hours, not only the same: a short gap is told by its neighbours more than by the clock (on
clean simulated days, the similar days of the same hours, the method before this one, were
11-17 % below interpolation on gaps up to an hour; the analogues 24-31 %).

The same pass computes the three simple ways it is judged against: linear interpolation, the
same interval a week earlier, and the house's typical day scaled to the readings around the gap.

History comes from ``load_shapes``: per house and local day, the energy of each complete
15-minute slot of the readings that pass the row rules. It is built from every delivery that
passes them (not from the cleaned readings, which would make the cleaning depend on its own
choices), so a slot holding a duplicate delivery is left out rather than counted twice.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from energy_assets.calendar_spark import day_start
from energy_assets.calendar_spark import epoch_seconds as _epoch
from energy_assets.cleaning.rules import SET_RULES, CleaningParams

#: Days of a house's history a gap is estimated from.
HISTORY_DAYS = 28
#: The weights of the slots compared on either side of a gap, nearest first: the slot next to
#: the gap says most about it, the one beyond it a third as much.
ANALOG_CONTEXT_WEIGHTS = (1.0, math.exp(-1.0))
#: How far from the gap's time of day an analogue may lie: four hours either way (the whole
#: day found 1-2 points more on gaps up to an hour, for three times the search).
ANALOG_REACH_MINUTES = 4 * 60
#: The closest analogues whose weighted median is the estimate, and the fewest that make one.
ANALOGS = 15
FEWEST_ANALOGS = 5
#: Days of history a house needs before its gaps are estimated from its analogues: a house
#: seen for a day or two has not shown what it does.
FEWEST_HISTORY_DAYS = 5
#: Slots on each side of a gap that scale the typical day (the simple way's own hour).
PROFILE_CONTEXT_SLOTS = 4
SHAPE_SLOT_MINUTES = 15
#: The longest local day (the autumn change of clocks): the length of a day's slot vector.
LONGEST_DAY_MINUTES = 25 * 60
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
    s0, s1, n = F.col("_s0"), F.col("_s1"), PROFILE_CONTEXT_SLOTS
    return slot.between(s0 - n, s0 - 1) | slot.between(s1 + 1, s1 + n)


def slots_a_day(params: CleaningParams) -> int:
    """Slots of the longest local day: the length of a day's slot vector."""
    return LONGEST_DAY_MINUTES // slot_minutes(params)


def day_vectors(shapes: DataFrame, value: str, params: CleaningParams) -> DataFrame:
    """Per house and day, the slots' energy as one array indexed by slot (``_v``), null where a
    slot is not complete: a window of slots is then a slice, and a shift an index.

    The day's slots, sorted, are laid out in one pass: each after as many nulls as slots were
    missing before it, the day's end padded. (A map from slot to energy, read slot by slot,
    searches its keys in order a hundred times a day: four times as long on a grid cell's days.)
    """
    entries = F.col("_e")
    missing = F.lit(None).cast("double")

    def after_missing(entry: Column, i: Column) -> Column:
        previous = F.when(i == 0, F.lit(-1)).otherwise(F.get(entries, i - 1)["slot"])
        return F.concat(
            F.array_repeat(missing, entry["slot"] - previous - 1),
            F.array(entry["kwh"].cast("double")),
        )

    laid_out = F.col("_laid")
    return (
        shapes.groupBy("house_id", "day")
        .agg(F.array_sort(F.collect_list(F.struct("slot", F.col(value).alias("kwh")))).alias("_e"))
        .select("house_id", "day", F.flatten(F.transform(entries, after_missing)).alias("_laid"))
        .select(
            "house_id",
            "day",
            F.concat(
                laid_out, F.array_repeat(missing, slots_a_day(params) - F.size(laid_out))
            ).alias("_v"),
        )
    )


def _sides() -> dict[str, Column]:
    """Today's slots either side of the gap (``_l1``, ``_l2``, ... before it, nearest first;
    ``_r1``, ... after it), from ``_today``: null where the day ends or a slot is not complete."""
    sides = {}
    for j in range(1, len(ANALOG_CONTEXT_WEIGHTS) + 1):
        sides[f"_l{j}"] = F.get(F.col("_today"), F.col("_s0") - j)
        sides[f"_r{j}"] = F.get(F.col("_today"), F.col("_s1") + j)
    return sides


def _distance(vector: Column, anchor: Column, length: Column) -> Column:
    """How far the window of ``length`` slots from ``anchor`` in ``vector`` began and ended from
    the gap's context; null when it lacks a slot the context has."""
    total = F.lit(0.0)
    for j, weight in enumerate(ANALOG_CONTEXT_WEIGHTS, start=1):
        for here, there in (
            (F.col(f"_l{j}"), F.get(vector, anchor - j)),
            (F.col(f"_r{j}"), F.get(vector, anchor + length - 1 + j)),
        ):
            total = total + F.when(here.isNull(), F.lit(0.0)).otherwise(
                weight * F.abs(there - here)
            )
    return total


def _closest_windows(candidates: DataFrame, params: CleaningParams) -> DataFrame:
    """Per gap and candidate day (``_v``), its :data:`ANALOGS` closest complete windows as rows
    (``_d`` distance, ``_vals`` the window's slots), searched in the array: no row a window."""
    vector, length = F.col("_v"), F.col("_s1") - F.col("_s0") + 1
    reach = ANALOG_REACH_MINUTES // slot_minutes(params)
    anchors = F.sequence(
        F.greatest(F.lit(0), F.col("_s0") - reach),
        F.least(F.lit(slots_a_day(params)) - length, F.col("_s0") + reach),
    )
    windows = F.transform(
        anchors, lambda t: F.struct(_distance(vector, t, length).alias("d"), t.alias("t"))
    )

    def complete(w: Column) -> Column:
        inside = F.slice(vector, w["t"] + 1, length)
        return w["d"].isNotNull() & F.forall(inside, lambda x: x.isNotNull())

    closest = F.slice(F.array_sort(F.filter(windows, complete)), 1, ANALOGS)
    with_values = F.transform(
        closest,
        lambda w: F.struct(w["d"].alias("_d"), F.slice(vector, w["t"] + 1, length).alias("_vals")),
    )
    return candidates.select(*GAP, "_s0", "_back", F.explode(with_values).alias("_w")).select(
        *GAP, "_s0", "_back", "_w._d", "_w._vals"
    )


def with_today(gaps: DataFrame, today: DataFrame, params: CleaningParams) -> DataFrame:
    """The gaps (``GAP``, ``_s0``, ``_s1``) with today's slot vector (``_today``, null on a day
    without a complete slot) and its slots either side of the gap (:func:`_sides`)."""
    today_vectors = day_vectors(today, "today", params).withColumnRenamed("_v", "_today")
    return gaps.join(today_vectors, ["house_id", "day"], "left").select(
        "*", *[c.alias(name) for name, c in _sides().items()]
    )


def gaps_in_history(around: DataFrame, history: DataFrame, params: CleaningParams) -> DataFrame:
    """Each gap of ``around`` (:func:`with_today`) once for each of the house's history days
    before it that ``history`` (``load_shapes``) holds: ``_back`` days back, ``_v`` its slots."""
    past = day_vectors(history, "kwh", params).withColumnRenamed("day", "_hday")
    back = F.explode(F.sequence(F.lit(1), F.lit(HISTORY_DAYS))).alias("_back")
    return (
        around.select("*", back)
        .select("*", F.date_sub("day", F.col("_back")).alias("_hday"))
        .join(past, ["house_id", "_hday"])
    )


def analogues(
    around: DataFrame, earlier: DataFrame, history_days: DataFrame, params: CleaningParams
) -> DataFrame:
    """Per gap and slot, the weighted median of its analogues (``_analog``): the house's
    closest windows in its history days (``earlier``: :func:`gaps_in_history`) and today
    (``around``), for gaps with :data:`FEWEST_HISTORY_DAYS` of history (``history_days``,
    ``_history_days`` a gap) and a context to match."""
    known = sum((F.col(name).isNotNull().cast("int") for name in _sides()), F.lit(0))
    enough = history_days.where(F.col("_history_days") >= FEWEST_HISTORY_DAYS)
    today = around.select(
        "*", F.lit(0).alias("_back"), F.col("day").alias("_hday"), F.col("_today").alias("_v")
    )
    candidates = earlier.unionByName(today).where(known > 0).join(enough, GAP, "left_semi")
    windows = _closest_windows(candidates, params)
    # The closest of all days; ties go to the nearer day. Each weighs by how close it came,
    # against the chosen ones' mean distance (all alike when they all matched exactly).
    rank = Window.partitionBy(*GAP).orderBy("_d", "_back")
    gap_wide = Window.partitionBy(*GAP)
    chosen = (
        windows.select("*", F.row_number().over(rank).alias("_rank"))
        .where(F.col("_rank") <= ANALOGS)
        .select(
            "*",
            F.count("*").over(gap_wide).alias("_found"),
            F.avg("_d").over(gap_wide).alias("_bw"),
        )
        .where(F.col("_found") >= FEWEST_ANALOGS)
        .select(
            *GAP,
            "_s0",
            F.exp(-F.col("_d") / (F.col("_bw") + 1e-9)).alias("_w"),
            F.posexplode("_vals").alias("_pos", "_val"),
        )
    )
    return weighted_median(
        chosen.select(*GAP, (F.col("_s0") + F.col("_pos")).alias("slot"), "_w", "_val")
    )


def weighted_median(values: DataFrame) -> DataFrame:
    """Per gap and slot, the smallest ``_val`` whose cumulative weight ``_w`` reaches half the
    slot's total (``_analog``)."""
    key = [*GAP, "slot"]
    in_order = (
        Window.partitionBy(*key)
        .orderBy("_val")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return (
        values.select(
            *key,
            "_val",
            F.sum("_w").over(in_order).alias("_cum"),
            F.sum("_w").over(Window.partitionBy(*key)).alias("_total"),
        )
        .where(F.col("_cum") >= F.col("_total") / 2)
        .groupBy(*key)
        .agg(F.min("_val").alias("_analog"))
    )


def with_history_estimates(
    filled: DataFrame, kept: DataFrame, history: DataFrame, params: CleaningParams
) -> DataFrame:
    """``filled`` (one row a missing interval, with ``linear_kwh``) with the history's estimates:
    ``analog_kwh``, ``week_earlier_kwh``, ``profile_scaled_kwh`` and ``history_days``."""
    per_slot = float(intervals_per_slot(params))
    filled = filled.select(
        "*", slot_of(F.col("simulated_timestamp"), F.col("day"), params).alias("slot")
    )
    gaps = filled.groupBy(*GAP).agg(F.min("slot").alias("_s0"), F.max("slot").alias("_s1"))
    around = with_today(gaps, _slot_energy(kept, gaps, params), params)
    # Read three times below (the days of history, the analogues, the simple ways): computed
    # once, as the history's scan would be read again each time.
    earlier = gaps_in_history(around, history, params).localCheckpoint()
    history_days = earlier.groupBy(*GAP).agg(F.count("*").alias("_history_days"))
    analog = analogues(around, earlier, history_days, params)
    # The simple ways, from the same days: the typical day (the mean of the days before) over
    # the gap and its hour either side, scaled to today's readings there; the slot a week back.
    reach = PROFILE_CONTEXT_SLOTS
    slot = F.col("slot")
    past = earlier.select(
        *GAP,
        "_s0",
        "_s1",
        "_back",
        "_v",
        "_today",
        F.explode(F.sequence(F.col("_s0") - reach, F.col("_s1") + reach)).alias("slot"),
    ).select(
        *GAP,
        "_back",
        "slot",
        F.get(F.col("_v"), slot).alias("kwh"),
        F.when(_in_context(slot), F.get(F.col("_today"), slot)).alias("today"),
    )
    past = past.where(F.col("kwh").isNotNull())
    typical = past.groupBy(*GAP, "slot").agg(
        F.avg("kwh").alias("_typical"), F.first("today", ignorenulls=True).alias("_today")
    )
    scale = (
        typical.where(F.col("_today").isNotNull())
        .groupBy(*GAP)
        .agg(F.try_divide(F.sum("_today"), F.sum("_typical")).alias("_scale"))
    )
    week = past.where(F.col("_back") == 7).select(*GAP, "slot", F.col("kwh").alias("_week"))
    estimates = (
        filled.join(analog, [*GAP, "slot"], "left")
        .join(typical.drop("_today"), [*GAP, "slot"], "left")
        .join(scale, GAP, "left")
        .join(week, [*GAP, "slot"], "left")
        .join(history_days, GAP, "left")
    )
    # A slot's energy, spread evenly over its intervals.
    slot_energy = {
        "analog_kwh": F.col("_analog"),
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
    has_analog = F.col("analog_kwh").isNotNull()
    max_missing = params.max_gap_minutes // params.interval_minutes
    return estimates.select(
        "*",
        F.coalesce(F.col("analog_kwh"), F.col("linear_kwh")).alias("estimate_kwh"),
        F.when(has_analog, F.lit("analog")).otherwise(F.lit("linear")).alias("method"),
    ).where(has_analog | (F.col("_n") <= max_missing))


#: The history's estimates of a missing interval's energy, beside ``linear_kwh``.
HISTORY_ESTIMATES = ("analog_kwh", "week_earlier_kwh", "profile_scaled_kwh")


def without_history(filled: DataFrame) -> DataFrame:
    """``filled`` with the history's estimates left empty: linear interpolation only."""
    return filled.select(
        "*",
        *[F.lit(None).cast("double").alias(name) for name in HISTORY_ESTIMATES],
        F.lit(0).cast("long").alias("history_days"),
    )
