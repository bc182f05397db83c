"""Deposit profiles as an HTML form, and back: no Flask here, so it is easy to test.

The editor posts flat names. A metadata-form row is `fields-<n>-<attribute>`, and the
rows are taken in the order of `<n>` (the script renumbers them after every move):

    id  name  description  instructions  active  allowed_groups
    fields-0-key  fields-0-label  fields-0-help  fields-0-type  fields-0-required
    fields-0-repeatable  fields-0-max_values  fields-0-dc  fields-0-vocabulary  ...
    min_files  max_files  max_file_size_mb  max_total_size_mb  allowed_extensions
    allowed_media_types  metadata_only_allowed  virus_scan
    approval_mode  approver_groups  target_collection  resource_type  access  embargo_max_months
    terms  mediator_roles  mediator_groups

The editor of a new profile has the `id` input, which then must not be blank; the editor
of an existing one has none. A checkbox counts as ticked when its name is present. Sizes are
entered in MB (1 MB = 1024 × 1024 bytes). Lists are comma- or line-separated. Mediator roles
and groups both left empty mean the profile names no mediators (the default rule applies). A
row with neither a key nor a label is ignored.

Problems come back as an `InvalidInput` whose `fields` maps an input's name to its
messages (`ProfileFormError`, which also carries the values to show the form again),
never as any other exception. Messages are English, marked with `N_` for the catalogue;
the page translates them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError
from marshmallow.fields import Field
from werkzeug.datastructures import MultiDict

from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.profiles import (
    ApprovalRuleSchema,
    FileRulesSchema,
    FormFieldSchema,
    MediatorsSchema,
    ProfileDefinitionSchema,
    SaveProfileRequest,
)
from kernel.contracts.resource_types import DEFAULT as DEFAULT_RESOURCE_TYPE
from kernel.policy.text import user_pattern


def N_(message: str) -> str:
    """Mark a message for the catalogue; it is translated where it is shown."""
    return message


MB = 1024 * 1024
ROW = user_pattern(r"^fields-(\d{1,4})-([a-z_]+)$")
ROW_ATTRIBUTES = (
    "key",
    "label",
    "help",
    "type",
    "required",
    "repeatable",
    "max_values",
    "dc",
    "vocabulary",
)
VOCABULARY_TYPES = ("choice", "licence")
LIST_SEPARATOR = user_pattern(r"[,\n\r]+")
NOT_KEY = user_pattern(r"[^a-z0-9]+")


def _rules(schema: Schema) -> dict[str, Field]:
    """A contract's fields by name; typed through `Schema`, as the profile schema's own
    `fields` attribute hides the type."""
    return schema.fields


# The contract's rules, a field each: the editor asks them whether a value passes and says
# in its own words how to put it right.
DEFINITION_RULES = _rules(ProfileDefinitionSchema())
ROW_RULES = _rules(FormFieldSchema())
FILE_RULES = _rules(FileRulesSchema())
APPROVAL_RULES = _rules(ApprovalRuleSchema())
MEDIATOR_RULES = _rules(MediatorsSchema())
PROFILE_ID_RULE = _rules(SaveProfileRequest())["profile_id"]

TEXT_INPUTS = (
    "id",
    "name",
    "description",
    "instructions",
    "allowed_groups",
    "min_files",
    "max_files",
    "max_file_size_mb",
    "max_total_size_mb",
    "allowed_extensions",
    "allowed_media_types",
    "approval_mode",
    "approver_groups",
    "turnaround_days",
    "target_collection",
    "resource_type",
    "access",
    "embargo_max_months",
    "terms",
    "mediator_roles",
    "mediator_groups",
)
# the file rules entered in MB, by their names in the contract
FILE_RULE_INPUTS = {"max_file_size": "max_file_size_mb", "max_total_size": "max_total_size_mb"}
CHECKBOXES = ("active", "metadata_only_allowed", "virus_scan")
ROW_CHECKBOXES = ("required", "repeatable")

# the order of the inputs on the page, for the error summary
FORM_ORDER = (
    "_form",
    "id",
    "name",
    "description",
    "instructions",
    "active",
    "allowed_groups",
    "mediator_roles",
    "mediator_groups",
    "fields",
    "min_files",
    "max_files",
    "max_file_size_mb",
    "max_total_size_mb",
    "allowed_extensions",
    "allowed_media_types",
    "metadata_only_allowed",
    "virus_scan",
    "approval_mode",
    "approver_groups",
    "turnaround_days",
    "target_collection",
    "resource_type",
    "access",
    "embargo_max_months",
    "terms",
)

NEW_PROFILE: dict[str, Any] = {
    "name": "",
    "description": "",
    "instructions": "",
    "active": True,
    "allowed_groups": [],
    "fields": [{"key": "title", "label": "Title", "type": "text", "required": True, "dc": "title"}],
    "file_rules": FileRulesSchema().load({}),
    "approval": {"mode": "manual", "approver_groups": []},
    "target_collection": "",
    "resource_type": DEFAULT_RESOURCE_TYPE,
    "access": "open",
    "embargo_max_months": 0,
    "terms": "",
}


class ProfileFormError(InvalidInput):
    """The form cannot become a profile; `fields` per input name, `values` to re-render."""

    def __init__(self, fields: dict[str, list[str]], values: dict):
        super().__init__(N_("Some of the profile's settings need attention."), fields=fields)
        self.values = values


# --- definition -> form ------------------------------------------------------------------


def _join(values: Iterable[str] | None) -> str:
    return ", ".join(values or ())


def _lines(values: Iterable[str] | None) -> str:
    """One value a line; the final newline tells the parser to split by lines only, so a
    value with a comma in it survives."""
    values = list(values or ())
    return "\n".join(values) + "\n" if values else ""


def _megabytes(size: int | None) -> str:
    if size is None:
        return ""
    exact = Decimal(size) / MB  # a power of two: always a finite decimal
    text = format(exact.normalize(), "f")
    return text


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def blank_row() -> dict:
    return {
        "key": "",
        "label": "",
        "help": "",
        "type": "text",
        "required": False,
        "repeatable": False,
        "max_values": "",
        "dc": "",
        "vocabulary": "",
    }


def _row_to_form(field: dict) -> dict:
    return {
        "key": field.get("key") or "",
        "label": field.get("label") or "",
        "help": field.get("help") or "",
        "type": field.get("type") or "text",
        "required": bool(field.get("required")),
        "repeatable": bool(field.get("repeatable")),
        "max_values": _number(field.get("max_values")),
        "dc": field.get("dc") or "",
        "vocabulary": _lines(field.get("vocabulary")),
    }


def definition_to_form(definition: dict) -> dict:
    """The values the editor shows for a profile definition (or a ProfileView)."""
    rules = {**FileRulesSchema().load({}), **(definition.get("file_rules") or {})}
    approval = definition.get("approval") or {}
    return {
        "id": definition.get("id") or "",
        "name": definition.get("name") or "",
        "description": definition.get("description") or "",
        "instructions": definition.get("instructions") or "",
        "active": bool(definition.get("active", True)),
        "allowed_groups": _join(definition.get("allowed_groups")),
        "mediator_roles": _join((definition.get("mediators") or {}).get("roles")),
        "mediator_groups": _join((definition.get("mediators") or {}).get("groups")),
        "fields": [_row_to_form(field) for field in definition.get("fields") or ()],
        "min_files": _number(rules["min_files"]),
        "max_files": _number(rules["max_files"]),
        "max_file_size_mb": _megabytes(rules["max_file_size"]),
        "max_total_size_mb": _megabytes(rules["max_total_size"]),
        "allowed_extensions": _join(rules["allowed_extensions"]),
        "allowed_media_types": _join(rules["allowed_media_types"]),
        "metadata_only_allowed": bool(rules["metadata_only_allowed"]),
        "virus_scan": bool(rules["virus_scan"]),
        "approval_mode": approval.get("mode") or "manual",
        "approver_groups": _join(approval.get("approver_groups")),
        "turnaround_days": _number(approval.get("turnaround_days")),
        "target_collection": definition.get("target_collection") or "",
        "resource_type": definition.get("resource_type") or DEFAULT_RESOURCE_TYPE,
        "access": definition.get("access") or "open",
        "embargo_max_months": _number(definition.get("embargo_max_months", 0)),
        "terms": definition.get("terms") or "",
    }


def to_form_data(values: dict) -> MultiDict:
    """`values` posted as the editor posts them (what a browser sends for the page)."""
    data: MultiDict = MultiDict()
    for name in TEXT_INPUTS:
        if name != "id" or values.get("id"):
            data.add(name, values.get(name, ""))
    for name in CHECKBOXES:
        if values.get(name):
            data.add(name, "on")
    for index, row in enumerate(values.get("fields") or ()):
        for attribute in ROW_ATTRIBUTES:
            if attribute in ROW_CHECKBOXES:
                if row.get(attribute):
                    data.add(f"fields-{index}-{attribute}", "on")
            else:
                data.add(f"fields-{index}-{attribute}", row.get(attribute, ""))
    return data


# --- form -> values ---------------------------------------------------------------------


def _is_blank(row: dict) -> bool:
    return not row["key"].strip() and not row["label"].strip()


def form_values(form: MultiDict) -> dict:
    """The submitted values in the shape `definition_to_form` gives, blank rows dropped, so
    the page can show them again exactly as entered."""
    values: dict[str, Any] = {name: form.get(name, "") for name in TEXT_INPUTS}
    values["has_id"] = "id" in form  # the editor of a new profile asks for one
    values.update({name: bool(form.getlist(name)) for name in CHECKBOXES})
    rows: dict[int, dict] = {}
    for name in form:
        match = ROW.match(name)
        if match and match.group(2) in ROW_ATTRIBUTES:
            rows.setdefault(int(match.group(1)), {})
    values["fields"] = []
    for index in sorted(rows):
        row = {
            attribute: form.get(f"fields-{index}-{attribute}", "")
            for attribute in ROW_ATTRIBUTES
            if attribute not in ROW_CHECKBOXES
        }
        row.update(
            {
                attribute: bool(form.getlist(f"fields-{index}-{attribute}"))
                for attribute in ROW_CHECKBOXES
            }
        )
        if not _is_blank(row):
            values["fields"].append(row)
    return values


# --- values -> definition ---------------------------------------------------------------


def split_list(text: str) -> list[str]:
    """Comma- or line-separated values, trimmed, empty ones and repeats dropped."""
    seen: list[str] = []
    for part in LIST_SEPARATOR.split(text or ""):
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return seen


def split_vocabulary(text: str) -> list[str]:
    """One value a line; or, written on a single line, separated by commas."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    parts = text.split("\n") if "\n" in text else text.split(",")
    seen: list[str] = []
    for part in parts:
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return seen


def key_from_label(label: str) -> str:
    """A field key made from its label: "Date of birth" -> "date_of_birth"."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    key = NOT_KEY.sub("_", ascii_label.lower()).strip("_")
    if key and not key[0].isalpha():
        key = "f_" + key
    return key[:64].rstrip("_")


class Problems:
    """The messages found so far, per input name, and the checks that find them."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def check(self, name: str, value: Any, rule: Field, message: str) -> bool:
        """Whether the contract's `rule` takes `value`; if not, `message` says how to fix it."""
        try:
            rule.deserialize(value)
        except ValidationError:
            self.add(name, message)
            return False
        return True

    def listed(self, name: str, text: str, rule: Field, message: str) -> list[str]:
        """`text` as a list (see `split_list`), which the contract's `rule` checks whole."""
        values = split_list(text)
        self.check(name, values, rule, message)
        return values

    def integer(self, name: str, text: str, default: Any = None) -> Any:
        text = (text or "").strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            self.add(name, N_("Enter a whole number, like 10."))
            return None

    def megabytes(self, name: str, text: str) -> int | None:
        text = (text or "").strip().replace(",", ".")
        if not text:
            return None
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            self.add(name, N_("Enter a number of megabytes, like 100 or 0.5."))
            return None
        if amount <= 0:
            self.add(name, N_("Enter a size greater than 0 MB."))
            return None
        return max(int((amount * MB).to_integral_value()), 1)


# One section of the editor each: the values of `form_values` in, a part of the definition
# out, every problem added to `problems` under its input's name.


def parse_identity(values: dict, problems: Problems) -> tuple[str | None, dict]:
    """The profile's id (None when the page has no id input) and what names and describes it."""
    profile_id = (values.get("id") or "").strip() or None
    if profile_id is None and values.get("has_id"):
        problems.add("id", N_("Enter an ID for the profile."))
    elif profile_id is not None:
        problems.check(
            "id",
            profile_id,
            PROFILE_ID_RULE,
            N_(
                "Use lower-case letters, digits and hyphens, starting with a "
                "letter or digit (at most 64)."
            ),
        )
    identity = {
        "name": (values.get("name") or "").strip(),
        "description": (values.get("description") or "").strip(),
        "instructions": (values.get("instructions") or "").strip(),
        "active": bool(values.get("active")),
        "allowed_groups": split_list(values.get("allowed_groups", "")),
    }
    if not identity["name"]:
        problems.add("name", N_("Enter a name for the profile."))
    return profile_id, identity


def parse_field(index: int, row: dict, key: str, repeated: bool, problems: Problems) -> dict:
    """Row `index` of the metadata form, whose key is `key` (perhaps made from its label);
    `repeated` when another row has that key too."""
    prefix = f"fields-{index}-"
    kind = row["type"].strip()
    field = {
        "key": key,
        "label": row["label"].strip(),
        "help": row["help"].strip(),
        "type": kind,
        "required": bool(row["required"]),
        "repeatable": bool(row["repeatable"]),
        "max_values": problems.integer(prefix + "max_values", row["max_values"]),
        "dc": row["dc"].strip() or None,
        "vocabulary": split_vocabulary(row["vocabulary"]) if kind in VOCABULARY_TYPES else [],
    }
    _check_key(prefix + "key", key, repeated, problems)
    if not field["label"]:
        problems.add(prefix + "label", N_("Enter a label that depositors will see."))
    problems.check(prefix + "type", kind, ROW_RULES["type"], N_("Choose a type from the list."))
    problems.check(
        prefix + "dc",
        field["dc"],
        ROW_RULES["dc"],
        N_("Choose a Dublin Core element from the list."),
    )
    if kind == "choice" and not field["vocabulary"]:
        problems.add(prefix + "vocabulary", N_("A choice field needs at least one value."))
    return field


def _check_key(name: str, key: str, repeated: bool, problems: Problems) -> None:
    if not key:
        problems.add(name, N_("Enter a key, or a label to make one from."))
        return
    well_formed = problems.check(
        name,
        key,
        ROW_RULES["key"],
        N_("Use lower-case letters, digits and underscores, starting with a letter (at most 64)."),
    )
    if well_formed and repeated:
        problems.add(name, N_("Another field has this key; each key must be unique."))


def parse_fields(rows: list[dict], problems: Problems) -> list[dict]:
    """The metadata form: its rows, of which one at least, and one mapped to the title."""
    keys = [row["key"].strip() or key_from_label(row["label"]) for row in rows]
    fields = [
        parse_field(index, row, key, keys.count(key) > 1, problems)
        for index, (row, key) in enumerate(zip(rows, keys, strict=True))
    ]
    if not fields:
        problems.add("fields", N_("Add at least one field to the metadata form."))
    elif not any(field["dc"] == "title" for field in fields):
        problems.add(
            "fields",
            N_("Map one field to the Dublin Core element title, so that every item has a title."),
        )
    return fields


def parse_file_rules(values: dict, problems: Problems) -> dict:
    """The file rules; a number left blank is left to the contract's default."""
    rules: dict[str, Any] = {}
    for name in ("min_files", "max_files"):
        number = problems.integer(name, values.get(name, ""))
        if number is not None:
            rules[name] = number
    for target, name in FILE_RULE_INPUTS.items():
        size = problems.megabytes(name, values.get(name, ""))
        if size is not None:
            rules[target] = size
    rules["allowed_extensions"] = problems.listed(
        "allowed_extensions",
        values.get("allowed_extensions", ""),
        FILE_RULES["allowed_extensions"],
        N_("Write each extension as letters and digits only, like pdf or csv."),
    )
    rules["allowed_media_types"] = problems.listed(
        "allowed_media_types",
        values.get("allowed_media_types", ""),
        FILE_RULES["allowed_media_types"],
        N_("Write each media type like application/pdf or image/png."),
    )
    rules["metadata_only_allowed"] = bool(values.get("metadata_only_allowed"))
    rules["virus_scan"] = bool(values.get("virus_scan"))
    return rules


def parse_approval(values: dict, problems: Problems) -> dict:
    """The approval rule: its mode, the approvers' groups and the days to a decision."""
    mode = (values.get("approval_mode") or "").strip()
    problems.check(
        "approval_mode", mode, APPROVAL_RULES["mode"], N_("Choose automatic or manual approval.")
    )
    approval = {"mode": mode, "approver_groups": split_list(values.get("approver_groups", ""))}
    turnaround = problems.integer("turnaround_days", values.get("turnaround_days", ""))
    if turnaround is not None:
        approval["turnaround_days"] = turnaround
    return approval


def parse_publication(values: dict, problems: Problems) -> dict:
    """Where items go and on what terms: collection, resource type, access, embargo, terms."""
    publication: dict[str, Any] = {
        "target_collection": (values.get("target_collection") or "").strip(),
        "resource_type": (values.get("resource_type") or DEFAULT_RESOURCE_TYPE).strip(),
        "access": (values.get("access") or "open").strip(),
    }
    if not publication["target_collection"]:
        problems.add("target_collection", N_("Choose the collection that items go to."))
    problems.check(
        "resource_type",
        publication["resource_type"],
        DEFINITION_RULES["resource_type"],
        N_("Choose a resource type from the list."),
    )
    problems.check(
        "access",
        publication["access"],
        DEFINITION_RULES["access"],
        N_("Choose an access policy from the list."),
    )
    months = problems.integer("embargo_max_months", values.get("embargo_max_months", ""), 0)
    if months is not None:
        publication["embargo_max_months"] = months
    publication["terms"] = (values.get("terms") or "").strip()
    return publication


def parse_mediators(values: dict, problems: Problems) -> dict | None:
    """Who may deposit on a patron's behalf; None when neither roles nor groups are named."""
    roles = problems.listed(
        "mediator_roles",
        values.get("mediator_roles", ""),
        MEDIATOR_RULES["roles"],
        N_("Name staff roles only: approver, staff, manager or admin."),
    )
    groups = split_list(values.get("mediator_groups", ""))
    return {"roles": roles, "groups": groups} if roles or groups else None


def _parse(values: dict) -> tuple[str | None, dict, dict[str, list[str]]]:
    problems = Problems()
    profile_id, identity = parse_identity(values, problems)
    definition = {
        **identity,
        "fields": parse_fields(values["fields"], problems),
        "file_rules": parse_file_rules(values, problems),
        "approval": parse_approval(values, problems),
        **parse_publication(values, problems),
        "mediators": parse_mediators(values, problems),
    }
    return profile_id, definition, problems.fields


def form_to_definition(form: MultiDict) -> tuple[str | None, dict]:
    """The posted editor as (profile id or None, definition for ProfileDefinitionSchema).

    Raises ProfileFormError (an InvalidInput) with messages per input name."""
    values = form_values(form)
    profile_id, definition, errors = _parse(values)
    schema_errors = form_errors(ProfileDefinitionSchema().validate(definition))
    rows_checked = any(name == "fields" or ROW.match(name) for name in errors)
    for name, messages in schema_errors.items():
        # one message an input, and ours are the friendlier ones: the schema's general
        # notes on the rows repeat what the rows' own messages say
        if name not in errors and not (name == "fields" and rows_checked):
            errors[name] = messages
    if errors:
        raise ProfileFormError(errors, values)
    return profile_id, ProfileDefinitionSchema().load(definition)


# --- error messages -> input names ------------------------------------------------------

APPROVAL_INPUTS = {
    "mode": "approval_mode",
    "approver_groups": "approver_groups",
    "turnaround_days": "turnaround_days",
}
TOP_LEVEL_INPUTS = frozenset(FORM_ORDER) - {"_form"}


def input_name(path: tuple[str, ...]) -> str:
    """The editor's input for an error path such as ('definition', 'file_rules', 'max_files')."""
    path = tuple(part for part in path if part != "_schema")
    if path[:1] == ("definition",):
        path = path[1:]
    if not path:
        return "_form"
    head = path[0]
    if head in ("profile_id", "id"):
        return "id"
    if head == "fields":
        if len(path) >= 3 and path[1].isdigit() and path[2] in ROW_ATTRIBUTES:
            return f"fields-{path[1]}-{path[2]}"
        if len(path) >= 2 and path[1].isdigit():
            return f"fields-{path[1]}-key"
        return "fields"
    if head == "file_rules":
        if len(path) >= 2:
            name = FILE_RULE_INPUTS.get(path[1], path[1])
            return name if name in TOP_LEVEL_INPUTS else "_form"
        return "_form"
    if head == "mediators":
        return "mediator_groups" if path[1:2] == ("groups",) else "mediator_roles"
    if head == "approval":
        return APPROVAL_INPUTS.get(path[1], "approval_mode") if len(path) >= 2 else "approval_mode"
    return head if head in TOP_LEVEL_INPUTS else "_form"


def form_errors(messages: Any) -> dict[str, list[str]]:
    """Nested marshmallow (or service) messages as {input name: [messages]}."""
    errors: dict[str, list[str]] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + (str(key),))
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item, path)
        elif node is not None:
            target = errors.setdefault(input_name(path), [])
            if str(node) not in target:
                target.append(str(node))

    walk(messages or {}, ())
    return errors


def error_order(name: str) -> tuple[int, int, int]:
    """Where an input stands on the page, so the error summary follows the form."""
    match = ROW.match(name)
    if match:
        attribute = match.group(2)
        return (
            FORM_ORDER.index("fields"),
            int(match.group(1)) + 1,
            ROW_ATTRIBUTES.index(attribute) if attribute in ROW_ATTRIBUTES else 99,
        )
    return (FORM_ORDER.index(name) if name in FORM_ORDER else len(FORM_ORDER), 0, 0)
