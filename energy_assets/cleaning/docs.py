"""``python -m energy_assets.cleaning.docs``: rewrite the rules table of docs/validation.md."""

import re
from pathlib import Path

from energy_assets.cleaning.rules import markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "validation.md"


def main() -> None:
    """Replace the table that starts with '| code |' by the one the rules give now."""
    text = DOC.read_text()
    new = re.sub(r"\| code \|.*?\n(?=\n)", markdown_table() + "\n", text, count=1, flags=re.S)
    DOC.write_text(new)


if __name__ == "__main__":
    main()
