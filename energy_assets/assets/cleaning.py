"""Cleaning assets: one Spark job (VEE) splits raw readings into cleaned and rejected."""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    Config,
    MetadataValue,
    Output,
    multi_asset,
)
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from energy_assets.cleaning.rules import CleaningParams
from energy_assets.cleaning.schema import schema_errors
from energy_assets.cleaning.vee import (
    classify,
    cleaned,
    expected_intervals,
    house_day_counts,
    rejected,
)
from energy_assets.partitions import day_time_zone, simulated_days, single_run
from energy_assets.resources import SimulationResource
from energy_assets.storage.lake import LakeResource
from energy_assets.storage.parquet_io import DAY, count_rows, day_dir, spark_read_days
from energy_assets.storage.spark import SparkResource, shuffle_width

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


class RawSchemaError(ValueError):
    """The raw readings are not shaped as the head-end contract says."""


class CleaningConfig(Config):
    """How the cleaning estimates: gaps up to this many minutes are interpolated."""

    max_gap_minutes: int = 60


def _check(name: str, asset: str, blocking: bool, description: str) -> AssetCheckSpec:
    return AssetCheckSpec(name, asset=asset, blocking=blocking, description=description)


CLEANING_CHECKS = [
    _check(
        "nothing_lost",
        "cleaned_readings",
        True,
        "raw rows = cleaned rows taken from raw + rejected rows, every day",
    ),
    _check("unique_key", "cleaned_readings", True, "no (house_id, simulated_timestamp) twice"),
    _check(
        "pandera_schema",
        "cleaned_readings",
        True,
        "cleaned_readings satisfies its pandera schema (types, nulls, the rules' ranges)",
    ),
    _check(
        "completeness",
        "cleaned_readings",
        False,
        "valid + estimated intervals over the local days' intervals (23, 24 or 25 hours), "
        "per house, at least 98 %",
    ),
    _check(
        "rejection_rate",
        "rejected_readings",
        False,
        "the share of rejected readings is within what the configured fault rates predict",
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


def read_days(session, lake: LakeResource, asset: str, days) -> DataFrame:
    """The Parquet days of an asset that this step has just written."""
    return spark_read_days(session, lake.path(asset), days)


def expected_rejection_rate(
    simulation: SimulationResource, params: CleaningParams, intervals_per_day: float
) -> float:
    """The rejected share the configured fault rates predict (stuck runs average 3.5 hours)."""
    f = simulation.settings().faults
    stuck = f.stuck_per_house_day * max(params.stuck_run, 210 / params.interval_minutes)
    stuck_share = stuck / intervals_per_day
    return (
        f.malformed
        + f.unit_error
        + f.negative
        + f.duplicate_identical
        + f.duplicate_conflicting
        + stuck_share
    )


@multi_asset(
    outs={
        "cleaned_readings": AssetOut(
            io_manager_key="parquet_io_manager",
            metadata={"partition_expr": "simulated_timestamp"},
            kinds={"spark", "parquet"},
            description="Validated, edited and estimated readings: one a house and interval.",
        ),
        "rejected_readings": AssetOut(
            io_manager_key="parquet_io_manager",
            metadata={"partition_expr": "simulated_timestamp"},
            kinds={"spark", "parquet"},
            description="Refused raw readings, values as delivered, with a reason code.",
        ),
    },
    partitions_def=simulated_days,
    backfill_policy=single_run,
    group_name=GROUP,
    check_specs=CLEANING_CHECKS,
)
def vee(
    context: AssetExecutionContext,
    config: CleaningConfig,
    raw_readings: DataFrame,
    simulation: SimulationResource,
    spark: SparkResource,
    lake: LakeResource,
):
    """Validation, estimation and editing in one Spark job; the rules are in cleaning/rules.py."""
    settings = simulation.settings()
    params = CleaningParams(
        interval_minutes=settings.interval_minutes,
        nominal_voltage=settings.climate_preset.nominal_voltage,
        max_gap_minutes=config.max_gap_minutes,
        timezone=day_time_zone(settings),
    )
    check_raw_schema(raw_readings, str(lake.path("raw_readings")))
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    raw_rows = sum(count_rows(day_dir(lake.path("raw_readings"), d)) for d in days)
    with shuffle_width(spark.session, raw_rows) as width:
        context.log.info(f"{raw_rows:,} raw readings: {width} shuffle partitions")
        classified = classify(raw_readings, params).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            yield Output(cleaned(classified, params), "cleaned_readings")
            yield Output(rejected(raw_readings, classified), "rejected_readings")
        finally:
            classified.unpersist()
        yield from _checks(spark.session, lake, days, raw_readings, params, simulation)


def _checks(session, lake, days, raw: DataFrame, params: CleaningParams, simulation):
    clean = read_days(session, lake, "cleaned_readings", days)
    rej = read_days(session, lake, "rejected_readings", days)
    raw_by_day = {
        str(r[DAY]): r["n"] for r in raw.groupBy(DAY).agg(F.count("*").alias("n")).collect()
    }
    house_days = house_day_counts(clean, params.timezone).toPandas()
    house_days[DAY] = house_days[DAY].astype(str)
    by_day = (house_days["n"] - house_days["est"]).groupby(house_days[DAY]).sum()
    from_raw = {d: int(v) for d, v in by_day.items()}
    rej_by_reason = rej.groupBy(DAY, "reason").agg(F.count("*").alias("n")).collect()
    rej_by_day: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for r in rej_by_reason:
        rej_by_day[str(r[DAY])] = rej_by_day.get(str(r[DAY]), 0) + r["n"]
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + r["n"]
    off = {
        d: {
            "raw": raw_by_day.get(d, 0),
            "cleaned_from_raw": from_raw.get(d, 0),
            "rejected": rej_by_day.get(d, 0),
        }
        for d in map(str, days)
        if raw_by_day.get(d, 0) != from_raw.get(d, 0) + rej_by_day.get(d, 0)
    }
    yield AssetCheckResult(
        check_name="nothing_lost",
        asset_key="cleaned_readings",
        passed=not off,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "raw": sum(raw_by_day.values()),
            "cleaned_from_raw": sum(from_raw.values()),
            "rejected": sum(rej_by_day.values()),
            "days_off": MetadataValue.json(off),
        },
    )

    repeated = int(house_days["repeated"].sum())
    n_dups, sample = 0, []
    if repeated:
        # Only a failing check pays for the exact list of repeated keys.
        dups = clean.groupBy("house_id", "simulated_timestamp").count().where("count > 1")
        n_dups = dups.count()
        sample = [r.asDict() for r in dups.limit(5).collect()]
    yield AssetCheckResult(
        check_name="unique_key",
        asset_key="cleaned_readings",
        passed=repeated == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "duplicate_keys": n_dups,
            "repeated_readings": repeated,
            "sample": MetadataValue.json([{k: str(v) for k, v in s.items()} for s in sample]),
        },
    )

    errors = schema_errors(clean.drop(DAY), params)
    yield AssetCheckResult(
        check_name="pandera_schema",
        asset_key="cleaned_readings",
        passed=not errors,
        severity=AssetCheckSeverity.ERROR,
        metadata={"errors": MetadataValue.json(_jsonable(errors))},
    )

    expected = sum(expected_intervals(params, d) for d in days)
    per_house = house_days.groupby("house_id")[["n", "est"]].sum()
    low = per_house[per_house["n"] < COMPLETENESS_FLOOR * expected].sort_values("n")
    yield AssetCheckResult(
        check_name="completeness",
        asset_key="cleaned_readings",
        passed=low.empty,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "completeness": float(per_house["n"].sum() / max(1, len(per_house) * expected)),
            "estimated_share": float(per_house["est"].sum() / max(1, per_house["n"].sum())),
            "houses_below_floor": len(low),
            "worst_houses": MetadataValue.json(
                {h: round(int(n) / expected, 4) for h, n in low["n"].head(10).items()}
            ),
        },
    )

    total_raw = sum(raw_by_day.values())
    rate = sum(rej_by_day.values()) / max(1, total_raw)
    predicted = expected_rejection_rate(simulation, params, expected / len(days))
    ok = 0.5 * predicted - 0.001 <= rate <= 1.5 * predicted + 0.001
    yield AssetCheckResult(
        check_name="rejection_rate",
        asset_key="rejected_readings",
        passed=ok,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "rejection_rate": rate,
            "predicted_rate": predicted,
            **{f"reason/{k}": v for k, v in sorted(reasons.items())},
        },
    )


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj if isinstance(obj, int | float | str | bool | type(None)) else str(obj)
