"""An oai_openaire record checked as OpenAIRE's validator checks it: the schema first, then
the rules of the Guidelines for Literature Repositories 4.0 that the schema cannot hold (its
elements sit in one unbounded choice, so nothing is mandatory there and nothing is counted).

The COAR labels come from the vendored schema itself, where each enumerated URI is followed
by a comment naming it; a record whose label and URI disagree fails.
"""

from __future__ import annotations

import functools
import re

from lxml import etree

from kernel.contracts.oai import DATACITE, DC, OAIRE
from tests.support.oai_schemas import OPENAIRE, XSD_DIR, assert_valid

NS = {"datacite": DATACITE, "dc": DC, "oaire": OAIRE}
W3CDTF = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
ORCID = re.compile(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]+)*")
EMBARGOED = "http://purl.org/coar/access_right/c_f1cf"


@functools.cache
def coar_labels(schema_file: str) -> dict[str, str]:
    """URI → label from a vendored vocabulary schema's enumerations and their comments."""
    text = (XSD_DIR / "openaire" / schema_file).read_text()
    return dict(re.findall(r'<xs:enumeration value="([^"]+)"/><!--([^>]*?)-->', text))


def one(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NS)
    assert len(found) == 1, f"{path}: {len(found)} found, one wanted"
    return found[0]


def assert_openaire(xml: str | bytes | etree._Element) -> etree._Element:
    root = assert_valid(OPENAIRE, xml)
    assert root.tag == f"{{{OAIRE}}}resource"
    # mandatory, once
    identifier = one(root, "datacite:identifier")
    assert identifier.text and identifier.text.strip()
    one(root, "datacite:titles")
    assert root.xpath("datacite:titles/datacite:title", namespaces=NS)
    one(root, "dc:publisher")
    kind = one(root, "oaire:resourceType")
    assert coar_labels("oaire-resourceType-v4.xsd")[kind.get("uri")] == kind.text
    access = coar_labels("oaire-accessRight-v4.xsd")
    rights = one(root, "datacite:rights")
    assert access[rights.get("rightsURI")] == rights.text
    issued = one(root, "datacite:dates/datacite:date[@dateType='Issued']")
    for date in root.xpath("datacite:dates/datacite:date", namespaces=NS):
        assert W3CDTF.fullmatch(date.text), date.text
    # an embargo says when it ends, and a licence from when it applies
    if rights.get("rightsURI") == EMBARGOED:
        one(root, "datacite:dates/datacite:date[@dateType='Available']")
    for licence in root.xpath("oaire:licenseCondition", namespaces=NS):
        assert W3CDTF.fullmatch(licence.get("startDate") or ""), licence.get("startDate")
    assert issued.text
    # at most one language, as ISO 639 codes
    languages = root.xpath("dc:language", namespaces=NS)
    assert len(languages) <= 1 and all(LANGUAGE.fullmatch(e.text) for e in languages)
    people = "datacite:creators/datacite:creator"
    for name_id in root.xpath(f"{people}/datacite:nameIdentifier", namespaces=NS):
        if name_id.get("nameIdentifierScheme") == "ORCID":
            assert ORCID.fullmatch(name_id.text), name_id.text
    for stored in root.xpath("oaire:file", namespaces=NS):
        assert stored.get("accessRightsURI") in access and stored.get("mimeType")
        assert stored.get("objectType") and stored.text.startswith(("http://", "https://"))
    return root
