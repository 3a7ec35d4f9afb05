"""The data directory (``ENERGY_DATA_DIR``): Parquet assets and their staging folders."""

from pathlib import Path

from dagster import ConfigurableResource


class LakeResource(ConfigurableResource):
    """Where the Parquet assets live; a cluster's executors must see the same path."""

    data_dir: str

    def path(self, *parts: str) -> Path:
        """A path inside the data directory."""
        return Path(self.data_dir).joinpath(*parts)
