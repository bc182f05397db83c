"""The German catalogue: every message of the code translated once, nothing fuzzy, nothing
twice (Babel would keep one of two translations without a word)."""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = sorted(ROOT.glob("gateway/translations/*/LC_MESSAGES/messages.po"))


def keys_in_raw_file(path: Path) -> list[tuple[str | None, str]]:
    """(msgctxt, msgid) of every live entry, read line by line as the file stands."""
    keys, field, parts = [], None, {}
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith('"') and field:
            parts[field] += line[1:-1]
            continue
        if field == "msgid":
            keys.append((parts.get("msgctxt"), parts["msgid"]))
            parts = {}
        match = re.match(r"(msgctxt|msgid) \"(.*)\"$", line)
        field = match.group(1) if match else None
        if match:
            parts[field] = match.group(2)
    return [key for key in keys if key != (None, "")]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The messages the code has, extracted as scripts/translate.py does."""
    template = tmp_path_factory.mktemp("catalogue") / "messages.pot"
    subprocess.run(
        [
            Path(sys.executable).parent / "pybabel",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "--no-location",
            "-o",
            str(template),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with open(template, "rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


def test_there_is_a_catalogue():
    assert [path.parts[-3] for path in CATALOGUES] == ["de"]


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: path.parts[-3])
def test_no_message_appears_twice(path):
    assert [key for key, count in Counter(keys_in_raw_file(path)).items() if count > 1] == []


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: path.parts[-3])
def test_every_message_is_translated_and_none_is_fuzzy(path):
    with open(path, "rb") as handle:
        catalogue = read_po(handle)
    assert not catalogue.fuzzy
    messages = [message for message in catalogue if message.id]
    assert [message.id for message in messages if message.fuzzy] == []
    untranslated = [
        message.id
        for message in messages
        if not all(message.string if isinstance(message.string, tuple) else [message.string])
    ]
    assert untranslated == []
    assert len(messages) == len(keys_in_raw_file(path))


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: path.parts[-3])
def test_the_catalogue_holds_exactly_the_messages_of_the_code(path, extracted):
    """A message missing here is shown in English; one the code no longer has is stale
    (scripts/translate.py refreshes the catalogue)."""
    with open(path, "rb") as handle:
        catalogue = {message.id for message in read_po(handle) if message.id}
    assert sorted(map(str, extracted - catalogue)) == []
    assert sorted(map(str, catalogue - extracted)) == []
