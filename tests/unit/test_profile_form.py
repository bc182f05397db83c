"""The profile editor's form, both ways: no Flask, no services."""

from __future__ import annotations

import copy

import pytest
from werkzeug.datastructures import MultiDict

from gateway.forms.profile import (
    MB,
    NEW_PROFILE,
    Problems,
    ProfileFormError,
    blank_row,
    definition_to_form,
    form_errors,
    form_to_definition,
    form_values,
    key_from_label,
    parse_approval,
    parse_field,
    parse_fields,
    parse_file_rules,
    parse_identity,
    parse_mediators,
    parse_publication,
    split_list,
    split_vocabulary,
    to_form_data,
)
from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.profiles import (
    ACCESS_POLICIES,
    DC_ELEMENTS,
    FIELD_TYPES,
    MEDIATOR_ROLES,
    ProfileDefinitionSchema,
)
from kernel.contracts.resource_types import DEFAULT as DEFAULT_RESOURCE_TYPE
from kernel.contracts.resource_types import RESOURCE_TYPES
from services.intake.seed import DEMO_PROFILES


def loaded(profile_id: str) -> dict:
    return ProfileDefinitionSchema().load(copy.deepcopy(DEMO_PROFILES[profile_id]))


def posted(definition: dict, **changes) -> MultiDict:
    """The editor for `definition`, posted as a browser posts it, with `changes` made."""
    data = to_form_data(definition_to_form(definition))
    for name, value in changes.items():
        data.setlist(name, [value] if value is not None else [])
    return data


def fails(data: MultiDict) -> dict[str, list[str]]:
    with pytest.raises(ProfileFormError) as caught:
        form_to_definition(data)
    assert isinstance(caught.value, InvalidInput)
    return caught.value.fields


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("profile_id", sorted(DEMO_PROFILES))
def test_a_demo_profile_survives_the_round_trip(profile_id):
    definition = loaded(profile_id)
    assert form_to_definition(posted(definition)) == (None, definition)


@pytest.mark.parametrize("profile_id", sorted(DEMO_PROFILES))
def test_the_id_of_a_new_profile_comes_back_with_it(profile_id):
    definition = loaded(profile_id)
    new_id, back = form_to_definition(posted({**definition, "id": profile_id}))
    assert new_id == profile_id and back == definition


def test_the_form_shows_what_the_thesis_profile_says():
    values = definition_to_form({**loaded("thesis"), "id": "thesis", "version": 3})
    assert values["id"] == "thesis" and values["active"] is True
    assert values["allowed_groups"] == "student"
    assert values["max_file_size_mb"] == "500" and values["max_total_size_mb"] == "1024"
    assert values["allowed_extensions"] == "pdf, zip, txt, csv, png, jpg"
    assert values["approval_mode"] == "manual" and values["approver_groups"] == "approvers"
    degree = values["fields"][-1]
    assert degree["key"] == "degree" and degree["type"] == "choice" and degree["dc"] == "type"
    assert split_vocabulary(degree["vocabulary"]) == ["Bachelor", "Master", "Doctorate"]


def test_every_setting_survives_the_round_trip():
    definition = ProfileDefinitionSchema().load(
        {
            "name": "Everything",
            "description": "All of it.",
            "instructions": "Read this.",
            "active": False,
            "allowed_groups": ["faculty", "staff"],
            "fields": [
                {
                    "key": "title",
                    "label": "Title",
                    "type": "text",
                    "dc": "title",
                    "required": True,
                    "help": "The full title.",
                },
                {
                    "key": "rights",
                    "label": "Licence",
                    "type": "licence",
                    "dc": "rights",
                    "vocabulary": ["CC BY 4.0", "CC0, public domain"],
                },
                {
                    "key": "tags",
                    "label": "Tags",
                    "type": "keywords",
                    "repeatable": True,
                    "max_values": 5,
                },
            ],
            "file_rules": {
                "min_files": 0,
                "max_files": 3,
                "max_file_size": 1000,
                "max_total_size": 3 * MB + 1,
                "allowed_extensions": [".pdf", "CSV"],
                "allowed_media_types": ["application/pdf", "text/csv"],
                "metadata_only_allowed": True,
                "virus_scan": True,
            },
            "approval": {"mode": "automatic", "approver_groups": ["library"]},
            "target_collection": "open-works",
            "access": "embargo",
            "embargo_max_months": 24,
            "terms": "Line one.\nLine two.",
            "resource_type": "dataset",
            "mediators": {"roles": ["manager"], "groups": ["library"]},
        }
    )
    assert form_to_definition(posted(definition)) == (None, definition)


# --- parsing -----------------------------------------------------------------------------


def test_sizes_are_entered_in_megabytes_and_stored_in_bytes():
    _, definition = form_to_definition(
        posted(loaded("thesis"), max_file_size_mb="0.5", max_total_size_mb="2,5")
    )
    assert definition["file_rules"]["max_file_size"] == MB // 2
    assert definition["file_rules"]["max_total_size"] == 5 * MB // 2


def test_lists_are_split_on_commas_and_lines_and_trimmed():
    _, definition = form_to_definition(
        posted(
            loaded("thesis"),
            allowed_groups=" student ,\nfaculty,, student ",
            allowed_extensions="pdf,  csv\r\nzip",
            approver_groups="",
        )
    )
    assert definition["allowed_groups"] == ["student", "faculty"]
    assert definition["file_rules"]["allowed_extensions"] == ["pdf", "csv", "zip"]
    assert definition["approval"]["approver_groups"] == []
    assert split_list("") == []


def test_a_vocabulary_is_one_value_a_line_or_comma_separated():
    assert split_vocabulary("Bachelor, Master ,Doctorate") == ["Bachelor", "Master", "Doctorate"]
    assert split_vocabulary("Smith, J.\nJones, K.\n\n") == ["Smith, J.", "Jones, K."]
    _, definition = form_to_definition(
        posted(loaded("thesis"), **{"fields-6-vocabulary": "BA, MA, PhD"})
    )
    assert definition["fields"][6]["vocabulary"] == ["BA", "MA", "PhD"]


def test_only_choice_and_licence_fields_keep_a_vocabulary():
    _, definition = form_to_definition(
        posted(loaded("thesis"), **{"fields-6-type": "text", "fields-6-vocabulary": "left over"})
    )
    assert definition["fields"][6]["type"] == "text"
    assert definition["fields"][6]["vocabulary"] == []


def test_checkboxes_count_when_present():
    data = posted(
        loaded("thesis"), active=None, **{"fields-0-required": None, "fields-1-repeatable": None}
    )
    data.add("virus_scan", "on")
    _, definition = form_to_definition(data)
    assert definition["active"] is False and definition["file_rules"]["virus_scan"] is True
    assert definition["fields"][0]["required"] is False
    assert definition["fields"][1]["repeatable"] is False


def test_blank_rows_are_dropped():
    data = posted(loaded("open-works"))
    for index in (20, 99):  # blank rows: no key, no label, whatever else they say
        data.add(f"fields-{index}-key", "  ")
        data.add(f"fields-{index}-label", "")
        data.add(f"fields-{index}-type", "choice")
        data.add(f"fields-{index}-required", "on")
    _, definition = form_to_definition(data)
    assert definition == loaded("open-works")
    assert len(form_values(data)["fields"]) == len(DEMO_PROFILES["open-works"]["fields"])


def test_rows_keep_the_order_of_their_numbers_not_of_the_post():
    data = MultiDict()
    for name, value in posted(loaded("open-works")).items(multi=True):
        if not name.startswith("fields-"):
            data.add(name, value)
    rows = [
        ("12", "date", "Date", "date"),
        ("3", "title", "Title", "title"),
        ("7", "abstract", "Abstract", "description"),
    ]
    for index, key, label, element in rows:
        data.add(f"fields-{index}-key", key)
        data.add(f"fields-{index}-label", label)
        data.add(f"fields-{index}-type", "text")
        data.add(f"fields-{index}-dc", element)
    _, definition = form_to_definition(data)
    assert [field["key"] for field in definition["fields"]] == ["title", "abstract", "date"]


def test_a_row_with_a_label_but_no_key_gets_a_key_from_the_label():
    data = posted(loaded("open-works"))
    data.add("fields-50-key", "")
    data.add("fields-50-label", "Date of Défense (2nd)")
    data.add("fields-50-type", "date")
    _, definition = form_to_definition(data)
    assert definition["fields"][-1]["key"] == "date_of_defense_2nd"
    assert key_from_label("2024 report") == "f_2024_report"


# --- problems ----------------------------------------------------------------------------


def test_bad_numbers_give_messages_for_their_inputs_not_an_exception():
    fields = fails(
        posted(
            loaded("thesis"),
            max_files="abc",
            min_files="1.5",
            max_file_size_mb="lots",
            max_total_size_mb="-3",
            embargo_max_months="soon",
            **{"fields-1-max_values": "many"},
        )
    )
    assert set(fields) == {
        "max_files",
        "min_files",
        "max_file_size_mb",
        "max_total_size_mb",
        "embargo_max_months",
        "fields-1-max_values",
    }
    assert fields["max_files"] == ["Enter a whole number, like 10."]
    assert fields["max_file_size_mb"] == ["Enter a number of megabytes, like 100 or 0.5."]
    assert fields["max_total_size_mb"] == ["Enter a size greater than 0 MB."]


def test_the_values_come_back_to_show_the_form_again():
    data = posted(loaded("thesis"), max_files="abc", name="Changed")
    with pytest.raises(ProfileFormError) as caught:
        form_to_definition(data)
    assert caught.value.values["max_files"] == "abc"
    assert caught.value.values["name"] == "Changed"
    assert len(caught.value.values["fields"]) == 7


@pytest.mark.parametrize("bad", ["Dataset", "journal-article\u202e", "x" * 10000, "__proto__"])
def test_a_resource_type_outside_the_vocabulary_is_refused_on_its_input(bad):
    assert fails(posted(loaded("thesis"), resource_type=bad)) == {
        "resource_type": ["Choose a resource type from the list."]
    }


def test_duplicate_keys_are_shown_on_each_row():
    fields = fails(posted(loaded("thesis"), **{"fields-1-key": "title"}))
    assert set(fields) == {"fields-0-key", "fields-1-key"}
    assert "unique" in fields["fields-1-key"][0]


def test_one_field_must_map_to_the_title():
    fields = fails(posted(loaded("thesis"), **{"fields-0-dc": ""}))
    assert list(fields) == ["fields"] and "title" in fields["fields"][0]


def test_rules_of_the_contract_come_back_per_input():
    fields = fails(
        posted(
            loaded("thesis"),
            min_files="9",
            max_files="2",
            name="",
            access="embargo",
            embargo_max_months="0",
            **{"fields-6-vocabulary": "", "fields-2-key": "Bad Key"},
        )
    )
    assert fields["name"] == ["Enter a name for the profile."]
    assert "fields-6-vocabulary" in fields and "fields-2-key" in fields
    # the contract's cross-field checks run once the fields themselves are right
    fields = fails(posted(loaded("thesis"), min_files="9", max_files="2"))
    assert fields == {"min_files": ["must not exceed max_files"]}
    fields = fails(posted(loaded("thesis"), access="embargo", embargo_max_months="0"))
    assert fields == {"embargo_max_months": ["must be at least 1 for an embargo policy"]}


def test_a_new_profile_needs_a_good_id():
    data = posted(NEW_PROFILE, name="Data", target_collection="open-works")
    data["id"] = ""
    assert fails(data) == {"id": ["Enter an ID for the profile."]}
    data["id"] = "Not OK"
    assert list(fails(data)) == ["id"]
    data["id"] = "data-sets"
    assert form_to_definition(data)[0] == "data-sets"


def test_a_profile_needs_a_field_a_collection_and_an_approval_mode():
    data = MultiDict({"name": "Bare"})
    fields = fails(data)
    assert {"fields", "target_collection", "approval_mode"} <= set(fields)


def test_service_messages_are_mapped_to_the_inputs():
    messages = {
        "definition": {
            "fields": {"2": {"key": ["bad"], "vocabulary": {"0": ["x"]}}, "_schema": ["general"]},
            "file_rules": {"max_file_size": ["too big"], "_schema": ["odd"]},
            "approval": {"mode": ["pick one"]},
            "name": ["already used"],
        },
        "profile_id": ["pattern"],
        "id": ["already used"],
        "something": ["else"],
    }
    assert form_errors(messages) == {
        "fields-2-key": ["bad"],
        "fields-2-vocabulary": ["x"],
        "fields": ["general"],
        "max_file_size_mb": ["too big"],
        "_form": ["odd", "else"],
        "approval_mode": ["pick one"],
        "name": ["already used"],
        "id": ["pattern", "already used"],
    }
    assert form_errors({"target_collection": ["unknown collection"]}) == {
        "target_collection": ["unknown collection"]
    }


def test_who_may_deposit_on_a_patrons_behalf_is_edited_as_roles_and_groups():
    thesis = loaded("thesis")
    assert definition_to_form(thesis)["mediator_roles"] == "staff"
    _, named = form_to_definition(
        posted(thesis, mediator_roles="staff, manager", mediator_groups="library\nregistry\n")
    )
    assert named["mediators"] == {"roles": ["staff", "manager"], "groups": ["library", "registry"]}
    # both left empty: the profile names nobody and the default rule applies
    _, unnamed = form_to_definition(posted(thesis, mediator_roles="", mediator_groups=""))
    assert unnamed["mediators"] is None
    assert fails(posted(thesis, mediator_roles="patron, staff")) == {
        "mediator_roles": ["Name staff roles only: approver, staff, manager or admin."]
    }
    assert set(fails(posted(thesis, mediator_groups="x" * 201))) == {"mediator_groups"}


# --- one section at a time ---------------------------------------------------------------


def parsed(section, *args):
    """What `section` makes of `args`, and the problems it found, per input."""
    problems = Problems()
    return section(*args, problems), problems.fields


def row(**changes) -> dict:
    return {**blank_row(), "key": "title", "label": "Title", "dc": "title", **changes}


def test_identity_takes_the_id_only_from_a_page_that_asks_for_one():
    assert parsed(parse_identity, {"name": " Data ", "allowed_groups": "a, b"}) == (
        (
            None,
            {
                "name": "Data",
                "description": "",
                "instructions": "",
                "active": False,
                "allowed_groups": ["a", "b"],
            },
        ),
        {},
    )
    (profile_id, _), problems = parsed(
        parse_identity, {"id": " data-1 ", "has_id": True, "name": "Data"}
    )
    assert profile_id == "data-1" and problems == {}


@pytest.mark.parametrize("bad", ["Data", "-data", "data_1", "d" * 65])
def test_identity_refuses_an_id_the_contract_refuses_in_the_editors_words(bad):
    _, problems = parsed(parse_identity, {"id": bad, "has_id": True, "name": "Data"})
    assert problems == {
        "id": [
            "Use lower-case letters, digits and hyphens, starting with a "
            "letter or digit (at most 64)."
        ]
    }


def test_a_row_needs_a_key_or_label_and_a_label():
    _, problems = parsed(parse_field, 0, row(key="", label=""), "", False)
    assert problems == {
        "fields-0-key": ["Enter a key, or a label to make one from."],
        "fields-0-label": ["Enter a label that depositors will see."],
    }


@pytest.mark.parametrize("bad", ["Title", "1st", "first-name", "k" * 65])
def test_a_row_key_the_contract_refuses_is_named_on_its_input(bad):
    _, problems = parsed(parse_field, 3, row(key=bad), bad, False)
    assert problems == {
        "fields-3-key": [
            "Use lower-case letters, digits and underscores, starting with a letter (at most 64)."
        ]
    }


def test_a_repeated_key_is_named_on_the_row():
    _, problems = parsed(parse_field, 1, row(), "title", True)
    assert problems == {"fields-1-key": ["Another field has this key; each key must be unique."]}


@pytest.mark.parametrize("kind", FIELD_TYPES)
def test_a_row_takes_every_type_of_the_contract(kind):
    field, problems = parsed(parse_field, 0, row(type=kind, vocabulary="a\nb"), "title", False)
    assert field["type"] == kind and "fields-0-type" not in problems


@pytest.mark.parametrize("element", DC_ELEMENTS)
def test_a_row_takes_every_dublin_core_element_of_the_contract(element):
    field, problems = parsed(parse_field, 0, row(dc=f" {element} "), "title", False)
    assert field["dc"] == element and problems == {}


def test_a_row_refuses_a_type_or_element_outside_the_lists():
    _, problems = parsed(parse_field, 0, row(type="number", dc="dc:title"), "title", False)
    assert problems == {
        "fields-0-type": ["Choose a type from the list."],
        "fields-0-dc": ["Choose a Dublin Core element from the list."],
    }


def test_a_choice_row_needs_a_value_and_a_licence_row_keeps_its_own():
    _, problems = parsed(parse_field, 2, row(type="choice", vocabulary=" \n "), "title", False)
    assert problems == {"fields-2-vocabulary": ["A choice field needs at least one value."]}
    field, problems = parsed(
        parse_field, 0, row(type="licence", vocabulary="CC0, CC BY", max_values="2"), "title", False
    )
    assert field["vocabulary"] == ["CC0", "CC BY"] and field["max_values"] == 2
    assert problems == {}


def test_the_metadata_form_needs_a_row():
    assert parsed(parse_fields, []) == (
        [],
        {"fields": ["Add at least one field to the metadata form."]},
    )


def test_the_metadata_form_makes_keys_from_labels_before_it_looks_for_repeats():
    fields, problems = parsed(parse_fields, [row(), row(key="", label="Title", dc="")])
    assert [field["key"] for field in fields] == ["title", "title"]
    assert set(problems) == {"fields-0-key", "fields-1-key"}


def test_file_rules_left_blank_are_left_to_the_contract():
    assert parsed(parse_file_rules, {}) == (
        {
            "allowed_extensions": [],
            "allowed_media_types": [],
            "metadata_only_allowed": False,
            "virus_scan": False,
        },
        {},
    )


def test_file_rules_refuse_extensions_and_media_types_the_contract_refuses():
    rules, problems = parsed(
        parse_file_rules,
        {"allowed_extensions": "pdf, p d f", "allowed_media_types": "text/csv\npdf"},
    )
    assert rules["allowed_extensions"] == ["pdf", "p d f"]
    assert problems == {
        "allowed_extensions": ["Write each extension as letters and digits only, like pdf or csv."],
        "allowed_media_types": ["Write each media type like application/pdf or image/png."],
    }


def test_approval_takes_the_contracts_modes_and_a_whole_number_of_days():
    assert parsed(parse_approval, {"approval_mode": " automatic ", "turnaround_days": "5"}) == (
        {"mode": "automatic", "approver_groups": [], "turnaround_days": 5},
        {},
    )
    _, problems = parsed(parse_approval, {"approval_mode": "Manual", "turnaround_days": "a week"})
    assert problems == {
        "approval_mode": ["Choose automatic or manual approval."],
        "turnaround_days": ["Enter a whole number, like 10."],
    }


def test_publication_fills_in_the_defaults_and_needs_a_collection():
    assert parsed(parse_publication, {}) == (
        {
            "target_collection": "",
            "resource_type": DEFAULT_RESOURCE_TYPE,
            "access": "open",
            "embargo_max_months": 0,
            "terms": "",
        },
        {"target_collection": ["Choose the collection that items go to."]},
    )


@pytest.mark.parametrize("access", ACCESS_POLICIES)
def test_publication_takes_every_access_policy_of_the_contract(access):
    publication, problems = parsed(parse_publication, {"target_collection": "c", "access": access})
    assert publication["access"] == access and problems == {}


@pytest.mark.parametrize("kind", sorted(RESOURCE_TYPES))
def test_publication_takes_every_resource_type_of_the_contract(kind):
    _, problems = parsed(parse_publication, {"target_collection": "c", "resource_type": kind})
    assert problems == {}


def test_publication_refuses_an_access_policy_outside_the_list():
    _, problems = parsed(parse_publication, {"target_collection": "c", "access": "closed"})
    assert problems == {"access": ["Choose an access policy from the list."]}


def test_mediators_take_every_role_of_the_contract_and_nothing_named_is_none():
    roles = ", ".join(MEDIATOR_ROLES)
    assert parsed(parse_mediators, {"mediator_roles": roles}) == (
        {"roles": list(MEDIATOR_ROLES), "groups": []},
        {},
    )
    assert parsed(parse_mediators, {"mediator_roles": " ", "mediator_groups": ""}) == (None, {})
