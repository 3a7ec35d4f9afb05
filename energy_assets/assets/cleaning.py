"""Cleaning assets: one Spark job (VEE) splits raw readings into cleaned and rejected."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    Config,
    MetadataValue,
    Output,
    ResourceParam,
    multi_asset,
)
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from energy_assets.assets.outputs import lake_out
from energy_assets.assets.verdicts import Verdict, day_check, day_results
from energy_assets.cleaning.estimation import HISTORY_DAYS
from energy_assets.cleaning.estimation import load_shapes as compute_load_shapes
from energy_assets.cleaning.rules import MISSING_MARKERS, CleaningParams
from energy_assets.cleaning.schema import schema_errors
from energy_assets.cleaning.vee import (
    classify,
    cleaned,
    estimated,
    expected_intervals,
    gap_estimates,
    house_day_counts,
    rejected,
)
from energy_assets.partitions import day_time_zone, simulated_days, single_run
from energy_assets.resources import SimulationResource
from energy_assets.storage.parquet_io import DAY, ParquetIOManager
from energy_assets.storage.spark import (
    SparkResource,
    cache_compression,
    shuffle_width,
    writing_tasks,
)

GROUP = "cleaning"
RAW_TYPES = {
    "house_id": "string",
    "simulated_timestamp": "timestamp_ntz",
    "ingested_at": "timestamp_ntz",
    "consumption_kwh": "string",
    "temperature": "string",
    "voltage": "string",
}
COMPLETENESS_FLOOR = 0.98
RAW = AssetKey("raw_readings")
#: The cleaning writes each day's load shapes beside its outputs and reads those of the 28 days
#: before a day that exist. An output, not an upstream asset: with the shapes as a second parent
#: of the cleaning, Dagster's backfills of both built the cleaning's outputs' targets by two
#: paths and refused them at random ("targeted subset must match between every key").
LOAD_SHAPES = AssetKey("load_shapes")


class RawSchemaError(ValueError):
    """The raw readings are not shaped as the head-end contract says."""


class CleaningConfig(Config):
    """How the cleaning estimates: without enough history, gaps up to this many minutes are
    interpolated (with it, gaps of any length are estimated from the house's analogues)."""

    max_gap_minutes: int = 60


def cleaning_params(
    simulation: SimulationResource, landed: bool, max_gap_minutes: int = 60
) -> CleaningParams:
    """What the rules need to know about this source's meters."""
    settings = simulation.settings()
    return CleaningParams(
        interval_minutes=settings.interval_minutes,
        nominal_voltage=settings.climate_preset.nominal_voltage,
        max_gap_minutes=max_gap_minutes,
        timezone=day_time_zone(settings),
        optional_channels=LANDED_OPTIONAL_CHANNELS if landed else (),
        missing_markers=MISSING_MARKERS if landed else (),
    )


def _check(name: str, asset: str, blocking: bool, description: str):
    return day_check(name, asset, description, blocking=blocking)


CLEANING_CHECKS = [
    _check(
        "nothing_lost",
        "cleaned_readings",
        True,
        "raw rows = cleaned rows taken from raw + rejected rows, on the day",
    ),
    _check("unique_key", "cleaned_readings", True, "no (house_id, simulated_timestamp) twice"),
    _check(
        "pandera_schema",
        "cleaned_readings",
        True,
        "cleaned_readings satisfies its pandera schema (types, nulls, the rules' ranges); "
        "validated over the run's days at once",
    ),
    _check(
        "completeness",
        "cleaned_readings",
        False,
        "valid + estimated intervals over the local day's intervals (23, 24 or 25 hours), "
        "per house, at least 98 %; houses below are findings about the meters, named",
    ),
    _check(
        "rejection_rate",
        "rejected_readings",
        False,
        "the day's share of rejected readings is within what the configured fault rates predict "
        "(simulated data only: it is not run on landed data, which has no configured fault rates)",
    ),
]


def check_raw_schema(df: DataFrame, where: str) -> None:
    """Fail with one sentence when the raw readings miss a column or have a wrong type."""
    have = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    for name, typ in RAW_TYPES.items():
        if name not in have:
            raise RawSchemaError(f"Raw readings at {where} have no column '{name}'.")
        if have[name] != typ:
            raise RawSchemaError(
                f"Raw readings at {where}: column '{name}' is {have[name]}, expected {typ}."
            )


@dataclass(frozen=True)
class RejectionModel:
    """What the configured fault rates predict of a day's rejected readings."""

    row_rate: float  # faults that refuse single readings, per reading
    stuck_per_house_day: float
    stuck_run: float  # readings refused by one stuck run, on average (3.5 hours)

    def expected(self, raw: int, house_days: int) -> float:
        """Rejected readings expected among ``raw`` readings of ``house_days``."""
        return self.row_rate * raw + self.stuck_per_house_day * self.stuck_run * house_days

    def tolerance(self, raw: int, house_days: int) -> float:
        """How far a day may stray: half the expectation, plus four standard deviations of a
        count in which stuck runs arrive whole (a few of them move a small day a lot)."""
        var = self.row_rate * raw + self.stuck_per_house_day * house_days * self.stuck_run**2
        return 0.5 * self.expected(raw, house_days) + 4 * var**0.5 + 1


def rejection_model(simulation: SimulationResource, params: CleaningParams) -> RejectionModel:
    """The rejected readings the configured fault rates predict (stuck runs average 3.5 hours)."""
    f = simulation.settings().faults
    return RejectionModel(
        row_rate=f.malformed
        + f.unit_error
        + f.negative
        + f.duplicate_identical
        + f.duplicate_conflicting,
        stuck_per_house_day=f.stuck_per_house_day,
        stuck_run=max(params.stuck_run, 210 / params.interval_minutes),
    )


#: Checks that judge against what only the simulator knows (its configured fault rates).
SIMULATOR_ONLY_CHECKS = ("rejection_rate",)
#: A landed file need not carry temperature or voltage: those channels may stay empty.
LANDED_OPTIONAL_CHANNELS = ("temperature", "voltage")


#: The cleaning's four outputs, each a Parquet day folder of the lake.
VEE_OUTS = {
    "cleaned_readings": lake_out(
        "Validated, edited and estimated readings: one a house and interval.", "simulated_timestamp"
    ),
    "rejected_readings": lake_out(
        "Refused raw readings, values as delivered, with a reason code.", "simulated_timestamp"
    ),
    "load_shapes": lake_out(
        "Per house and local day, the energy of each complete 15-minute slot "
        "of the readings that pass the row rules: the history later days' gaps are "
        "estimated from.",
        "day",
    ),
    "gap_estimates": lake_out(
        "Every estimated interval: the method used, the estimate, and the "
        "simple ways' values beside it (linear, a week earlier, the typical day scaled).",
        "simulated_timestamp",
    ),
}


def build_vee(landed: bool = False):
    """The cleaning multi-asset; on landed data without the checks that need the simulator."""
    specs = [
        spec for spec in CLEANING_CHECKS if not (landed and spec.name in SIMULATOR_ONLY_CHECKS)
    ]

    @multi_asset(
        name="vee",
        outs=VEE_OUTS,
        partitions_def=simulated_days,
        backfill_policy=single_run,
        group_name=GROUP,
        check_specs=specs,
    )
    def vee(
        context: AssetExecutionContext,
        config: CleaningConfig,
        raw_readings: DataFrame,
        simulation: SimulationResource,
        spark: SparkResource,
        parquet_io_manager: ResourceParam[ParquetIOManager],
    ):
        """Validation, estimation and editing in one Spark job; the rules are in cleaning/rules.py."""
        params = cleaning_params(simulation, landed, config.max_gap_minutes)
        check_raw_schema(raw_readings, str(parquet_io_manager.asset_dir(RAW.path)))
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        # Raw rows per day from the files' manifests: no scan of the readings.
        raw_by_day = {str(d): parquet_io_manager.rows_of_day(RAW, d) for d in days}
        raw_rows = sum(raw_by_day.values())
        with (
            shuffle_width(spark.session, raw_rows) as width,
            cache_compression(spark.session, raw_rows),
        ):
            context.log.info(f"{raw_rows:,} raw readings: {width} shuffle partitions")
            classified = classify(raw_readings, params).persist(StorageLevel.MEMORY_AND_DISK)
            shapes = compute_load_shapes(classified, params).persist()
            history_days = _history_days(parquet_io_manager, days)
            history = _history(parquet_io_manager, days, history_days, shapes)
            estimates = estimated(classified, params, history).persist()
            tasks = writing_tasks(raw_rows)
            try:
                yield Output(
                    cleaned(classified, params, estimates).coalesce(tasks), "cleaned_readings"
                )
                yield Output(
                    rejected(raw_readings, classified).coalesce(tasks), "rejected_readings"
                )
                yield Output(shapes.coalesce(tasks), "load_shapes")
                by_method = estimates.groupBy("method").count().collect()
                yield Output(
                    gap_estimates(estimates, params).coalesce(tasks),
                    "gap_estimates",
                    metadata={
                        "history_days_published": len(history_days),
                        **{f"estimated/{r['method']}": r["count"] for r in by_method},
                    },
                )
            finally:
                estimates.unpersist()
                shapes.unpersist()
                classified.unpersist()
            model = None if landed else rejection_model(simulation, params)
            yield from _checks(context, parquet_io_manager, days, raw_by_day, params, model)

    return vee


vee = build_vee()


def _history_days(store: ParquetIOManager, days: list[dt.date]) -> list[str]:
    """The days before the run's days, not in the run, whose load shapes are published: with
    the run's own shapes, the estimates' history."""
    run = set(days)
    wanted = {d - dt.timedelta(days=k) for d in days for k in range(1, HISTORY_DAYS + 1)}
    return store.published_days(LOAD_SHAPES, sorted(wanted - run))


def _history(
    store: ParquetIOManager, days: list[dt.date], history_days: list[str], shapes: DataFrame
) -> DataFrame | None:
    """The load shapes the run's gaps are estimated from: the published days before the run's
    and the run's own. None for a single day with no published day before it: it has no day to
    compare with, and the history's joins would find nothing (interpolation, as without one)."""
    if history_days:
        return store.read_days(LOAD_SHAPES, history_days).unionByName(shapes)
    return shapes if len(days) > 1 else None


@dataclass(frozen=True)
class CleaningMeasures:
    """What the cleaning's checks judge, read from the days the step wrote (days as text)."""

    days: list[str]
    raw_by_day: dict[str, int]
    house_days: pd.DataFrame  # per house-day: readings (n), estimated (est), from_raw, repeated
    rejected_by_day: dict[str, int]
    rejected_by_reason: dict[str, int]
    schema_errors: dict

    def of_day(self, column: str, how: str = "sum") -> dict[str, int]:
        """A column of the house-days aggregated per day."""
        return self.house_days.groupby(DAY)[column].agg(how).to_dict()


def _measure(
    clean: DataFrame,
    rej: DataFrame,
    days: list[dt.date],
    raw_by_day: dict[str, int],
    params: CleaningParams,
) -> CleaningMeasures:
    """What the checks judge, read from the written days: counts per house-day, rejections per
    day and reason, pandera's errors. The three are independent Spark queries and run at once:
    on a small run each is mostly waiting (planning, scheduling, a dozen small jobs), which
    overlaps; on a large one they share the cores."""
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="cleaning-checks") as pool:
        counts = pool.submit(lambda: house_day_counts(clean).toPandas())
        reasons = pool.submit(
            lambda: rej.groupBy(DAY, "reason").agg(F.count("*").alias("n")).collect()
        )
        errors = pool.submit(schema_errors, clean.drop(DAY), params)
        house_days, rej_by_reason, errs = counts.result(), reasons.result(), errors.result()
    house_days[DAY] = house_days[DAY].astype(str)
    house_days["from_raw"] = house_days["n"] - house_days["est"]
    rej_by_day: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    for r in rej_by_reason:
        rej_by_day[str(r[DAY])] = rej_by_day.get(str(r[DAY]), 0) + r["n"]
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + r["n"]
    return CleaningMeasures(
        [str(d) for d in days], raw_by_day, house_days, rej_by_day, by_reason, errs
    )


def _checks(
    context,
    store: ParquetIOManager,
    days,
    raw_by_day: dict[str, int],
    params: CleaningParams,
    model: RejectionModel | None,
):
    """The cleaning's checks, each judged on every day of the run, on what the step wrote;
    the rejection rate only where a model of the faults predicts it."""
    clean = store.read_days(AssetKey("cleaned_readings"), days)
    rej = store.read_days(AssetKey("rejected_readings"), days)
    m = _measure(clean, rej, days, raw_by_day, params)
    error, warn = AssetCheckSeverity.ERROR, AssetCheckSeverity.WARN
    yield day_results(context, "cleaned_readings", "nothing_lost", error, _nothing_lost_days(m))
    yield day_results(context, "cleaned_readings", "unique_key", error, *_unique_days(m, clean))
    yield day_results(context, "cleaned_readings", "pandera_schema", error, *_schema_days(m))
    yield day_results(
        context, "cleaned_readings", "completeness", warn, _completeness_days(m, params)
    )
    if model is not None:
        yield day_results(
            context, "rejected_readings", "rejection_rate", warn, *_rejection_days(m, model)
        )


def _nothing_lost_days(m: CleaningMeasures) -> dict[str, Verdict]:
    """Per day: raw readings = cleaned from raw + rejected."""
    from_raw = m.of_day("from_raw")
    return {
        d: _nothing_lost(
            m.raw_by_day.get(d, 0), int(from_raw.get(d, 0)), m.rejected_by_day.get(d, 0)
        )
        for d in m.days
    }


def _unique_days(m: CleaningMeasures, clean: DataFrame) -> tuple[dict[str, Verdict], dict]:
    """Per day: each (house, interval) once; a sample of the repeated keys where any repeat."""
    repeated = m.of_day("repeated")
    sample = []
    if any(repeated.values()):
        # Only a failing check pays for the exact list of repeated keys.
        dups = clean.groupBy("house_id", "simulated_timestamp").count().where("count > 1")
        sample = [{k: str(v) for k, v in r.asDict().items()} for r in dups.limit(5).collect()]
    per_day = {d: _unique(int(repeated.get(d, 0))) for d in m.days}
    return per_day, {"sample": MetadataValue.json(sample)}


def _schema_days(m: CleaningMeasures) -> tuple[dict[str, Verdict], dict]:
    """The run's pandera verdict on every day (one validation of the written days)."""
    errors = m.schema_errors
    schema = Verdict(
        not errors,
        "types, nulls and ranges as the schema says"
        if not errors
        else f"the schema refuses the cleaned readings: {_first_error(errors)}",
    )
    return {d: schema for d in m.days}, {"errors": MetadataValue.json(_jsonable(errors))}


def _completeness_days(m: CleaningMeasures, params: CleaningParams) -> dict[str, Verdict]:
    """Per day: the houses whose valid and estimated readings fall below the floor."""
    return {
        d: _completeness(
            m.house_days[m.house_days[DAY] == d],
            expected_intervals(params, dt.date.fromisoformat(d)),
        )
        for d in m.days
    }


def _rejection_days(m: CleaningMeasures, model: RejectionModel) -> tuple[dict[str, Verdict], dict]:
    """Per day: the rejection rate against the faults' model; the run's rejections by reason."""
    houses_by_day = m.of_day("house_id", "nunique")
    per_day = {
        d: _rejection(
            m.rejected_by_day.get(d, 0),
            m.raw_by_day.get(d, 0),
            houses_by_day.get(d, 0),
            model,
        )
        for d in m.days
    }
    return per_day, {f"reason/{k}": v for k, v in sorted(m.rejected_by_reason.items())}


def _unique(repeated: int) -> Verdict:
    return Verdict(
        not repeated,
        f"{repeated} readings repeat a (house, interval) key"
        if repeated
        else "every (house, interval) once",
        {"repeated_readings": repeated},
    )


def _nothing_lost(raw: int, from_raw: int, rejected: int) -> Verdict:
    ok = raw == from_raw + rejected
    return Verdict(
        ok,
        f"{raw:,} raw = {from_raw:,} cleaned from raw + {rejected:,} rejected"
        if ok
        else f"{raw:,} raw rows but {from_raw:,} cleaned from raw + {rejected:,} rejected",
        {"raw": raw, "cleaned_from_raw": from_raw, "rejected": rejected},
    )


def _completeness(house_days, expected: int) -> Verdict:
    """Houses below the floor on a day are findings about their meters, named with their share."""
    share = house_days.set_index("house_id")["n"] / expected
    low = share[share < COMPLETENESS_FLOOR].sort_values()
    named = ", ".join(f"{h} {v:.1%}" for h, v in low.head(5).items())
    return Verdict(
        low.empty,
        f"every house has at least {COMPLETENESS_FLOOR:.0%} of its {expected} intervals"
        if low.empty
        else f"finding: {len(low)} house(s) below {COMPLETENESS_FLOOR:.0%} of {expected} "
        f"intervals (meter gaps longer than estimation fills): {named}",
        {
            "completeness": float(share.mean()) if len(share) else 0.0,
            "houses_below_floor": len(low),
            "worst_houses": MetadataValue.json(
                {h: round(float(v), 4) for h, v in low.head(10).items()}
            ),
        },
    )


def _rejection(rejected: int, raw: int, house_days: int, model: RejectionModel) -> Verdict:
    expected = model.expected(raw, house_days)
    ok = abs(rejected - expected) <= model.tolerance(raw, house_days)
    rate, predicted = rejected / max(1, raw), expected / max(1, raw)
    return Verdict(
        ok,
        f"{rate:.2%} rejected, as the fault rates predict ({predicted:.2%})"
        if ok
        else f"{rate:.2%} rejected, far from the {predicted:.2%} the fault rates predict",
        {"rejection_rate": rate, "predicted_rate": predicted},
    )


def _first_error(errors) -> str:
    text = str(_jsonable(errors))
    return text if len(text) <= 160 else text[:157] + "..."


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj if isinstance(obj, int | float | str | bool | type(None)) else str(obj)
