"""Refresh the message catalogues after templates or code change:

    .venv/bin/python scripts/translate.py

Extracts every message, merges them into gateway/translations/*/LC_MESSAGES/messages.po
and lists the ones that still need a translation. Translators edit the .po files.
"""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main() -> int:
    template = ROOT / "var" / "messages.pot"
    template.parent.mkdir(exist_ok=True)
    subprocess.run(
        [
            BIN / "pybabel",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "--no-location",
            "--sort-output",
            "-o",
            str(template),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    missing = 0
    for po in sorted((ROOT / "gateway" / "translations").glob("*/LC_MESSAGES/messages.po")):
        subprocess.run(
            [
                BIN / "pybabel",
                "-q",
                "update",
                "--no-fuzzy-matching",
                "-i",
                str(template),
                "-o",
                str(po),
                "-l",
                po.parts[-3],
            ],
            cwd=ROOT,
            check=True,
        )
        with open(po, "rb") as handle:
            untranslated = [m.id for m in read_po(handle) if m.id and not m.string]
        for message in untranslated:
            print(f"{po.parts[-3]}: untranslated: {message!r}")
        missing += len(untranslated)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
