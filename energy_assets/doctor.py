"""``python -m energy_assets.doctor``: say in one sentence what is missing before a run starts."""

import sys

from energy_assets.settings import SettingsError, load_settings
from energy_assets.storage.spark import JavaMissingError, check_java


def main() -> int:
    """Check Java and the settings; print one sentence and return 1 on the first problem."""
    try:
        load_settings()
        check_java()
    except (JavaMissingError, SettingsError) as err:
        print(f"energy_assets: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
