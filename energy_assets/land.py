"""``python -m energy_assets.land`` (``make land``): one pass of the landing source.

Looks at the landing folder as the ``landing_files`` sensor does (admit new files, quarantine
unreadable ones, settle what committed), materializes the whole graph for each stretch of days
it asks for, one run a stretch, then looks again, so that the files whose days committed move to
``processed/``. What ``make dev`` does with the sensor and automation, as one command.
"""

from __future__ import annotations

import sys

from dagster import DagsterInstance, Definitions, build_sensor_context, materialize

from energy_assets.partitions import RANGE_END, RANGE_START
from energy_assets.settings import SettingsError, load_settings


def look(defs: Definitions, instance: DagsterInstance):
    """Evaluate the landing sensor once: its run requests, or why it asks for none."""
    sensor = defs.resolve_sensor_def("landing_files")
    with build_sensor_context(instance=instance, resources=defs.resources) as context:
        return sensor.evaluate_tick(context)


def land(defs: Definitions, instance: DagsterInstance) -> list:
    """Admit, rebuild every requested stretch of days (the whole graph), settle; the results."""
    tick = look(defs, instance)
    if tick.skip_message:
        print(tick.skip_message)
    results = []
    for request in tick.run_requests or []:
        days = f"{request.tags[RANGE_START]}..{request.tags[RANGE_END]}"
        result = materialize(
            list(defs.assets),
            resources=defs.resources,
            instance=instance,
            tags=request.tags,
            raise_on_error=False,
        )
        status = "SUCCESS" if result.success else "FAILURE"
        # The summary finds the run by this line's shape (as in Dagster's own log).
        print(f"landing run for {days} - {result.run_id} - {status}")
        results.append(result)
    settled = look(defs, instance)
    print(settled.skip_message or f"{len(settled.run_requests)} stretch(es) still to rebuild")
    return results


def main() -> int:
    """Run one landing pass against the instance ``DAGSTER_HOME`` names."""
    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"energy_assets: {err}", file=sys.stderr)
        return 1
    if not settings.landed:
        print(
            "energy_assets: `make land` reads the landing folder: set ENERGY_SOURCE=landing and "
            "ENERGY_LANDING_DIR.",
            file=sys.stderr,
        )
        return 1
    from energy_assets.definitions import build_definitions

    with DagsterInstance.get() as instance:
        results = land(build_definitions(settings), instance)
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
