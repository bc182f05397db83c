"""OAI-PMH 2.0 at /oai, harvested by a real client library (Sickle) from a running Lodge.

Items come through the real pipeline (deposit → checks → automatic approval → inventory)
and, for paging, straight into inventory's table. Pages are small (LODGE_OAI_PAGE_SIZE),
so every list is resumed several times. Every response is validated against the vendored
OAI-PMH schema, which imports oai_dc and OpenAIRE's, so the records inside are validated
too; oai_openaire records are checked against OpenAIRE's validator rules as well.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta

import pytest
import requests
from kombu import Connection, Exchange, Queue
from lxml import etree
from sickle import Sickle
from sqlalchemy import text

from kernel.contracts.oai import DATACITE, OAIRE
from kernel.platform.db import Database
from services.inventory.models import Item
from tests.support.oai_schemas import assert_valid
from tests.support.openaire_rules import assert_openaire
from tests.support.system import LodgeSystem, expect, poll_until

PAGE_SIZE = 4
REPOSITORY_ID = "lodge.test"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
NS = {"o": "http://www.openarchives.org/OAI/2.0/"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DIRECT = 9  # items inserted into the table, all in 2025, in the theses collection
DIRECT_START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def valid_response(xml: bytes) -> etree._Element:
    """Check an OAI-PMH response against the schema. DataCite's schema is not vendored,
    so DataCite records are checked as headers (metadata is optional in a record)."""
    root = etree.fromstring(xml)
    check = etree.fromstring(xml)
    for metadata in check.iter(f"{OAI}metadata"):
        if metadata[0].tag.startswith("{http://datacite.org/"):
            metadata.getparent().remove(metadata)
    assert_valid("OAI-PMH.xsd", check)
    return root


class ValidatingSickle(Sickle):
    """Sickle that validates each page it fetches and counts them."""

    def __init__(self, endpoint, **kwargs):
        super().__init__(endpoint, timeout=60, **kwargs)
        self.pages = 0

    def harvest(self, **kwargs):
        response = super().harvest(**kwargs)
        valid_response(response.raw.encode("utf-8"))
        self.pages += 1
        return response


@pytest.fixture(scope="module")
def oai_system():
    system = LodgeSystem(
        "postgresql",
        label="oai",
        extra_env={
            "LODGE_OAI_PAGE_SIZE": str(PAGE_SIZE),
            "LODGE_OAI_REPOSITORY_ID": REPOSITORY_ID,
            "LODGE_OAI_ADMIN_EMAIL": "oai-admin@example.edu",
            "LODGE_REPOSITORY_NAME": "Test Lodge",
        },
    )
    system.start()
    yield system
    system.stop()


def oai(system, **params) -> etree._Element:
    response = requests.get(f"{system.base_url}/oai", params=params, timeout=60)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/xml")
    return valid_response(response.content)


def error_code(root) -> str | None:
    error = root.find(f"{OAI}error")
    return None if error is None else error.get("code")


def test_a_repository_without_collections_has_no_set_hierarchy(oai_system):
    """Runs before any item exists: collections can go for a moment and come back."""
    inventory = Database(oai_system.database_urls["inventory"], "inventory")
    with inventory.unit_of_work() as uow:
        saved = uow.session.execute(
            text("SELECT id, name, set_spec, created_at FROM collections")
        ).all()
        uow.session.execute(text("DELETE FROM collections"))
    try:
        assert error_code(oai(oai_system, verb="ListSets")) == "noSetHierarchy"
        assert (
            error_code(oai(oai_system, verb="ListRecords", metadataPrefix="oai_dc", set="theses"))
            == "noSetHierarchy"
        )
    finally:
        with inventory.unit_of_work() as uow:
            for row in saved:
                uow.session.execute(
                    text(
                        "INSERT INTO collections (id, name, set_spec, created_at) "
                        "VALUES (:id, :name, :set_spec, :created_at)"
                    ),
                    row._asdict(),
                )
        inventory.dispose()
    sets = oai(oai_system, verb="ListSets")
    assert sorted(sets.xpath("//o:setSpec/text()", namespaces=NS)) == ["open-works", "theses"]


@pytest.fixture(scope="module")
def harvestable(oai_system):
    """Two items made by the pipeline, and DIRECT items inserted into the table."""
    student = oai_system.client("student")
    made = []
    for title, orcid in (("Tidal patterns", "0000-0002-1825-0097"), ("Salt marsh birds", None)):
        deposit = student.create_deposit(
            "open-works",
            {
                "title": title,
                "creators": [{"name": "Sam Student", "orcid": orcid}],
                "abstract": f"About {title.lower()}.",
                "date": "2026-04-01",
                "keywords": ["coast"],
            },
        )
        student.upload(deposit["id"], "paper.pdf", PDF)
        student.submit(deposit["id"])
        made.append(oai_system.wait_for_status(student, deposit["id"], "archived", timeout=90))
    inventory = Database(oai_system.database_urls["inventory"], "inventory")
    with inventory.unit_of_work() as uow:
        for n in range(DIRECT):
            moment = DIRECT_START + timedelta(days=n)
            uow.session.add(
                Item(
                    id=f"direct{n:04d}",
                    identifier=f"ark:/99999/direct-{n:04d}",
                    deposit_id=f"direct-deposit-{n:04d}",
                    revision=1,
                    collection_id="theses",
                    access="open",
                    record={
                        "title": [f"Direct thesis {n}"],
                        "creator": ["A. Author"],
                        "date": ["2025"],
                    },
                    creators=[{"name": "A. Author", "orcid": None}],
                    created_at=moment,
                    datestamp=moment,
                )
            )
    inventory.dispose()
    return {
        "deposits": made,
        "pipeline_ids": [f"oai:{REPOSITORY_ID}:{d['item_identifier']}" for d in made],
        "direct_ids": [f"oai:{REPOSITORY_ID}:ark:/99999/direct-{n:04d}" for n in range(DIRECT)],
    }


def test_identify_describes_the_repository(oai_system, harvestable):
    body = oai(oai_system, verb="Identify").find(f"{OAI}Identify")
    value = {child.tag.removeprefix(OAI): child.text for child in body}
    assert value["repositoryName"] == "Test Lodge"
    assert value["baseURL"] == f"{oai_system.base_url}/oai"
    assert value["protocolVersion"] == "2.0" and value["adminEmail"] == "oai-admin@example.edu"
    assert value["earliestDatestamp"] == "2025-03-01T12:00:00Z"
    assert value["deletedRecord"] == "persistent"
    assert value["granularity"] == "YYYY-MM-DDThh:mm:ssZ"


def test_list_metadata_formats_offers_oai_dc_datacite_and_oai_openaire(oai_system, harvestable):
    for params in ({}, {"identifier": harvestable["pipeline_ids"][0]}):
        root = oai(oai_system, verb="ListMetadataFormats", **params)
        assert root.xpath("//o:metadataPrefix/text()", namespaces=NS) == [
            "oai_dc",
            "datacite",
            "oai_openaire",
        ]
        [openaire] = root.xpath(
            "//o:metadataFormat[o:metadataPrefix='oai_openaire']", namespaces=NS
        )
        assert openaire.findtext(f"{OAI}schema") == (
            "https://www.openaire.eu/schema/repo-lit/4.0/openaire.xsd"
        )
        assert openaire.findtext(f"{OAI}metadataNamespace") == OAIRE


def test_sickle_harvests_every_record_in_oai_dc_across_resumed_pages(oai_system, harvestable):
    sickle = ValidatingSickle(f"{oai_system.base_url}/oai")
    records = list(sickle.ListRecords(metadataPrefix="oai_dc"))
    identifiers = [record.header.identifier for record in records]
    expected = harvestable["direct_ids"] + harvestable["pipeline_ids"]
    assert sorted(identifiers) == sorted(expected) and len(set(identifiers)) == len(expected)
    assert sickle.pages == math.ceil(len(expected) / PAGE_SIZE) > 1
    by_id = {record.header.identifier: record for record in records}
    tidal = by_id[harvestable["pipeline_ids"][0]]
    assert tidal.metadata["title"] == ["Tidal patterns"]
    assert tidal.metadata["creator"] == ["Sam Student"]
    assert tidal.metadata["subject"] == ["coast"]
    # the persistent address, which resolves to the landing page
    assert (
        f"{oai_system.base_url}/id/{harvestable['deposits'][0]['item_identifier']}"
        in tidal.metadata["identifier"]
    )
    assert tidal.header.setSpecs == ["open-works"]
    datestamps = [record.header.datestamp for record in records]
    assert datestamps == sorted(datestamps)


def test_sickle_harvests_datacite_with_orcid_ids(oai_system, harvestable):
    sickle = ValidatingSickle(f"{oai_system.base_url}/oai")
    records = {
        record.header.identifier: record for record in sickle.ListRecords(metadataPrefix="datacite")
    }
    assert len(records) == DIRECT + 2 and sickle.pages > 1
    resource = records[harvestable["pipeline_ids"][0]].xml.find(".//{*}resource")
    ns = {"d": "http://datacite.org/schema/kernel-4"}
    assert resource.xpath("d:titles/d:title/text()", namespaces=ns) == ["Tidal patterns"]
    assert resource.xpath("d:creators/d:creator/d:nameIdentifier/text()", namespaces=ns) == [
        "0000-0002-1825-0097"
    ]
    assert resource.xpath("d:publicationYear/text()", namespaces=ns) == ["2026"]
    assert resource.xpath("d:formats/d:format/text()", namespaces=ns) == ["application/pdf"]


def openaire_resource(xml: etree._Element) -> etree._Element:
    """A record's <oaire:resource>, on its own and checked as OpenAIRE's validator would."""
    resource = xml.find(f".//{{{OAIRE}}}resource")
    return assert_openaire(etree.tostring(resource))


def test_sickle_harvests_oai_openaire_that_openaire_would_accept(oai_system, harvestable):
    sickle = ValidatingSickle(f"{oai_system.base_url}/oai")
    records = {r.header.identifier: r for r in sickle.ListRecords(metadataPrefix="oai_openaire")}
    assert len(records) == DIRECT + 2 and sickle.pages > 1
    resources = {key: openaire_resource(record.xml) for key, record in records.items()}
    tidal = resources[harvestable["pipeline_ids"][0]]
    ns = {"d": DATACITE, "o": OAIRE}
    assert tidal.xpath("d:titles/d:title/text()", namespaces=ns) == ["Tidal patterns"]
    assert tidal.xpath("d:creators/d:creator/d:nameIdentifier/text()", namespaces=ns) == [
        "0000-0002-1825-0097"
    ]
    assert tidal.xpath("d:identifier/text()", namespaces=ns) == [
        harvestable["deposits"][0]["item_identifier"]
    ]
    assert tidal.xpath("d:rights/@rightsURI", namespaces=ns) == [
        "http://purl.org/coar/access_right/c_abf2"
    ]
    # the file a harvester is pointed at is there for it to fetch
    [stored] = tidal.xpath("o:file", namespaces=ns)
    assert stored.get("mimeType") == "application/pdf"
    download = requests.get(stored.text, timeout=30)
    assert download.status_code == 200 and download.content == PDF
    # an item put into the table without files is metadata only
    direct = resources[harvestable["direct_ids"][0]]
    assert direct.xpath("d:rights/@rightsURI", namespaces=ns) == [
        "http://purl.org/coar/access_right/c_14cb"
    ]
    assert direct.xpath("d:dates/d:date[@dateType='Issued']/text()", namespaces=ns) == ["2025"]


def test_selective_harvesting_by_set_and_dates(oai_system, harvestable):
    sickle = ValidatingSickle(f"{oai_system.base_url}/oai")
    open_works = [
        h.identifier for h in sickle.ListIdentifiers(metadataPrefix="oai_dc", set="open-works")
    ]
    assert sorted(open_works) == sorted(harvestable["pipeline_ids"])
    theses = [h.identifier for h in sickle.ListIdentifiers(metadataPrefix="oai_dc", set="theses")]
    assert theses == harvestable["direct_ids"]
    # days 2..6 of the direct items; until is inclusive, to the day or to the second
    by_day = [
        h.identifier
        for h in sickle.ListIdentifiers(
            metadataPrefix="oai_dc", **{"from": "2025-03-03", "until": "2025-03-07"}
        )
    ]
    assert by_day == harvestable["direct_ids"][2:7]
    by_second = [
        h.identifier
        for h in sickle.ListIdentifiers(
            metadataPrefix="oai_dc",
            **{"from": "2025-03-03T12:00:00Z", "until": "2025-03-07T12:00:00Z"},
        )
    ]
    assert by_second == harvestable["direct_ids"][2:7]
    recent = [
        h.identifier
        for h in sickle.ListIdentifiers(metadataPrefix="oai_dc", **{"from": "2026-01-01"})
    ]
    assert sorted(recent) == sorted(harvestable["pipeline_ids"])


def test_a_resumption_token_carries_the_selection_and_the_cursor(oai_system, harvestable):
    first = oai(oai_system, verb="ListIdentifiers", metadataPrefix="oai_dc", set="theses")
    token = first.find(f".//{OAI}resumptionToken")
    assert token.get("cursor") == "0" and token.text
    second = oai(oai_system, verb="ListIdentifiers", resumptionToken=token.text)
    assert second.find(f".//{OAI}request").get("resumptionToken") == token.text
    assert second.find(f".//{OAI}resumptionToken").get("cursor") == str(PAGE_SIZE)
    assert set(second.xpath("//o:setSpec/text()", namespaces=NS)) == {"theses"}
    # the token is for ListIdentifiers only
    assert (
        error_code(oai(oai_system, verb="ListRecords", resumptionToken=token.text))
        == "badResumptionToken"
    )


def test_get_record_and_post_requests(oai_system, harvestable):
    identifier = harvestable["pipeline_ids"][1]
    root = oai(oai_system, verb="GetRecord", identifier=identifier, metadataPrefix="oai_dc")
    assert root.xpath("//o:header/o:identifier/text()", namespaces=NS) == [identifier]
    assert "Salt marsh birds" in root.xpath("//*[local-name()='title']/text()")
    posted = requests.post(
        f"{oai_system.base_url}/oai",
        timeout=60,
        data={"verb": "GetRecord", "identifier": identifier, "metadataPrefix": "datacite"},
    )
    assert posted.status_code == 200
    assert "Salt marsh birds" in valid_response(posted.content).xpath(
        "//*[local-name()='title']/text()"
    )
    root = oai(oai_system, verb="GetRecord", identifier=identifier, metadataPrefix="oai_openaire")
    assert "Salt marsh birds" in openaire_resource(root).xpath("//*[local-name()='title']/text()")


def test_a_withdrawn_item_is_a_deleted_record_and_a_tombstone(oai_system, harvestable):
    deposit = harvestable["deposits"][1]
    identifier = harvestable["pipeline_ids"][1]
    student, manager = oai_system.client("student"), oai_system.client("manager")
    path = f"/api/v1/items/{deposit['item_id']}/actions/withdraw"
    assert student.post(path, json={"reason": "mine"}).status_code == 403
    assert expect(manager.post(path, json={}), 422)["error"]["fields"] == {
        "reason": ["Missing data for required field."]
    }
    with Connection(oai_system.amqp_uri) as connection:
        # a campus system listening for withdrawals on the outbound CloudEvents exchange
        watcher = Queue(
            "campus-withdrawals",
            routing_key="inventory.item_withdrawn",
            exchange=Exchange("lodge.events", type="topic", durable=True),
            durable=False,
            auto_delete=False,
        )(connection.channel())
        watcher.declare()
        item = expect(manager.post(path, json={"reason": "Duplicate of another item"}), 200)
        assert item["withdrawn_at"] and item["withdrawal_reason"] == "Duplicate of another item"
        expect(manager.post(path, json={"reason": "again"}), 409)
        message = poll_until(
            lambda: watcher.get(no_ack=True),
            timeout=30,
            description="the item_withdrawn CloudEvent",
        )
    cloudevent = json.loads(message.body)
    assert cloudevent["type"] == "org.lodge.item.withdrawn.v1"
    assert cloudevent["subject"] == item["id"]
    assert (
        cloudevent["data"]["item_id"],
        cloudevent["data"]["identifier"],
        cloudevent["data"]["reason"],
    ) == (item["id"], item["identifier"], "Duplicate of another item")

    record = oai(oai_system, verb="GetRecord", identifier=identifier, metadataPrefix="oai_dc")
    header = record.find(f".//{OAI}header")
    assert header.get("status") == "deleted" and record.find(f".//{OAI}metadata") is None
    sickle = ValidatingSickle(f"{oai_system.base_url}/oai")
    deleted = [
        r.header.identifier for r in sickle.ListRecords(metadataPrefix="oai_dc") if r.header.deleted
    ]
    assert deleted == [identifier]
    kept = [
        r.header.identifier
        for r in sickle.ListRecords(metadataPrefix="oai_dc", ignore_deleted=True)
    ]
    assert identifier not in kept and len(kept) == DIRECT + 1

    page = requests.get(f"{oai_system.base_url}/items/{deposit['item_id']}", timeout=30)
    assert page.status_code == 410 and "This item has been withdrawn" in page.text
    assert "Duplicate of another item" in page.text
    file_id = item["representations"][0]["files"][0]["id"]
    assert (
        requests.get(
            f"{oai_system.base_url}/api/v1/items/{deposit['item_id']}/files/{file_id}", timeout=30
        ).status_code
        == 404
    )


def forged_token(**state) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


ERRORS = [
    ({}, "badVerb"),
    ({"verb": "Harvest"}, "badVerb"),
    ({"verb": ["Identify", "Identify"]}, "badVerb"),
    ({"verb": "Identify", "set": "theses"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ["oai_dc", "oai_dc"]}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "yesterday"}, "badArgument"),
    (
        {
            "verb": "ListRecords",
            "metadataPrefix": "oai_dc",
            "from": "2025-01-01",
            "until": "2025-02-01T00:00:00Z",
        },
        "badArgument",
    ),
    (
        {
            "verb": "ListRecords",
            "metadataPrefix": "oai_dc",
            "from": "2025-02-01",
            "until": "2025-01-01",
        },
        "badArgument",
    ),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "abc"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai dc"}, "badArgument"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:x\x00"}, "badArgument"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "theses:"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    (
        {
            "verb": "GetRecord",
            "metadataPrefix": "marc21",
            "identifier": f"oai:{REPOSITORY_ID}:ark:/99999/direct-0000",
        },
        "cannotDisseminateFormat",
    ),
    (
        {
            "verb": "GetRecord",
            "metadataPrefix": "oai_dc",
            "identifier": f"oai:{REPOSITORY_ID}:ark:/99999/none",
        },
        "idDoesNotExist",
    ),
    (
        {
            "verb": "GetRecord",
            "metadataPrefix": "oai_dc",
            "identifier": "oai:elsewhere.org:ark:/99999/direct-0000",
        },
        "idDoesNotExist",
    ),
    ({"verb": "ListMetadataFormats", "identifier": f"oai:{REPOSITORY_ID}:nope"}, "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2099-01-01"}, "noRecordsMatch"),
    (
        {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "no-such-set"},
        "noRecordsMatch",
    ),
    ({"verb": "ListRecords", "resumptionToken": "not a token!"}, "badResumptionToken"),
    (
        {"verb": "ListRecords", "resumptionToken": forged_token(v="ListRecords")},
        "badResumptionToken",
    ),
    (
        {
            "verb": "ListRecords",
            "resumptionToken": forged_token(
                v="ListRecords",
                s={"metadataPrefix": "marc21", "from": None, "until": None, "set": None},
                d="2025-03-01T12:00:00+00:00",
                i="x",
                c=4,
            ),
        },
        "badResumptionToken",
    ),
    ({"verb": "ListSets", "resumptionToken": "anything"}, "badResumptionToken"),
    # oai_openaire answers as the other formats do
    (
        {"verb": "ListRecords", "metadataPrefix": "oai_openaire", "resumptionToken": "abc"},
        "badArgument",
    ),
    ({"verb": "ListRecords", "metadataPrefix": "OAI_OPENAIRE"}, "cannotDisseminateFormat"),
    (
        {"verb": "ListRecords", "metadataPrefix": "oai_openaire", "from": "2099-01-01"},
        "noRecordsMatch",
    ),
    (
        {
            "verb": "GetRecord",
            "metadataPrefix": "oai_openaire",
            "identifier": f"oai:{REPOSITORY_ID}:ark:/99999/none",
        },
        "idDoesNotExist",
    ),
    (
        {
            "verb": "ListRecords",
            "resumptionToken": forged_token(
                v="ListRecords",
                s={"metadataPrefix": "oai_openaire", "from": None, "until": None, "set": None},
                d="2025-03-01T12:00:00+00:00",
                i="x",
                c=0,  # no token is issued at the start of a list
            ),
        },
        "badResumptionToken",
    ),
    (
        {
            "verb": "ListRecords",
            "resumptionToken": forged_token(
                v="ListRecords",
                s={
                    "metadataPrefix": "oai_openaire",
                    "from": "yesterday",
                    "until": None,
                    "set": None,
                },
                d="2025-03-01T12:00:00+00:00",
                i="x",
                c=4,
            ),
        },
        "badResumptionToken",
    ),
]


@pytest.mark.parametrize(
    "params, code", ERRORS, ids=[f"{code}-{n}" for n, (_, code) in enumerate(ERRORS)]
)
def test_protocol_errors_have_their_codes(oai_system, harvestable, params, code):
    root = oai(oai_system, **params)
    assert error_code(root) == code
    request_element = root.find(f"{OAI}request")
    if code in ("badVerb", "badArgument"):
        assert dict(request_element.attrib) == {}  # the base URL only, as the spec says
    else:
        assert request_element.get("verb") == params["verb"]


def test_a_stored_record_with_characters_xml_cannot_carry_is_cleaned_as_it_is_harvested(
    oai_system, harvestable
):
    """A record stored before the text rule held (straight into the table here) is cleaned
    as it is serialised: every page of a full harvest stays well-formed and valid."""
    moment = DIRECT_START - timedelta(days=30)
    inventory = Database(oai_system.database_urls["inventory"], "inventory")
    with inventory.unit_of_work() as uow:
        uow.session.add(
            Item(
                id="badchars0001",
                identifier="ark:/99999/bad-chars",
                deposit_id="bad-deposit",
                revision=1,
                collection_id="theses",
                access="open",
                record={
                    "title": ["Tides\x0b of \x01the\ufffe sea"],
                    "creator": ["A.\x1b Author"],
                    "date": ["2025"],
                },
                creators=[{"name": "A.\x1b Author", "orcid": None}],
                created_at=moment,
                datestamp=moment,
            )
        )
    try:
        for prefix in ("oai_dc", "datacite", "oai_openaire"):
            sickle = ValidatingSickle(f"{oai_system.base_url}/oai")
            records = list(sickle.ListRecords(metadataPrefix=prefix))
            assert len(records) == DIRECT + 3
            [bad] = [r for r in records if r.header.identifier.endswith("bad-chars")]
            assert "Tides of the sea" in bad.raw and "A. Author" in bad.raw
            if prefix == "oai_openaire":
                openaire_resource(bad.xml)
        page = requests.get(f"{oai_system.base_url}/items/badchars0001", timeout=60)
        assert page.status_code == 200 and "Tides of the sea" in page.text
        assert "\x0b" not in page.text and "\x1b" not in page.text
    finally:
        with inventory.unit_of_work() as uow:
            uow.session.execute(text("DELETE FROM items WHERE id = 'badchars0001'"))
        inventory.dispose()
