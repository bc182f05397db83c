"""An item's DataCite metadata: valid against DataCite's kernel 4.5 JSON schema (the
`datacite` package's), whatever the record holds, and carrying what the item says."""

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from datacite import schema45

from kernel.platform.config import SettingsError, load_settings
from services.inventory.datacite import attributes
from services.inventory.identifiers import mint_doi
from services.inventory.versions import has_versions

URL = "https://repository.example.edu/items/0123456789abcdef0123456789abcdef"


def item(**overrides):
    return {
        "id": "0123456789abcdef0123456789abcdef",
        "identifier": "ark:/99999/lodge-0123456789abcdef",
        "doi": "10.80000/0123456789abcdef",
        "record": {
            "title": ["Mosses of the northern fells"],
            "creator": ["Sam Student", "Kim Co"],
            "subject": ["bryophytes", "uplands", "bryophytes"],
            "description": ["Ten years of moss."],
            "date": ["2026-05"],
            "language": ["en"],
            "rights": ["https://creativecommons.org/licenses/by/4.0/"],
        },
        "creators": [
            {"name": "Sam Student", "orcid": "0000-0002-1825-0097"},
            {"name": "Kim Co", "orcid": None},
        ],
        "resource_type": "master-thesis",
        "access": "embargo",
        "embargo_until": date(2027, 1, 1),
        "created_at": datetime(2026, 11, 29, 10, tzinfo=UTC),
        "withdrawn_at": None,
        "representations": [
            {
                "files": [
                    {"size": 1234, "media_type": "application/pdf"},
                    {"size": 99, "media_type": "text/csv"},
                ]
            }
        ],
        **overrides,
    }


def valid(data: dict) -> dict:
    errors = [error.message for error in schema45.validator.iter_errors(data)]
    assert errors == []
    return data


def test_a_full_record_is_valid_datacite_and_says_what_the_item_is():
    data = valid(attributes(item(), URL, "Lodge"))
    assert data["doi"] == "10.80000/0123456789abcdef" and data["url"] == URL
    assert data["types"] == {"resourceTypeGeneral": "Dissertation", "resourceType": "Master thesis"}
    assert data["creators"][0] == {
        "name": "Sam Student",
        "nameType": "Personal",
        "nameIdentifiers": [
            {
                "nameIdentifier": "https://orcid.org/0000-0002-1825-0097",
                "nameIdentifierScheme": "ORCID",
                "schemeUri": "https://orcid.org",
            }
        ],
    }
    assert data["creators"][1] == {"name": "Kim Co"}
    assert data["publisher"] == {"name": "Lodge"}
    assert data["publicationYear"] == "2026"
    assert data["subjects"] == [{"subject": "bryophytes"}, {"subject": "uplands"}]
    assert data["dates"] == [
        {"date": "2026-05", "dateType": "Issued"},
        {"date": "2027-01-01", "dateType": "Available"},  # the embargo's end
    ]
    assert data["rightsList"] == [
        {"rights": "embargoed access", "rightsUri": "http://purl.org/coar/access_right/c_f1cf"},
        {
            "rights": "https://creativecommons.org/licenses/by/4.0/",
            "rightsUri": "https://creativecommons.org/licenses/by/4.0/",
        },
    ]
    assert data["alternateIdentifiers"] == [
        {
            "alternateIdentifier": "ark:/99999/lodge-0123456789abcdef",
            "alternateIdentifierType": "ARK",
        }
    ]
    assert data["formats"] == ["application/pdf", "text/csv"]
    assert data["sizes"] == ["1234 bytes", "99 bytes"]
    assert data["language"] == "en"
    assert data["schemaVersion"] == "http://datacite.org/schema/kernel-4"


def test_relations_to_other_versions_become_related_identifiers():
    relations = [
        {
            "relation_type": "IsNewVersionOf",
            "identifier": "10.80000/older",
            "identifier_type": "DOI",
        },
        {
            "relation_type": "IsVersionOf",
            "identifier": "10.80000/concept",
            "identifier_type": "DOI",
        },
        {"relation_type": "IsNewVersionOf", "identifier": "x", "identifier_type": "Nonsense"},
    ]
    data = valid(attributes(item(relations=relations), URL, "Lodge"))
    assert data["relatedIdentifiers"] == [
        {
            "relatedIdentifier": "10.80000/older",
            "relatedIdentifierType": "DOI",
            "relationType": "IsNewVersionOf",
        },
        {
            "relatedIdentifier": "10.80000/concept",
            "relatedIdentifierType": "DOI",
            "relationType": "IsVersionOf",
        },
    ]


def test_a_concept_doi_has_its_versions_and_stays_valid():
    work = [
        SimpleNamespace(identifier="ark:/99999/lodge-1", doi="10.80000/one"),
        SimpleNamespace(identifier="ark:/99999/lodge-2", doi="10.80000/two"),
    ]
    concept = item(doi="10.80000/work", identifier="ark:/99999/lodge-work")
    data = valid(attributes({**concept, "relations": has_versions(work)}, URL, "Lodge"))
    assert data["relatedIdentifiers"] == [
        {"relatedIdentifier": doi, "relatedIdentifierType": "DOI", "relationType": "HasVersion"}
        for doi in ("10.80000/one", "10.80000/two")
    ]


def test_a_thin_or_odd_record_stays_valid():
    thin = item(
        record={"date": ["spring of 2026"], "language": ["English (UK)"], "rights": ["CC BY"]},
        creators=[],
        resource_type=None,
        access="open",
        embargo_until=None,
        representations=[],
        identifier="20.500.12345/abc",
    )
    data = valid(attributes(thin, URL, "Lodge"))
    assert data["creators"] == [{"name": ":unav"}] and data["titles"] == [{"title": ":unav"}]
    assert data["publicationYear"] == "2026"  # from the creation date: the record's is no date
    assert data["dates"] == [{"date": "2026-11-29", "dateType": "Available"}]
    assert "language" not in data
    assert data["alternateIdentifiers"][0]["alternateIdentifierType"] == "Handle"
    assert data["rightsList"][1] == {"rights": "CC BY"}


def test_a_withdrawn_item_says_when():
    withdrawn = item(withdrawn_at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    data = valid(attributes(withdrawn, URL, "Lodge"))
    assert {"date": "2026-12-01", "dateType": "Withdrawn"} in data["dates"]


def test_an_item_without_a_doi_has_metadata_all_the_same():
    assert "doi" not in valid(attributes(item(doi=None), URL, "Lodge"))


def test_a_doi_is_minted_from_the_item_so_minting_again_gives_the_same():
    assert mint_doi("10.80000", "0123456789abcdef0123") == "10.80000/0123456789abcdef"
    assert mint_doi("10.80000", "0123456789abcdef0123") == mint_doi("10.80000", "0123456789abcdef")


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"LODGE_DATACITE_PREFIX": "11.5072"}, "must be a DOI prefix"),
        ({"LODGE_DATACITE_PREFIX": "10.5072/x"}, "must be a DOI prefix"),
        ({"LODGE_DATACITE_PREFIX": "10."}, "must be a DOI prefix"),
        ({"LODGE_DATACITE_PREFIX": "10.5072", "LODGE_DATACITE_PASSWORD": ""}, "_PASSWORD"),
    ],
)
def test_datacite_on_needs_a_prefix_and_an_account(tmp_path, environ, problem):
    base = {
        "LODGE_DATA_DIR": str(tmp_path),
        "LODGE_DATACITE_ENABLED": "true",
        "LODGE_DATACITE_USERNAME": "LODGE.TEST",
        "LODGE_DATACITE_PASSWORD": "pw-1",
    }
    with pytest.raises(SettingsError, match=problem):
        load_settings({**base, **environ})


def test_the_datacite_password_is_never_in_the_settings_repr(tmp_path):
    settings = load_settings(
        {
            "LODGE_DATA_DIR": str(tmp_path),
            "LODGE_DATACITE_ENABLED": "true",
            "LODGE_DATACITE_PREFIX": "10.5072",
            "LODGE_DATACITE_USERNAME": "LODGE.TEST",
            "LODGE_DATACITE_PASSWORD": "very-private-words",
        }
    )
    assert settings.datacite.password == "very-private-words"
    assert "very-private-words" not in repr(settings)
