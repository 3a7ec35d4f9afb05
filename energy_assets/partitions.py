"""Simulated-day partitions: the one definition every partitioned asset shares."""

from __future__ import annotations

from dagster import AutomationCondition, BackfillPolicy, DailyPartitionsDefinition

from energy_assets.settings import load_settings

_settings = load_settings()

#: One partition per simulated day, UTC. Two definitions with different bounds would split
#: backfills into odd chunks, so every partitioned asset uses this one.
simulated_days = DailyPartitionsDefinition(
    start_date=_settings.sim_start,
    end_date=_settings.sim_end,
    timezone="UTC",
    fmt="%Y-%m-%d",
)

#: A range of days is one run and one Spark job, not one run per day.
single_run = BackfillPolicy.single_run()

#: Downstream assets follow new simulated days: Dagster's eager condition without its
#: "latest time window only" clause, which would compare simulated days with today's date.
follows_upstream = AutomationCondition.eager().without(AutomationCondition.in_latest_time_window())
