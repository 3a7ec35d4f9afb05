"""Asset-check results per simulated day: the UI shows each check's status day by day.

Every check of a partitioned asset is partitioned like it (Dagster's partitioned checks). A run
of one day records one evaluation for that day. A range run (one run for many days, as
single-run backfills make) records one evaluation per day as well, plus the run's own result
over the range, which carries the blocking verdict and names the days it judged. Each result
has a one-line reason, which the end-of-run summary prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MetadataValue,
)

from energy_assets.partitions import simulated_days

#: Metadata key: False when a check cannot judge yet (the reason says why); the summary lists
#: such checks apart from failures.
JUDGED = "judged"


@dataclass(frozen=True)
class Verdict:
    """A check's verdict on one day (or on the run): passed, why in one line, its figures."""

    passed: bool
    reason: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    judged: bool = True


def day_check(name: str, asset: str | AssetKey, description: str, blocking: bool = False):
    """The spec of a check judged day by day, partitioned like the simulated days."""
    return AssetCheckSpec(
        name,
        asset=asset,
        blocking=blocking,
        description=description,
        partitions_def=simulated_days,
    )


def _days_label(days: list[str]) -> str:
    return days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"


def run_verdict(per_day: Mapping[str, Verdict]) -> Verdict:
    """The verdict over all days: passed if every judged day passed; the reason names the days.

    Days a check cannot judge yet (a model's window still filling) neither pass nor fail the
    run; the reason counts them. A run with no judged day is itself not judged.
    """
    days = sorted(per_day)
    if len(days) == 1:
        only = per_day[days[0]]
        return Verdict(only.passed, only.reason, only.metadata, only.judged)
    judged = [d for d in days if per_day[d].judged]
    if not judged:
        return Verdict(False, per_day[days[-1]].reason, {}, judged=False)
    waiting = [d for d in days if not per_day[d].judged]
    note = (
        f" ({len(waiting)} of {len(days)} days not judged yet, {waiting[-1]}: "
        f"{per_day[waiting[-1]].reason.removeprefix('not judged: ')})"
        if waiting
        else ""
    )
    failed = [d for d in judged if not per_day[d].passed]
    if not failed:
        return Verdict(
            True, f"passed on each of the {len(judged)} days {_days_label(judged)}{note}"
        )
    first = failed[0]
    return Verdict(
        False,
        f"not met on {len(failed)} of {len(judged)} days ({_days_label(judged)}); "
        f"{first}: {per_day[first].reason}{note}",
    )


def day_results(
    context: AssetExecutionContext,
    asset_key: str | AssetKey,
    check_name: str,
    severity: AssetCheckSeverity,
    per_day: Mapping[str, Verdict],
    run_metadata: Mapping[str, Any] | None = None,
) -> AssetCheckResult:
    """Record a check's verdict on each day of the run; return the run's result over them all."""
    key = AssetKey.from_coercible(asset_key)
    days = sorted(per_day)
    if len(context.partition_keys) > 1:
        spec = context.assets_def.get_spec_for_check_key(AssetCheckKey(key, check_name))
        blocking = spec.blocking
        for day in days:
            verdict = per_day[day]
            context.log_event(
                AssetCheckEvaluation(
                    asset_key=key,
                    check_name=check_name,
                    passed=verdict.passed,
                    severity=severity,
                    description=verdict.reason,
                    metadata={**verdict.metadata, JUDGED: verdict.judged},
                    blocking=blocking,
                    partition=day,
                )
            )
    overall = run_verdict(per_day)
    return AssetCheckResult(
        asset_key=key,
        check_name=check_name,
        passed=overall.passed,
        severity=severity,
        description=overall.reason,
        metadata={
            **(run_metadata or {}),
            **overall.metadata,
            JUDGED: overall.judged,
            "days_judged": _days_label(days) if days else "none",
            "days_failed": MetadataValue.json(
                [d for d in days if per_day[d].judged and not per_day[d].passed]
            ),
            "days_not_judged": MetadataValue.json([d for d in days if not per_day[d].judged]),
        },
    )
