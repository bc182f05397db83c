"""Metadata validated against a profile's form: one test group per field type."""

from __future__ import annotations

import pytest

from services.intake.metadata import orcid_checksum_ok, title_of, validate_metadata

VALID_ORCID = "0000-0002-1825-0097"
WRONG_CHECK_DIGIT = "0000-0002-1825-0098"
VALID_ORCID_X = "0000-0002-1694-233X"  # check digit 10 is written X


def field(key, type_, *, required=False, repeatable=False, max_values=None, vocabulary=(), dc=None):
    return {
        "key": key,
        "label": key.title(),
        "help": "",
        "type": type_,
        "required": required,
        "repeatable": repeatable,
        "max_values": max_values,
        "dc": dc,
        "vocabulary": list(vocabulary),
    }


def errors_for(type_, value, **options):
    """Errors for one non-repeatable value of `type_` (None when it is valid)."""
    form = [field("f", type_, **options)]
    return validate_metadata(form, {"f": value}, complete=True).get("f")


# --- text and long_text -----------------------------------------------------------


@pytest.mark.parametrize("value", ["A thesis", "x", "Ünïcödé títle", "a" * 2000])
def test_text_accepts_non_empty_text_up_to_2000_characters(value):
    assert errors_for("text", value) is None


@pytest.mark.parametrize("value", ["   ", "\n\t", 42, ["a list"], {"a": 1}])
def test_text_rejects_blank_or_non_text(value):
    assert errors_for("text", value) == ["must be non-empty text"]


def test_text_rejects_more_than_2000_characters():
    assert errors_for("text", "a" * 2001) == ["must be at most 2000 characters"]


def test_long_text_allows_up_to_50000_characters():
    assert errors_for("long_text", "a" * 2001) is None
    assert errors_for("long_text", "a" * 50000) is None
    assert errors_for("long_text", "a" * 50001) == ["must be at most 50000 characters"]


# --- date ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2023", "2023-02", "2023-02-28", "2024-02-29", "1900-12-31"])
def test_date_accepts_full_and_partial_dates(value):
    assert errors_for("date", value) is None


@pytest.mark.parametrize(
    "value", ["2023-02-30", "2023-13", "2023-04-31", "2023-02-29", "2023-12-32", "0000"]
)
def test_date_rejects_impossible_dates(value):
    assert errors_for("date", value) == ["is not a real date"]


@pytest.mark.parametrize("value", ["2023-00", "2023-01-00", "2023-00-15"])
def test_date_rejects_month_or_day_zero(value):
    assert errors_for("date", value) == ["is not a real date"]


@pytest.mark.parametrize(
    "value",
    [
        "23",
        "2023-2",
        "2023-02-3",
        "2023/02/03",
        "03.02.2023",
        "2023-02-03T10:00",
        "spring 2023",
        2023,
        " ",
    ],
)
def test_date_rejects_other_notations(value):
    assert errors_for("date", value) == ["must be a date written YYYY, YYYY-MM or YYYY-MM-DD"]


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("date", "2023-02-03\n"),
        ("language", "en\n"),
        ("person", {"name": "Ada", "orcid": VALID_ORCID + "\n"}),
    ],
)
def test_values_with_a_trailing_newline_are_rejected(type_, value):
    assert errors_for(type_, value) is not None


# --- url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["https://example.org", "http://example.org/a?b=c#d", "https://doi.org/10.1000/182"]
)
def test_url_accepts_http_and_https(value):
    assert errors_for("url", value) is None


@pytest.mark.parametrize(
    "value",
    [
        "ftp://example.org/file",
        "example.org",
        "https://",
        "mailto:someone@example.org",
        "javascript:alert(1)",
        "/relative/path",
        17,
    ],
)
def test_url_rejects_other_schemes_missing_host_or_non_text(value):
    assert errors_for("url", value) == ["must be an http or https URL"]


def test_malformed_url_is_a_field_error_not_a_crash():
    assert errors_for("url", "http://[not-an-address") == ["must be an http or https URL"]


# --- language -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["en", "de", "fra", "en-GB", "zh-Hant-TW", "sr-Latn"])
def test_language_accepts_language_tags(value):
    assert errors_for("language", value) is None


@pytest.mark.parametrize("value", ["EN", "e", "english", "en_GB", "en-", "en-G", 1])
def test_language_rejects_other_values(value):
    assert errors_for("language", value) == ["must be a language code such as 'en' or 'de'"]


# --- choice and licence -------------------------------------------------------------


def test_choice_accepts_only_vocabulary_terms():
    vocabulary = ["article", "thesis", "dataset"]
    assert errors_for("choice", "thesis", vocabulary=vocabulary) is None
    assert errors_for("choice", "Thesis", vocabulary=vocabulary) == [
        "must be one of: article, thesis, dataset"
    ]
    assert errors_for("choice", "poem", vocabulary=vocabulary) == [
        "must be one of: article, thesis, dataset"
    ]


def test_licence_with_vocabulary_is_a_choice():
    vocabulary = ["CC-BY-4.0", "CC0-1.0"]
    assert errors_for("licence", "CC0-1.0", vocabulary=vocabulary) is None
    assert errors_for(
        "licence", "https://creativecommons.org/licenses/by/4.0/", vocabulary=vocabulary
    ) == ["must be one of: CC-BY-4.0, CC0-1.0"]


def test_licence_without_vocabulary_must_be_a_url():
    assert errors_for("licence", "https://creativecommons.org/licenses/by/4.0/") is None
    assert errors_for("licence", "CC-BY-4.0") == ["must be an http or https URL"]


# --- person and ORCID ---------------------------------------------------------------


def test_orcid_checksum_of_known_identifiers():
    assert orcid_checksum_ok(VALID_ORCID) is True
    assert orcid_checksum_ok(VALID_ORCID_X) is True
    assert orcid_checksum_ok(WRONG_CHECK_DIGIT) is False
    assert orcid_checksum_ok("0000-0002-1694-2330") is False
    assert orcid_checksum_ok(VALID_ORCID.replace("-", "")) is True


@pytest.mark.parametrize(
    "value",
    [
        {"name": "Josiah Carberry"},
        {"name": "Josiah Carberry", "orcid": VALID_ORCID},
        {"name": "Josiah Carberry", "orcid": f"https://orcid.org/{VALID_ORCID}"},
        {"name": "Someone", "orcid": VALID_ORCID_X},
        {"name": "No iD", "orcid": ""},
        {"name": "No iD", "orcid": None},
    ],
)
def test_person_accepts_name_with_optional_valid_orcid(value):
    assert errors_for("person", value) is None


def test_person_rejects_orcid_with_wrong_check_digit():
    value = {"name": "Josiah Carberry", "orcid": WRONG_CHECK_DIGIT}
    assert errors_for("person", value) == ["has an ORCID iD whose check digit is wrong"]


@pytest.mark.parametrize(
    "orcid",
    [
        "0000000218250097",
        "0000-0002-1825-009",
        "x000-0002-1825-0097",
        "http://orcid.org/0000-0002-1825-0097",
        "0000-0002-1825-009x",
        12345,
    ],
)
def test_person_rejects_badly_written_orcid(orcid):
    assert errors_for("person", {"name": "A", "orcid": orcid}) == [
        "has an ORCID iD that is not written 0000-0000-0000-0000"
    ]


@pytest.mark.parametrize("value", ["Josiah Carberry", ["Josiah"], {"name": "A", "email": "a@b"}])
def test_person_must_be_a_mapping_of_name_and_orcid(value):
    assert errors_for("person", value) == ["must be a person: {name, orcid?}"]


@pytest.mark.parametrize("value", [{"name": "  "}, {"orcid": VALID_ORCID}, {"name": 7}])
def test_person_needs_a_name(value):
    assert errors_for("person", value) == ["needs a name"]


# --- keywords -----------------------------------------------------------------------


def test_keywords_accepts_a_list_of_words():
    assert errors_for("keywords", ["moss", "bryophytes"]) is None


def test_keywords_rejects_a_string():
    assert errors_for("keywords", "moss, bryophytes") == ["must be a list of keywords"]


@pytest.mark.parametrize("value", [["moss", ""], ["moss", "  "], ["moss", 3]])
def test_keywords_rejects_blank_or_non_text_words(value):
    assert errors_for("keywords", value) == ["must contain only non-empty keywords"]


# --- the form as a whole ------------------------------------------------------------

FORM = [
    field("title", "text", required=True, dc="title"),
    field("abstract", "long_text"),
    field("creators", "person", required=True, repeatable=True, max_values=3, dc="creator"),
    field("issued", "date", required=True, dc="date"),
    field("subjects", "keywords"),
]
GOOD = {
    "title": "On Moss",
    "creators": [{"name": "Ada", "orcid": VALID_ORCID}, {"name": "Bea"}],
    "issued": "2023-05",
    "subjects": ["moss"],
}


def test_complete_valid_metadata_has_no_errors():
    assert validate_metadata(FORM, GOOD, complete=True) == {}


def test_unknown_keys_are_rejected_even_in_a_draft():
    errors = validate_metadata(FORM, {**GOOD, "colour": "blue", "Title": "x"}, complete=False)
    assert errors == {
        "colour": ["is not a field of this profile"],
        "Title": ["is not a field of this profile"],
    }


def test_a_draft_may_leave_required_fields_empty():
    assert validate_metadata(FORM, {}, complete=False) == {}
    assert (
        validate_metadata(FORM, {"title": "", "creators": [], "issued": None}, complete=False) == {}
    )


def test_submission_requires_required_fields():
    errors = validate_metadata(FORM, {"abstract": "Only an abstract"}, complete=True)
    assert errors == {
        "title": ["is required"],
        "creators": ["is required"],
        "issued": ["is required"],
    }


@pytest.mark.parametrize("empty", [None, "", [], {}])
def test_empty_values_count_as_missing(empty):
    errors = validate_metadata(FORM, {**GOOD, "title": empty}, complete=True)
    assert errors == {"title": ["is required"]}


def test_draft_values_that_are_present_are_still_checked():
    errors = validate_metadata(FORM, {"issued": "2023-02-30"}, complete=False)
    assert errors == {"issued": ["is not a real date"]}


def test_repeatable_field_must_be_a_list():
    errors = validate_metadata(FORM, {**GOOD, "creators": {"name": "Ada"}}, complete=True)
    assert errors == {"creators": ["must be a list"]}


def test_repeatable_field_respects_max_values():
    three = [{"name": n} for n in "ABC"]
    assert validate_metadata(FORM, {**GOOD, "creators": three}, complete=True) == {}
    errors = validate_metadata(FORM, {**GOOD, "creators": three + [{"name": "D"}]}, complete=True)
    assert errors == {"creators": ["allows at most 3 values"]}


def test_repeatable_field_without_max_values_takes_any_number():
    form = [field("tags", "text", repeatable=True)]
    assert validate_metadata(form, {"tags": [f"t{i}" for i in range(100)]}, complete=True) == {}


def test_repeatable_field_errors_name_each_bad_value():
    creators = [{"name": "Ada"}, {"name": "Bea", "orcid": WRONG_CHECK_DIGIT}, "Cy"]
    errors = validate_metadata(FORM, {**GOOD, "creators": creators}, complete=True)
    assert errors == {
        "creators": [
            "value 2 has an ORCID iD whose check digit is wrong",
            "value 3 must be a person: {name, orcid?}",
        ]
    }


def test_non_repeatable_field_rejects_a_list():
    errors = validate_metadata(FORM, {**GOOD, "title": ["On Moss"]}, complete=True)
    assert errors == {"title": ["must be non-empty text"]}


def test_errors_are_reported_for_every_bad_field_at_once():
    bad = {"title": " ", "creators": [{"name": "Ada"}], "issued": "May 2023", "subjects": "moss"}
    errors = validate_metadata(FORM, bad, complete=True)
    assert set(errors) == {"title", "issued", "subjects"}


# --- title_of -----------------------------------------------------------------------


def test_title_of_reads_the_field_mapped_to_dc_title():
    form = [field("name", "text"), field("main_title", "text", dc="title")]
    assert title_of(form, {"name": "not this", "main_title": "On Moss"}) == "On Moss"


def test_title_of_takes_the_first_value_of_a_repeatable_title():
    form = [field("titles", "text", repeatable=True, dc="title")]
    assert title_of(form, {"titles": ["On Moss", "Über Moos"]}) == "On Moss"
    assert title_of(form, {"titles": []}) == ""


def test_title_of_is_empty_without_a_title_field_or_value():
    assert title_of([field("name", "text")], {"name": "On Moss"}) == ""
    assert title_of(FORM, {}) == ""
    assert title_of(FORM, {"title": None}) == ""
