"""DOIs end to end: an approved deposit becomes an item whose DOI is findable at the local
DataCite with valid metadata, and the DOI is wherever the item's identity is (the API, the
landing page, OAI-PMH, the letter); a withdrawal hides the DOI, which still resolves."""

import json
import re

from datacite import schema45
from lxml import etree

from kernel.contracts.oai import DATACITE
from tests.e2e.test_item_withdrawal_browser import archived_item
from tests.e2e.test_lifecycles import STUDENT_EMAIL, letters_to
from tests.support.system import expect, poll_until

OAI = "{http://www.openarchives.org/OAI/2.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"
PAGE = {"Accept": "text/html"}  # the landing page, not a format by content negotiation


def registered(datacite, doi: str, state: str) -> dict:
    return poll_until(
        lambda: (found := datacite.get(doi)) and found["state"] == state and found,
        timeout=30,
        description=f"DOI {doi} {state} at DataCite",
    )


def oai_metadata(lodge_system, deposit: dict, prefix: str) -> etree._Element:
    root = etree.fromstring(
        lodge_system.client()
        .get(
            "/oai",
            params={
                "verb": "GetRecord",
                "metadataPrefix": prefix,
                "identifier": f"oai:lodge.local:{deposit['item_identifier']}",
            },
        )
        .content
    )
    return root.find(f".//{OAI}metadata")[0]


def test_an_archived_item_has_a_findable_doi_wherever_it_is_identified(lodge_system, datacite):
    deposit = archived_item(lodge_system)
    item = expect(lodge_system.client().get(f"/api/v1/items/{deposit['item_id']}"), 200)
    doi = item["doi"]
    assert doi == f"{datacite.prefix}/{item['id'][:16]}"
    assert deposit["item_doi"] == doi  # the depositor's deposit says it at once

    found = registered(datacite, doi, "findable")
    assert found["url"] == f"{lodge_system.base_url}/items/{item['id']}"
    metadata = {k: v for k, v in found.items() if k not in ("state", "prefix", "suffix")}
    assert schema45.validate(metadata)
    assert found["titles"] == [{"title": "Lichens of old walls"}]
    assert found["types"]["resourceTypeGeneral"]

    page = lodge_system.client().get(f"/items/{item['id']}", headers=PAGE).text
    assert f'<meta name="citation_doi" content="{doi}">' in page
    json_ld = json.loads(re.search(r'application/ld\+json">(.*?)</script>', page, re.S).group(1))
    assert json_ld["@id"] == f"https://doi.org/{doi}"
    assert f"https://doi.org/{doi}</p>" in page  # the citation

    dc = oai_metadata(lodge_system, deposit, "oai_dc")
    assert f"https://doi.org/{doi}" in [e.text for e in dc.iter(f"{DC}identifier")]
    resource = oai_metadata(lodge_system, deposit, "datacite")
    identifier = resource.find(f"{{{DATACITE}}}identifier")
    assert (identifier.get("identifierType"), identifier.text) == ("DOI", doi)

    subject = 'Your deposit "Lichens of old walls" is in the repository'
    letter = poll_until(
        lambda: [
            m
            for m in letters_to(lodge_system.mail_dir, STUDENT_EMAIL)
            if m["Subject"] == subject and doi in m.get_body(("plain",)).get_content()
        ],
        timeout=30,
        description="the archived letter with the DOI",
    )
    assert f"DOI: https://doi.org/{doi}" in letter[0].get_body(("plain",)).get_content()


def test_a_withdrawn_items_doi_is_hidden_but_still_resolves_to_its_page(lodge_system, datacite):
    deposit = archived_item(lodge_system)
    doi = deposit["item_doi"]
    registered(datacite, doi, "findable")
    manager = lodge_system.client("manager")
    expect(
        manager.post(
            f"/api/v1/items/{deposit['item_id']}/actions/withdraw", json={"reason": "A duplicate."}
        ),
        200,
    )
    hidden = registered(datacite, doi, "registered")
    assert hidden["url"] == f"{lodge_system.base_url}/items/{deposit['item_id']}"
    assert "Withdrawn" in [entry["dateType"] for entry in hidden["dates"]]
    tombstone = lodge_system.client().get(hidden["url"], headers=PAGE)
    assert tombstone.status_code == 410 and doi in tombstone.text
