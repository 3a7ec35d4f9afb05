"""``python -m energy_assets.doctor``: say in one sentence what is wrong before a run starts."""

import sys
import tempfile
from pathlib import Path

from energy_assets.settings import SettingsError, load_settings
from energy_assets.storage.spark import JavaMissingError, check_java


def check_writable(variable: str, path: Path) -> None:
    """Fail with one sentence unless files can be created under ``path``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as err:
        raise SettingsError(
            f"{variable}={path} cannot be written ({err.strerror or type(err).__name__})."
        ) from None


def main() -> int:
    """Check the settings, the folders and Java; print one sentence and return 1 on a problem."""
    try:
        settings = load_settings()
        check_writable("ENERGY_DATA_DIR", settings.data_dir)
        check_writable("ENERGY_HOME", settings.home)
        if settings.landed:
            if not settings.landing_dir.is_dir():
                raise SettingsError(f"ENERGY_LANDING_DIR={settings.landing_dir} is not a folder.")
            check_writable("ENERGY_LANDING_DIR", settings.landing_dir)
            if settings.houses_file and not settings.houses_file.is_file():
                raise SettingsError(f"ENERGY_HOUSES_FILE={settings.houses_file} is not a file.")
        check_java()
    except (JavaMissingError, SettingsError) as err:
        print(f"energy_assets: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
