"""SWORD v2 as documents (the SWORD v2 profile, swordapp.github.io/SWORDv2-Profile): the
service document, deposit receipts, statements (Atom and OAI-ORE), error documents, and Atom
entries read safely into a profile's fields through its Dublin Core mapping.

Framework-free: the HTTP resources are gateway/api/sword.py, which passes in the IRIs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
APP = "http://www.w3.org/2007/app"
SWORD = "http://purl.org/net/sword/terms/"
DCTERMS = "http://purl.org/dc/terms/"
DC = "http://purl.org/dc/elements/1.1/"
ORE = "http://www.openarchives.org/ore/terms/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NSMAP = {
    None: ATOM,
    "app": APP,
    "sword": SWORD,
    "dcterms": DCTERMS,
    "ore": ORE,
    "rdf": RDF,
}

SIMPLE_ZIP = "http://purl.org/net/sword/package/SimpleZip"
BINARY = "http://purl.org/net/sword/package/Binary"
ACCEPT_PACKAGING = (SIMPLE_ZIP, BINARY)
STATEMENT_ATOM = "application/atom+xml;type=feed"
STATEMENT_ORE = "application/rdf+xml"
RECEIPT_TYPE = "application/atom+xml;type=entry"
ORIGINAL_DEPOSIT = SWORD + "originalDeposit"
STATE_SCHEME = SWORD + "state"

MAX_ENTRY_BYTES = 1024 * 1024  # an Atom entry is metadata: a megabyte is plenty
MAX_ENTRY_ELEMENTS = 2000

# the SWORD profile's errors (section 12) and the HTTP status each goes with
SWORD_ERRORS = {
    "ErrorContent": 415,
    "ErrorChecksumMismatch": 412,
    "ErrorBadRequest": 400,
    "TargetOwnerUnknown": 403,
    "MediationNotAllowed": 412,
    "MethodNotAllowed": 405,
    "MaxUploadSizeExceeded": 413,
}
SWORD_ERROR_BASE = "http://purl.org/net/sword/error/"
LODGE_ERROR_BASE = "urn:lodge:sword:error:"  # Lodge's own refusals that SWORD has no word for

# dcterms refinements read as the element they refine
DC_REFINES = {
    "abstract": "description",
    "tableOfContents": "description",
    "alternative": "title",
    "created": "date",
    "issued": "date",
    "available": "date",
    "dateAccepted": "date",
    "license": "rights",
    "accessRights": "rights",
    "bibliographicCitation": "identifier",
    "isPartOf": "relation",
    "hasPart": "relation",
    "isVersionOf": "relation",
    "spatial": "coverage",
    "temporal": "coverage",
    "extent": "format",
    "medium": "format",
}


class SwordError(Exception):
    """A refusal as a SWORD error document: `name` is one of the profile's errors
    (SWORD_ERRORS) or, with `status`, a code of Lodge's own."""

    def __init__(
        self,
        name: str,
        message: str,
        status: int | None = None,
        fields: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.name = name
        self.message = message
        self.status = status or SWORD_ERRORS.get(name, 400)
        self.fields = dict(fields or {})

    @property
    def href(self) -> str:
        base = SWORD_ERROR_BASE if self.name in SWORD_ERRORS else LODGE_ERROR_BASE
        return base + self.name


def _el(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str):
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
    if text is not None:
        element.text = text
    return element


def _root(ns: str, tag: str) -> etree._Element:
    return etree.Element(f"{{{ns}}}{tag}", nsmap=NSMAP)


def _xml(root: etree._Element) -> bytes:
    # lxml has no type information here
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def _when(value: str | datetime | None) -> str:
    """A time as SWORD clients read it: UTC, to the second, with a Z."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (value or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the service document ----------------------------------------------------------------


@dataclass(frozen=True)
class Collection:
    href: str
    title: str
    abstract: str
    policy: str  # the profile's terms: depositing with In-Progress false accepts them
    mediation: bool
    treatment: str


def service_document(
    title: str, collections: Iterable[Collection], max_upload_bytes: int | None
) -> bytes:
    root = etree.Element(f"{{{APP}}}service", nsmap={**NSMAP, None: APP, "atom": ATOM})
    _el(root, SWORD, "version", "2.0")
    if max_upload_bytes:
        _el(root, SWORD, "maxUploadSize", str(max_upload_bytes // 1024))  # in kB
    workspace = _el(root, APP, "workspace")
    _el(workspace, ATOM, "title", title)
    for collection in collections:
        element = _el(workspace, APP, "collection", href=collection.href)
        _el(element, ATOM, "title", collection.title)
        _el(element, APP, "accept", "*/*")
        _el(element, APP, "accept", "*/*", alternate="multipart-related")
        _el(element, SWORD, "collectionPolicy", collection.policy)
        _el(element, DCTERMS, "abstract", collection.abstract)
        _el(element, SWORD, "mediation", "true" if collection.mediation else "false")
        _el(element, SWORD, "treatment", collection.treatment)
        for packaging in ACCEPT_PACKAGING:
            _el(element, SWORD, "acceptPackaging", packaging)
    return _xml(root)


# --- deposit receipts and statements --------------------------------------------------------


@dataclass(frozen=True)
class DepositIris:
    edit: str
    edit_media: str
    statement_atom: str
    statement_ore: str
    alternate: str  # the deposit's page in the portal
    file_base: str  # + file id: one file's edit-media IRI

    def file(self, file_id: str) -> str:
        return f"{self.file_base}/{file_id}"


STATE_DESCRIPTIONS = {
    "draft": "A draft: files and metadata may change; complete it with In-Progress: false.",
    "returned": "Returned to the depositor for changes; it may be edited and completed again.",
    "submitted": "Submitted: Lodge is checking its files.",
    "in_review": "Checked, and waiting for a decision.",
    "approved": "Approved: it is being archived.",
    "archived": "Archived: it is an item of the repository.",
    "declined": "Declined.",
    "withdrawn": "Withdrawn or deleted.",
    "failed_checks": "Its files failed Lodge's checks.",
}


def state_iri(status: str) -> str:
    return f"urn:lodge:deposit-status:{status}"


def _person(parent: etree._Element, tag: str, person: Mapping[str, Any]) -> None:
    author = _el(parent, ATOM, tag)
    _el(author, ATOM, "name", person.get("name") or person.get("id") or "")
    if person.get("email"):
        _el(author, ATOM, "email", person["email"])


def _dc_values(fields_: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any]):
    """(dc element, text) for every value of a field the profile maps to Dublin Core."""
    for form_field in fields_:
        element, value = form_field.get("dc"), metadata.get(form_field["key"])
        if not element or value in (None, "", [], {}):
            continue
        for item in value if isinstance(value, list) else [value]:
            text = item.get("name") if isinstance(item, dict) else item
            if isinstance(text, str) and text:
                yield element, text


def deposit_receipt(
    deposit: Mapping[str, Any],
    profile_fields: Iterable[Mapping[str, Any]],
    iris: DepositIris,
    treatment: str,
    packaging: str | None = None,
    verbose: str | None = None,
) -> bytes:
    root = _root(ATOM, "entry")
    _el(root, ATOM, "id", iris.edit)
    _el(root, ATOM, "title", deposit.get("title") or "Untitled deposit")
    _el(root, ATOM, "updated", _when(deposit.get("updated_at")))
    _person(root, "author", deposit["depositor"])
    _el(root, ATOM, "summary", STATE_DESCRIPTIONS.get(deposit["status"], ""), type="text")
    _el(root, ATOM, "content", type="application/zip", src=iris.edit_media)
    _el(root, ATOM, "link", rel="edit-media", href=iris.edit_media)
    _el(root, ATOM, "link", rel="edit", href=iris.edit)
    _el(root, ATOM, "link", rel=SWORD + "add", href=iris.edit)
    _el(root, ATOM, "link", rel=SWORD + "statement", type=STATEMENT_ATOM, href=iris.statement_atom)
    _el(root, ATOM, "link", rel=SWORD + "statement", type=STATEMENT_ORE, href=iris.statement_ore)
    _el(root, ATOM, "link", rel="alternate", href=iris.alternate)
    for file in deposit.get("files", []):
        _el(
            root,
            ATOM,
            "link",
            rel=ORIGINAL_DEPOSIT,
            href=iris.file(file["id"]),
            type=file.get("media_type", "application/octet-stream"),
        )
    if packaging:
        _el(root, SWORD, "packaging", packaging)
    _el(root, SWORD, "treatment", treatment)
    if verbose:
        _el(root, SWORD, "verboseDescription", verbose)
    for element, text in _dc_values(profile_fields, deposit.get("metadata", {})):
        _el(root, DCTERMS, element, text)
    return _xml(root)


def _deposited_by(deposit: Mapping[str, Any]) -> tuple[str, str | None]:
    """Who deposited, and for whom when it was a mediated deposit."""
    depositor = deposit["depositor"].get("name") or deposit["depositor"]["id"]
    mediator = deposit.get("mediated_by")
    if mediator:
        return mediator.get("name") or mediator["id"], depositor
    return depositor, None


def atom_statement(deposit: Mapping[str, Any], iris: DepositIris) -> bytes:
    root = _root(ATOM, "feed")
    _el(root, ATOM, "id", iris.statement_atom)
    _el(root, ATOM, "title", deposit.get("title") or "Untitled deposit")
    _el(root, ATOM, "updated", _when(deposit.get("updated_at")))
    _person(root, "author", deposit["depositor"])
    _el(root, ATOM, "link", rel="self", href=iris.statement_atom)
    _el(
        root,
        ATOM,
        "category",
        STATE_DESCRIPTIONS.get(deposit["status"], ""),
        scheme=STATE_SCHEME,
        term=state_iri(deposit["status"]),
        label="State",
    )
    by, on_behalf_of = _deposited_by(deposit)
    for file in deposit.get("files", []):
        entry = _el(root, ATOM, "entry")
        _el(entry, ATOM, "id", iris.file(file["id"]))
        _el(entry, ATOM, "title", file["filename"])
        _el(entry, ATOM, "updated", _when(deposit.get("updated_at")))
        _el(entry, ATOM, "summary", f"{file['size']} bytes, SHA-256 {file['sha256']}", type="text")
        _el(entry, ATOM, "content", type=file["media_type"], src=iris.file(file["id"]))
        _el(
            entry,
            ATOM,
            "category",
            scheme=SWORD,
            term=ORIGINAL_DEPOSIT,
            label="Original Deposit",
        )
        _el(entry, SWORD, "packaging", BINARY)
        _el(entry, SWORD, "depositedOn", _when(deposit.get("created_at")))
        _el(entry, SWORD, "depositedBy", by)
        if on_behalf_of:
            _el(entry, SWORD, "depositedOnBehalfOf", on_behalf_of)
    return _xml(root)


def ore_statement(deposit: Mapping[str, Any], iris: DepositIris) -> bytes:
    root = etree.Element(f"{{{RDF}}}RDF", nsmap={"rdf": RDF, "ore": ORE, "sword": SWORD})

    def description(about: str) -> etree._Element:
        return _el(root, RDF, "Description", **{f"{{{RDF}}}about": about})

    def resource(parent: etree._Element, ns: str, tag: str, iri: str) -> None:
        _el(parent, ns, tag, **{f"{{{RDF}}}resource": iri})

    aggregation = description(iris.edit)
    resource(aggregation, ORE, "isDescribedBy", iris.statement_ore)
    for file in deposit.get("files", []):
        resource(aggregation, ORE, "aggregates", iris.file(file["id"]))
    for file in deposit.get("files", []):
        resource(aggregation, SWORD, "originalDeposit", iris.file(file["id"]))
    resource(aggregation, SWORD, "state", state_iri(deposit["status"]))
    state = description(state_iri(deposit["status"]))
    _el(state, SWORD, "stateDescription", STATE_DESCRIPTIONS.get(deposit["status"], ""))
    by, on_behalf_of = _deposited_by(deposit)
    for file in deposit.get("files", []):
        part = description(iris.file(file["id"]))
        resource(part, SWORD, "packaging", BINARY)
        _el(part, SWORD, "depositedOn", _when(deposit.get("created_at")))
        _el(part, SWORD, "depositedBy", by)
        if on_behalf_of:
            _el(part, SWORD, "depositedOnBehalfOf", on_behalf_of)
    describes = description(iris.statement_ore)
    resource(describes, ORE, "describes", iris.edit)
    return _xml(root)


def error_document(error: SwordError, treatment: str = "Nothing was deposited.") -> bytes:
    root = etree.Element(f"{{{SWORD}}}error", nsmap={**NSMAP, None: ATOM}, href=error.href)
    _el(root, ATOM, "title", "ERROR")
    _el(root, ATOM, "updated", _when(None))
    _el(root, ATOM, "generator", "Lodge", uri="urn:lodge", version="1")
    _el(root, ATOM, "summary", error.message)
    _el(root, SWORD, "treatment", treatment)
    if error.fields:
        _el(root, SWORD, "verboseDescription", _describe_fields(error.fields))
    return _xml(root)


def _describe_fields(fields_: Mapping[str, Any], prefix: str = "") -> str:
    lines = []
    for key, value in fields_.items():
        if isinstance(value, Mapping):
            lines.append(_describe_fields(value, f"{prefix}{key}."))
        else:
            messages = value if isinstance(value, list) else [value]
            lines.append(f"{prefix}{key}: " + "; ".join(str(m) for m in messages))
    return "\n".join(lines)


# --- reading an Atom entry ------------------------------------------------------------------

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_pis=True,
    remove_comments=True,
)


def parse_entry(body: bytes) -> etree._Element:
    """An Atom entry from a client, read without any DTD or entity (a document that declares
    one is refused rather than parsed around it), capped in size and elements."""
    if len(body) > MAX_ENTRY_BYTES:
        raise SwordError(
            "MaxUploadSizeExceeded",
            f"An Atom entry may be at most {MAX_ENTRY_BYTES} bytes.",
        )
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as err:
        raise SwordError(
            "ErrorBadRequest", f"The Atom entry is not well-formed XML: {err}."
        ) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise SwordError("ErrorBadRequest", "An Atom entry may not declare a DTD or entities.")
    if root.tag != f"{{{ATOM}}}entry":
        raise SwordError("ErrorBadRequest", "The body is not an Atom entry.")
    for count, node in enumerate(root.iter(), 1):
        if count > MAX_ENTRY_ELEMENTS or not isinstance(node.tag, str):
            raise SwordError(
                "ErrorBadRequest",
                f"An Atom entry may have at most {MAX_ENTRY_ELEMENTS} elements, and no "
                "entity references.",
            )
    return root


@dataclass
class EntryMetadata:
    """What an Atom entry says, as a profile's fields, and the Dublin Core it had no field
    for."""

    metadata: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def _text(element: etree._Element) -> str:
    return " ".join("".join(element.itertext()).split())


def dublin_core(entry: etree._Element) -> list[tuple[str, str]]:
    """(element, text) of the entry's Dublin Core (dcterms or DC 1.1), refinements read as
    the element they refine; atom:title, atom:summary and atom:author stand in for title,
    description and creator when no Dublin Core gives them."""
    values: list[tuple[str, str]] = []
    for child in entry:
        namespace, _, name = child.tag[1:].partition("}")
        if namespace in (DCTERMS, DC):
            text = _text(child)
            if text:
                values.append((DC_REFINES.get(name, name), text))
    given = {element for element, _ in values}
    stand_ins = {
        "title": entry.findall(f"{{{ATOM}}}title"),
        "description": entry.findall(f"{{{ATOM}}}summary"),
        "creator": entry.findall(f"{{{ATOM}}}author/{{{ATOM}}}name"),
    }
    for element, found in stand_ins.items():
        if element not in given:
            values.extend((element, _text(node)) for node in found if _text(node))
    return values


def entry_metadata(
    entry: etree._Element, profile_fields: Iterable[Mapping[str, Any]]
) -> EntryMetadata:
    """The entry's Dublin Core as the profile's fields: each element goes to the first field
    mapped to it, shaped as the field's type wants (a person's name, a list of keywords); a
    non-repeatable field given twice is refused. Intake checks the values themselves."""
    by_element: dict[str, Mapping[str, Any]] = {}
    for form_field in profile_fields:
        if form_field.get("dc"):
            by_element.setdefault(form_field["dc"], form_field)
    result = EntryMetadata()
    collected: dict[str, list[Any]] = {}
    by_key = {form_field["key"]: form_field for form_field in by_element.values()}
    for element, text in dublin_core(entry):
        mapped = by_element.get(element)
        if mapped is None:
            result.ignored.append(element)
            continue
        value: Any = {"name": text} if mapped["type"] == "person" else text
        collected.setdefault(mapped["key"], []).append(value)
    problems = {}
    for key, values in collected.items():
        if by_key[key]["type"] == "keywords" or by_key[key].get("repeatable"):
            result.metadata[key] = values
        elif len(values) == 1:
            result.metadata[key] = values[0]
        else:
            problems[key] = [f"given {len(values)} times; the field takes one value"]
    if problems:
        raise SwordError(
            "ErrorBadRequest",
            "The Atom entry gives a single-valued field more than once.",
            fields={"metadata": problems},
        )
    result.ignored = sorted(set(result.ignored))
    return result
