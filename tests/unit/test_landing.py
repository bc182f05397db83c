"""What landing pages tell people and machines, from an item's Dublin Core record."""

import json

from gateway.presenters import landing

ITEM = {
    "id": "i1",
    "identifier": "ark:/99999/lodge-1",
    "access": "open",
    "embargo_until": None,
    "resource_type": "master-thesis",
    "record": {
        "title": ["On Moss"],
        "date": ["2026-05-01"],
        "type": ["Master"],
        "creator": [
            "Sam Student (ORCID 0000-0002-1825-0097)",
            "Faculty, Fran Anne",
            "Ada Lovelace (https://orcid.org/0000-0001-2345-678X)",
        ],
        "subject": ["moss"],
        "description": ["Mosses of the north."],
    },
    "representations": [
        {
            "files": [
                {"id": "f1", "filename": "a.csv", "size": 10, "media_type": "text/csv"},
                {"id": "f2", "filename": "b.pdf", "size": 20, "media_type": "application/pdf"},
            ]
        }
    ],
}


def file_url(stored):
    return f"https://repo.example/files/{stored['id']}"


def test_creators_carry_their_orcid_ids_in_any_of_the_usual_spellings():
    people = landing.creators(ITEM)
    assert [(p.name, p.orcid) for p in people] == [
        ("Sam Student", "0000-0002-1825-0097"),
        ("Faculty, Fran Anne", None),
        ("Ada Lovelace", "0000-0001-2345-678X"),
    ]
    assert [p.inverted for p in people] == ["Student, Sam", "Faculty, Fran Anne", "Lovelace, Ada"]
    assert people[0].orcid_url == "https://orcid.org/0000-0002-1825-0097"


def test_creators_kept_by_inventory_come_first():
    item = {
        **ITEM,
        "creators": [
            {"name": "Sam Student", "orcid": "0000-0002-1825-009x"},
            {"name": "Fran Faculty", "orcid": None},
        ],
    }
    assert [(p.name, p.orcid) for p in landing.creators(item)] == [
        ("Sam Student", "0000-0002-1825-009X"),
        ("Fran Faculty", None),
    ]


def test_scholar_tags_name_the_pdf_only_when_the_files_are_visible():
    tags = landing.meta_tags(ITEM, "Lodge", file_url, visible=True)
    assert ("citation_publication_date", "2026/05/01") in tags
    assert ("citation_pdf_url", "https://repo.example/files/f2") in tags
    assert [v for k, v in tags if k == "citation_author"] == [
        "Student, Sam",
        "Faculty, Fran Anne",
        "Lovelace, Ada",
    ]
    hidden = landing.meta_tags(ITEM, "Lodge", file_url, visible=False)
    assert "citation_pdf_url" not in dict(hidden)


def test_json_ld_types_a_thesis_and_lists_files_only_when_visible():
    data = landing.json_ld(ITEM, "Lodge", "https://repo.example/items/i1", file_url, True)
    assert data["@type"] == "Thesis"
    assert data["author"][0]["@id"] == "https://orcid.org/0000-0002-1825-0097"
    assert "@id" not in data["author"][1]
    assert [f["contentUrl"] for f in data["encoding"]] == [
        "https://repo.example/files/f1",
        "https://repo.example/files/f2",
    ]
    embargoed = {**ITEM, "access": "embargo", "embargo_until": "2027-01-01"}
    data = landing.json_ld(embargoed, "Lodge", "https://repo.example/items/i1", file_url, False)
    assert "encoding" not in data and data["isAccessibleForFree"] is False
    assert data["conditionsOfAccess"] == "Embargoed until 2027-01-01"


def test_an_item_with_a_doi_is_cited_and_identified_by_it():
    with_doi = {**ITEM, "doi": "10.80000/abc"}
    local = "https://repo.example/id/ark:/99999/lodge-1"
    assert landing.cite_as(ITEM, local) == local
    assert landing.cite_as(with_doi, local) == "https://doi.org/10.80000/abc"
    assert ("citation_doi", "10.80000/abc") in landing.meta_tags(with_doi, "Lodge", file_url, True)
    data = landing.json_ld(with_doi, "Lodge", "https://repo.example/items/i1", file_url, True)
    assert data["@id"] == "https://doi.org/10.80000/abc"
    assert data["url"] == "https://repo.example/items/i1"
    assert data["identifier"] == ["ark:/99999/lodge-1", "https://doi.org/10.80000/abc"]


def test_json_ld_carries_the_version_and_the_relations_it_knows():
    item = {
        **ITEM,
        "version": "2",
        "relations": [
            {"relation_type": "IsVersionOf", "identifier": "10.1234/c", "identifier_type": "DOI"},
            {
                "relation_type": "IsNewVersionOf",
                "identifier": "ark:/99999/lodge-0",
                "identifier_type": "ARK",
            },
            {
                "relation_type": "Cites",
                "identifier": "https://x.example/a",
                "identifier_type": "URL",
            },
            {"relation_type": "Obsoletes", "identifier": "10.1234/old", "identifier_type": "DOI"},
        ],
    }
    data = landing.json_ld(item, "Lodge", "https://repo.example/items/i1", file_url, False)
    assert data["version"] == "2"
    assert data["exampleOfWork"] == ["https://doi.org/10.1234/c"]
    assert data["isBasedOn"] == ["https://n2t.net/ark:/99999/lodge-0"]
    assert data["citation"] == ["https://x.example/a"]
    assert "10.1234/old" not in json.dumps(data)  # a relation Schema.org cannot say is left out
    plain = landing.json_ld(ITEM, "Lodge", "https://repo.example/items/i1", file_url, False)
    assert "version" not in plain and "isBasedOn" not in plain
