"""The OAI-PMH envelope around records inventory serialised: spliced in as text, the whole
response stays schema-valid and each record reads back as inventory wrote it. Inventory is
stubbed with the real crosswalks, so no services are needed."""

import contextlib
from types import SimpleNamespace

import pytest
from lxml import etree

from gateway.oai import pmh
from kernel.contracts.oai import OAI_DC
from kernel.platform.config import get_settings
from services.inventory.crosswalks import oai_dc
from tests.support.oai_schemas import assert_valid

OAI = {"o": pmh.OAI, "oai_dc": OAI_DC, "dc": "http://purl.org/dc/elements/1.1/"}
HOSTILE = 'Tides & <b>bold</b> "quoted" ]]> \r\n records-0000 </metadata></record>'


def record(n: int, deleted: bool = False) -> dict:
    identifier = f"ark:/99999/x{n}&y"  # an identifier's text is escaped in the header
    metadata = None
    if not deleted:
        metadata = oai_dc(
            {
                "identifier": identifier,
                "landing_url": f"https://r.example/id/{identifier}",
                "record": {"title": [f"{HOSTILE} {n}"], "creator": ["Sam"]},
                "resource_type": "thesis",
                "relations": [],
                "resolver": "https://r.example/id/",
            }
        )
    return {
        "item_id": f"item{n}",
        "identifier": identifier,
        "datestamp": f"2026-01-0{n + 1}T10:00:00+00:00",
        "sets": ["theses:phd", "theses"],
        "deleted": deleted,
        "metadata": metadata,
    }


@pytest.fixture
def oai_client(gateway_app, monkeypatch):
    page = {"records": [record(0), record(1, deleted=True), record(2)], "more": True}
    inventory = SimpleNamespace(
        harvest=lambda **_: page,
        oai_record=lambda identifier, metadata_prefix: record(0),
    )

    @contextlib.contextmanager
    def stub_rpc():
        yield SimpleNamespace(inventory=inventory)

    monkeypatch.setattr(pmh, "rpc", stub_rpc)
    return gateway_app.test_client()


@pytest.mark.parametrize(
    "query",
    [
        "verb=ListRecords&metadataPrefix=oai_dc",
        "verb=ListIdentifiers&metadataPrefix=oai_dc",
        "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:{repository}:ark:/99999/x0%26y",
    ],
)
def test_spliced_records_make_a_valid_response(oai_client, query):
    repository = get_settings().oai.repository_id
    response = oai_client.get("/oai?" + query.format(repository=repository))
    root = assert_valid("OAI-PMH.xsd", response.data)
    headers = root.xpath("//o:header", namespaces=OAI)
    identifiers = [h.findtext("o:identifier", namespaces=OAI) for h in headers]
    assert identifiers[0].endswith(":ark:/99999/x0&y")
    assert headers[0].xpath("o:setSpec/text()", namespaces=OAI) == ["theses:phd", "theses"]
    assert b"records-" not in response.data.replace(b"records-0000", b"")  # no marker left


def test_each_record_reads_back_as_inventory_wrote_it(oai_client):
    root = assert_valid(
        "OAI-PMH.xsd", oai_client.get("/oai?verb=ListRecords&metadataPrefix=oai_dc").data
    )
    records = root.xpath("o:ListRecords/o:record", namespaces=OAI)
    assert len(records) == 3
    assert [r.find("o:header", namespaces=OAI).get("status") for r in records] == [
        None,
        "deleted",
        None,
    ]
    assert records[1].find("o:metadata", namespaces=OAI) is None
    titles = root.xpath("//dc:title/text()", namespaces=OAI)
    assert titles == [f"{HOSTILE} 0", f"{HOSTILE} 2"]
    # the metadata is inventory's element, byte for byte in meaning
    written = etree.fromstring(record(2)["metadata"])
    spliced = records[2].find("o:metadata", namespaces=OAI)[0]
    assert etree.tostring(spliced, method="c14n2") == etree.tostring(written, method="c14n2")
    # the token follows the records, inside the verb's element
    token = root.find("o:ListRecords/o:resumptionToken", namespaces=OAI)
    assert token is not None and token.get("cursor") == "0" and token.text


def test_an_error_answer_has_no_records_and_no_marker(oai_client):
    response = oai_client.get("/oai?verb=ListRecords&metadataPrefix=marc21")
    root = assert_valid("OAI-PMH.xsd", response.data)
    assert root.find("o:error", namespaces=OAI).get("code") == "cannotDisseminateFormat"
    assert b"records-" not in response.data


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("2026-01-02T10:00:05+00:00", "2026-01-02T10:00:05Z"),  # inventory's form: cut
        ("2026-01-02T10:00:05.999999+00:00", "2026-01-02T10:00:05Z"),  # parsed, to the second
        ("2026-01-02T12:00:05+02:00", "2026-01-02T10:00:05Z"),  # another offset: in UTC
    ],
)
def test_a_datestamp_is_shown_in_utc_to_the_second_whatever_form_it_came_in(sent, shown):
    assert pmh._datestamp(sent) == shown
