"""The limits validation applies agree with the columns that keep the text, for every owner,
and the text rule itself: NFC, refused characters, names with ORCID iDs."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from marshmallow import Schema, validate
from sqlalchemy import String

from gateway.api import schemas as api_schemas
from gateway.models import Base as GatewayBase
from kernel import contracts
from kernel.contracts.fields import Text
from kernel.contracts.inventory import SaveCollectionRequest
from kernel.contracts.profiles import FIELD_TYPES, ProfileDefinitionSchema
from kernel.policy import text
from services.approval.models import Base as ApprovalBase
from services.intake.models import Base as IntakeBase
from services.inventory.models import Base as InventoryBase
from services.letters.models import Base as LettersBase
from services.validation.models import Base as ValidationBase

OWNERS = {
    "intake": IntakeBase,
    "validation": ValidationBase,
    "approval": ApprovalBase,
    "letters": LettersBase,
    "inventory": InventoryBase,
    "gateway": GatewayBase,
}
# each column that keeps text people wrote, with the kind of text it keeps
TEXT_COLUMNS = {
    "intake": {"deposits.title": "title", "deposit_history.reason_label": "label"},
    "validation": {},
    "approval": {
        "review_tasks.title": "title",
        "review_tasks.depositor_name": "name",
        "reasons.label": "label",
    },
    "letters": {
        "letters.recipient_name": "name",
        "pending_reviews.title": "title",
        "digest_entries.subject": "title",
        "recipients.name": "name",
    },
    "inventory": {},
    "gateway": {"users.name": "name", "campus_systems.label": "name"},
}
# column names that hold people's text: a new column by one of them must be listed above
TEXT_NAMES = {"title", "name", "label", "reason_label", "depositor_name", "recipient_name"}
# columns sized by their own validator, not by a kind
SIZED_BY_VALIDATOR = {
    "intake": {"profiles.name": (ProfileDefinitionSchema, "name")},
    "inventory": {"collections.name": (SaveCollectionRequest, "name")},
}
NOT_PEOPLES_TEXT = {
    "inventory": {
        "representations.label",  # Lodge names representations
        "running_jobs.name",
    },  # Lodge names its jobs
    # checked by the token form, 100; a system's name is a slug (SYSTEM_NAME)
    "gateway": {"api_tokens.name", "campus_systems.name"},
}


def _columns(base):
    for table in base.metadata.tables.values():
        for column in table.columns:
            yield f"{table.name}.{column.name}", column


def _max_length(schema, name) -> int:
    field = schema().fields[name]
    return min(v.max for v in field.validators if isinstance(v, validate.Length))


@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_every_column_holds_the_longest_text_validation_lets_through(owner):
    columns = dict(_columns(OWNERS[owner]))
    for name, kind in TEXT_COLUMNS[owner].items():
        length = columns[name].type.length
        assert length is None or length >= text.LIMITS[kind], f"{name} holds {length} < {kind}"
    for name, (schema, field) in SIZED_BY_VALIDATOR.get(owner, {}).items():
        assert columns[name].type.length >= _max_length(schema, field), name
    unlisted = sorted(
        name
        for name, column in columns.items()
        if isinstance(column.type, String)
        and name.split(".")[1] in TEXT_NAMES
        and name not in TEXT_COLUMNS[owner]
        and name not in SIZED_BY_VALIDATOR.get(owner, {})
        and name not in NOT_PEOPLES_TEXT.get(owner, set())
    )
    assert unlisted == [], "say which kind of text these columns keep"


def test_a_title_field_of_any_type_fits_the_title_columns():
    for field_type in FIELD_TYPES:
        assert text.limit_for({"type": field_type, "dc": "title"}) == text.LIMITS["title"]


def test_text_fields_of_the_contracts_use_their_kinds_limit():
    found = 0
    modules = [
        importlib.import_module(f"kernel.contracts.{info.name}")
        for info in pkgutil.iter_modules(contracts.__path__)
    ] + [api_schemas]
    schemas = {
        schema
        for module in modules
        for schema in vars(module).values()
        if isinstance(schema, type) and issubclass(schema, Schema)
    }
    for schema in schemas:
        for name, field in schema().fields.items():
            if isinstance(field, Text):
                found += 1
                assert _max_length(schema, name) == text.LIMITS[field.kind]
    assert found >= 10


def test_the_text_rule():
    assert text.problem("Caf\u00e9 \t\n\r ok") is None
    assert text.problem("a\x0bb") == "contains a character XML cannot carry (U+000B)"
    assert text.problem("a\ud800") == "contains a lone surrogate"
    assert text.problem("a\u2069") == "contains a bidirectional override (U+2069)"
    assert text.check("Cafe\u0301", 4) is None  # counted in NFC
    assert text.clean("Cafe\u0301\x01\u202e") == "Caf\u00e9"
    assert text.one_line("Jo\r\nBcc: x\x0b") == "Jo Bcc: x"


DIRTY_STRINGS = [
    "a\x00b",
    "a\x08b",  # JSON writes \b
    "a\x0cb",  # JSON writes \f
    "a\x0bb",
    "a\x1fb",
    "a\ud800b",
    "a\ufffeb",
    "a\u202eb",
    "a\u2066b",
    "Cafe\u0301",  # not NFC
    "\u0301 starts with a combining mark, then e\u0301",
]
CLEAN_STRINGS = [
    "Caf\u00e9 \t\n\r ok",
    'quotes " and \u00e9 and \U0001f600',
    "",
]


@pytest.mark.parametrize("dirty", DIRTY_STRINGS)
def test_clean_tree_cleans_every_string_wherever_it_is(dirty):
    tree = {"title": ["ok", dirty], dirty: {"nested": [[dirty]]}, "n": 3, "none": None}
    assert text.clean_tree(tree) == text.map_strings(text.clean, tree)
    assert text.clean_tree(tree) != tree


@pytest.mark.parametrize("value", CLEAN_STRINGS)
def test_clean_tree_gives_a_clean_tree_back_unchanged(value):
    tree = {"title": [value], value: {"nested": [value, 1.5, True]}}
    assert text.clean_tree(tree) is tree
    assert text.map_strings(text.clean, tree) == tree


def test_clean_tree_keeps_backslashes_that_only_look_like_refused_escapes():
    tree = {"t": ["back\\slash then b: \\b, \\f and \\u0041"]}  # taken the long way
    assert text.clean_tree(tree) == tree


def test_clean_tree_of_a_value_that_is_not_json_still_cleans():
    assert text.clean_tree({"at": object, "s": "a\x0bb"}) == {"at": object, "s": "ab"}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Sam Student (ORCID 0000-0002-1825-0097)", ("Sam Student", "0000-0002-1825-0097")),
        ("Sam (https://orcid.org/0000-0002-1694-233x) ", ("Sam", "0000-0002-1694-233X")),
        ("Sam (Jr.)", ("Sam (Jr.)", None)),
        ("A" + " " * 40000 + "B", ("A" + " " * 40000 + "B", None)),
    ],
)
def test_a_name_is_split_from_its_orcid_id(value, expected):
    assert text.split_orcid(value) == expected
