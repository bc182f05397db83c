"""The vendored OAI-PMH, oai_dc, OpenAIRE 4.0, Dublin Core, XML namespace and sitemaps.org
schemas (tests/data/xsd), with their remote schemaLocations resolved to the local copies:
the network is closed."""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

XSD_DIR = Path(__file__).resolve().parents[1] / "data" / "xsd"
LOCAL_COPIES = {
    "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd": "OAI-PMH.xsd",
    "http://www.openarchives.org/OAI/2.0/oai_dc.xsd": "oai_dc.xsd",
    "https://www.dublincore.org/schemas/xmls/qdc/2008/02/11/dc.xsd": "dc.xsd",
    "https://www.w3.org/2001/03/xml.xsd": "xml.xsd",
    # OpenAIRE's schemas name the XML namespace schema at these two addresses
    "http://www.w3.org/2001/03/xml.xsd": "xml.xsd",
    "http://www.w3.org/2009/01/xml.xsd": "xml.xsd",
}
OPENAIRE = "openaire/openaire.xsd"


class _LocalSchemas(etree.Resolver):
    def resolve(self, url, public_id, context):
        name = LOCAL_COPIES.get(url)
        if name is None:
            return None
        return self.resolve_filename(str(XSD_DIR / name), context)


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas())
    return parser


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    """'OAI-PMH.xsd', 'oai_dc.xsd', OPENAIRE, 'sitemap.xsd' or 'siteindex.xsd'. OAI-PMH's
    <metadata> is checked strictly, so the OAI-PMH schema imports oai_dc and OpenAIRE to
    validate the records inside a response too (OpenAIRE's Dublin Core elements are a subset
    of those oai_dc imports first)."""
    if name == "OAI-PMH.xsd":
        wrapper = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
          <xs:import namespace="http://www.openarchives.org/OAI/2.0/"
                     schemaLocation="{XSD_DIR / "OAI-PMH.xsd"}"/>
          <xs:import namespace="http://www.openarchives.org/OAI/2.0/oai_dc/"
                     schemaLocation="{XSD_DIR / "oai_dc.xsd"}"/>
          <xs:import namespace="http://namespace.openaire.eu/schema/oaire/"
                     schemaLocation="{XSD_DIR / OPENAIRE}"/>
        </xs:schema>"""
        document = etree.fromstring(
            wrapper.encode(), _parser(), base_url=str(XSD_DIR / "wrapper.xsd")
        )
        return etree.XMLSchema(document)
    return etree.XMLSchema(etree.parse(str(XSD_DIR / name), _parser()))


def assert_valid(name: str, xml: bytes | str | etree._Element) -> etree._Element:
    """Parse (if need be) and validate; an AssertionError lists the schema's complaints."""
    if not isinstance(xml, etree._Element):
        xml = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    checker = schema(name)
    if not checker.validate(xml):
        raise AssertionError(
            f"not valid against {name}:\n"
            + "\n".join(f"line {e.line}: {e.message}" for e in checker.error_log)
            + "\n"
            + etree.tostring(xml, encoding="unicode")[:3000]
        )
    return xml
