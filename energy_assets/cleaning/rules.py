"""The validation rules, each written once: a code, a description, its severity, its expression.

The Spark job (:mod:`energy_assets.cleaning.vee`), the pandera schema of ``cleaned_readings``,
the asset checks and ``docs/validation.md`` are all generated from :data:`ROW_RULES` and
:data:`SET_RULES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

SENTINELS = (-9999.0, 9999.0, -999.0, 999999.0)
#: How public exports write a missing value (London LCL: ``Null``; UCI: ``?``), as written:
#: compared after a trim, on landed data only (the simulator writes none).
MISSING_MARKERS = ("Null", "null", "NULL", "?")
#: A home's service: 100 A at the nominal voltage. Above it in an interval is not a reading.
SERVICE_AMPS = 100.0
TEMPERATURE_RANGE_C = (-50.0, 60.0)
VOLTAGE_RANGE_OF_NOMINAL = (0.5, 1.5)


@dataclass(frozen=True)
class CleaningParams:
    """What the rules need to know about the meters."""

    interval_minutes: int = 15
    nominal_voltage: float = 220.0
    max_gap_minutes: int = 60
    late_after_minutes: int = 60
    #: The neighbourhood's time zone: a day is its local day (23, 24 or 25 hours).
    timezone: str = "UTC"
    #: Channels the source may leave empty (landed files without temperature or voltage): an
    #: empty value there is no fault of the reading, and the cleaned value stays null.
    optional_channels: tuple[str, ...] = ()
    #: Texts that mean "no value" besides an empty one (landed exports' ``Null`` and ``?``).
    missing_markers: tuple[str, ...] = ()

    @property
    def max_kwh(self) -> float:
        """The most energy the service can deliver in one interval."""
        return SERVICE_AMPS * self.nominal_voltage / 1000.0 * self.interval_minutes / 60.0

    @property
    def stuck_run(self) -> int:
        """Repeats (after the first value) that make a stuck meter: at least an hour's worth."""
        return max(2, -(-60 // self.interval_minutes))


@dataclass(frozen=True)
class Rule:
    """One validation rule."""

    code: str
    description: str
    severity: str  # "reject": the row goes to rejected_readings; "flag": kept, noted
    condition: Callable[[CleaningParams], Column] | None = None  # row rules only


def parsing(name: str) -> Column:
    """The expression that parses a raw text value as a double (null when it does not parse)."""
    return F.expr(f"try_cast(trim(`{name}`) AS DOUBLE)")


#: The value fields of a reading, delivered as text.
VALUES = ("consumption_kwh", "temperature", "voltage")


def parsed_values() -> list[Column]:
    """Every value field parsed once, as ``_<name>``: what :func:`parsed` and the rules read."""
    return [parsing(name).alias(f"_{name}") for name in VALUES]


def parsed(name: str) -> Column:
    """The parsed value of a raw field: the ``_<name>`` column ``classify`` adds once."""
    return F.col(f"_{name}")


def _empty(name: str, p: CleaningParams) -> Column:
    text = F.trim(F.col(name))
    none = text.isin("", *p.missing_markers) if p.missing_markers else text == ""
    return F.col(name).isNull() | none


def _missing(name: str) -> Callable[[CleaningParams], Column]:
    return lambda p: F.lit(False) if name in p.optional_channels else _empty(name, p)


def _nan(name: str) -> Callable[[CleaningParams], Column]:
    return lambda p: F.isnan(parsed(name))


def _sentinel(name: str) -> Callable[[CleaningParams], Column]:
    return lambda p: parsed(name).isin(*SENTINELS)


def _not_numeric(name: str) -> Callable[[CleaningParams], Column]:
    # Where an empty value is a fault, the missing rule has taken it already (rules apply in
    # order); where it may be empty, an empty value is no fault.
    return lambda p: (
        parsed(name).isNull() & ~_empty(name, p)
        if name in p.optional_channels
        else parsed(name).isNull()
    )


def _field_rules(name: str, label: str) -> list[Rule]:
    return [
        Rule(
            f"{label}_missing",
            f"{name} is null or empty (on landed data also a missing-value marker: "
            f"{', '.join(MISSING_MARKERS)})",
            "reject",
            _missing(name),
        ),
        Rule(f"{label}_nan", f"{name} is NaN", "reject", _nan(name)),
        Rule(
            f"{label}_sentinel",
            f"{name} is a sentinel ({', '.join(map(str, SENTINELS))})",
            "reject",
            _sentinel(name),
        ),
        Rule(
            f"{label}_not_numeric",
            f"{name} is not a number (e.g. 'error')",
            "reject",
            _not_numeric(name),
        ),
    ]


ROW_RULES: list[Rule] = [
    *_field_rules("consumption_kwh", "consumption"),
    Rule(
        "consumption_negative",
        "consumption_kwh is below zero",
        "reject",
        lambda p: parsed("consumption_kwh") < 0,
    ),
    Rule(
        "consumption_above_service",
        "consumption_kwh is above what a 100 A service can draw in one interval (spikes, "
        "Wh delivered as kWh)",
        "reject",
        lambda p: parsed("consumption_kwh") > p.max_kwh,
    ),
    *_field_rules("temperature", "temperature"),
    Rule(
        "temperature_implausible",
        f"temperature outside {TEMPERATURE_RANGE_C} degrees C",
        "reject",
        lambda p: ~parsed("temperature").between(*TEMPERATURE_RANGE_C),
    ),
    *_field_rules("voltage", "voltage"),
    Rule(
        "voltage_implausible",
        f"voltage outside {VOLTAGE_RANGE_OF_NOMINAL} x nominal",
        "reject",
        lambda p: (
            ~parsed("voltage").between(
                p.nominal_voltage * VOLTAGE_RANGE_OF_NOMINAL[0],
                p.nominal_voltage * VOLTAGE_RANGE_OF_NOMINAL[1],
            )
        ),
    ),
]

SET_RULES: list[Rule] = [
    Rule("duplicate_identical", "an identical copy of a reading already kept", "reject"),
    Rule(
        "duplicate_superseded",
        "an earlier delivery of an interval a later valid delivery replaces",
        "reject",
    ),
    Rule(
        "stuck_meter",
        "the same consumption repeated for at least an hour of intervals after its first value",
        "reject",
    ),
]

FLAGS: list[Rule] = [
    Rule("conflict_resolved", "kept the latest of conflicting deliveries", "flag"),
    Rule("late_delivery", "delivered over an hour after its interval ended", "flag"),
    Rule(
        "estimated",
        "filled where no reading was kept: from the house's analogues, or by interpolation "
        "across a gap no longer than the maximum (gap_estimates names the method)",
        "flag",
    ),
]

ALL_RULES = [*ROW_RULES, *SET_RULES, *FLAGS]
REJECT_CODES = [r.code for r in ROW_RULES + SET_RULES]


def row_reason(params: CleaningParams) -> Column:
    """The first row rule a reading breaks, or null."""
    return F.coalesce(*[F.when(r.condition(params), F.lit(r.code)) for r in ROW_RULES])


def markdown_table() -> str:
    """The rules as a Markdown table, for ``docs/validation.md``."""
    lines = ["| code | severity | rule |", "|---|---|---|"]
    for rule in ALL_RULES:
        lines.append(f"| `{rule.code}` | {rule.severity} | {rule.description} |")
    return "\n".join(lines)
