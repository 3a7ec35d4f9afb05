"""The Spark cleaning and an independent implementation of its rules agree, row by row.

The DuckDB peer of ``benchmarks/clean.py`` writes the same rules as SQL (row rules, latest
valid delivery, stuck runs, gap interpolation, flags). On fault-rich days across a change of the
clocks both must refuse the same rows for the same reasons and keep the same values, so a change
to how the Spark job computes a rule cannot change what the rule decides.
"""

import datetime as dt
import importlib.util
from pathlib import Path

import duckdb
import pytest

from energy_assets.cleaning.rules import CleaningParams
from energy_assets.cleaning.vee import classify, cleaned, rejected
from energy_assets.simulation.houses import make_houses
from energy_assets.simulation.on_spark import simulate_to_parquet
from energy_assets.simulation.settings import SimulationSettings

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "clean.py"
#: Santiago's clocks go back in the night of 2024-04-06/07: the second day has 25 hours.
DAYS = [dt.date(2024, 4, 6), dt.date(2024, 4, 7)]


def duckdb_peer():
    spec = importlib.util.spec_from_file_location("clean_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("interval", [5, 15])
def test_spark_and_the_duckdb_peer_clean_a_fault_rich_day_alike(spark, tmp_path, interval):
    settings = SimulationSettings(houses=40, interval_minutes=interval, seed=11).with_faults(
        stuck_per_house_day=0.4,
        duplicate_identical=0.03,
        duplicate_conflicting=0.03,
        malformed=0.03,
        late=0.05,
        out_of_order=0.05,
        gap_per_house_day=0.5,
    )
    simulate_to_parquet(
        spark, make_houses(settings), DAYS, settings, tmp_path / "raw", tmp_path / "truth"
    )
    params = CleaningParams(
        interval_minutes=interval,
        nominal_voltage=settings.climate_preset.nominal_voltage,
        timezone=settings.climate_preset.timezone,
    )
    raw = spark.read.option("basePath", str(tmp_path / "raw")).parquet(str(tmp_path / "raw"))
    c = classify(raw, params).cache()
    cleaned(c, params).write.partitionBy("day").parquet(str(tmp_path / "spark_cleaned"))
    rejected(raw, c).write.partitionBy("day").parquet(str(tmp_path / "spark_rejected"))
    reasons = {r["reason"]: r["count"] for r in c.groupBy("reason").count().collect()}
    c.unpersist()

    peer = duckdb_peer()
    con = duckdb.connect()
    (tmp_path / "duck").mkdir()
    con.execute(
        peer.duckdb_sql(str(tmp_path / "raw" / "**" / "*.parquet"), tmp_path / "duck", params)
    )
    differ = peer.differing_rows(con, tmp_path)
    con.close()

    # The day is rich in every kind of fault the set rules judge.
    assert reasons["stuck_meter"] > 100
    assert reasons["duplicate_identical"] > 50 and reasons["duplicate_superseded"] > 50
    assert differ == {k: 0 for k in differ}, differ
