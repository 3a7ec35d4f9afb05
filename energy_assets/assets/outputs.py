"""Outputs of the multi-assets whose Spark jobs write the lake's Parquet day folders."""

from __future__ import annotations

from dagster import AssetOut


def lake_out(description: str, partition_expr: str | None = None) -> AssetOut:
    """An output the Parquet IO manager stores, split into days by ``partition_expr`` (the
    column a multi-day output is split by) where it has one."""
    return AssetOut(
        io_manager_key="parquet_io_manager",
        metadata={"partition_expr": partition_expr} if partition_expr else None,
        kinds={"spark", "parquet"},
        description=description,
    )
