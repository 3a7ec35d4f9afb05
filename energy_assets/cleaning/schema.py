"""The pandera schema of ``cleaned_readings``, built from the same constants as the rules."""

from __future__ import annotations

import pandera.pyspark as pa
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from energy_assets.cleaning.rules import (
    TEMPERATURE_RANGE_C,
    VOLTAGE_RANGE_OF_NOMINAL,
    CleaningParams,
)


def cleaned_schema(params: CleaningParams) -> pa.DataFrameSchema:
    """What every cleaned reading satisfies: types, nullability, the rules' ranges."""
    lo_v, hi_v = (params.nominal_voltage * f for f in VOLTAGE_RANGE_OF_NOMINAL)
    return pa.DataFrameSchema(
        {
            "house_id": pa.Column(T.StringType(), nullable=False),
            "simulated_timestamp": pa.Column(T.TimestampNTZType(), nullable=False),
            "ingested_at": pa.Column(T.TimestampNTZType(), nullable=True),
            "consumption_kwh": pa.Column(
                T.DoubleType(), pa.Check.in_range(0.0, params.max_kwh), nullable=False
            ),
            "temperature": pa.Column(
                T.DoubleType(),
                pa.Check.in_range(*TEMPERATURE_RANGE_C),
                nullable="temperature" in params.optional_channels,
            ),
            "voltage": pa.Column(
                T.DoubleType(),
                pa.Check.in_range(lo_v, hi_v),
                nullable="voltage" in params.optional_channels,
            ),
            "is_estimated": pa.Column(T.BooleanType(), nullable=False),
            "quality_flags": pa.Column(T.StringType(), nullable=False),
        },
        strict=False,
        name="cleaned_readings",
    )


def schema_errors(df: DataFrame, params: CleaningParams) -> dict:
    """pandera's errors for ``df`` (empty when it satisfies the schema)."""
    validated = cleaned_schema(params).validate(df)
    return dict(validated.pandera.errors)
