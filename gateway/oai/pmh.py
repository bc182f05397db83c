"""OAI-PMH 2.0 at /oai: the protocol (arguments, errors, resumption tokens, XML envelope).

The records come from inventory over RPC (`harvest`, `oai_record`), already rendered in
the requested metadata format, and are spliced into the envelope as text: parsing each
one again only to serialise it cost a harvest page more than building the rest of it.
Resumption tokens carry the keyset position, the request's original arguments and the
cursor, so a page deep in the list costs what the first one costs and the gateway keeps
no state.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime, time
from xml.sax.saxutils import escape

from flask import Blueprint, Response, request
from lxml import etree

from gateway.rpc import rpc
from kernel.contracts.exceptions import NotFound
from kernel.contracts.oai import METADATA_FORMATS, XSI
from kernel.platform.config import get_settings
from kernel.policy import text
from kernel.policy.text import user_pattern

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
LIST_ARGUMENTS = ({"metadataPrefix"}, {"from", "until", "set"})
VERBS = {  # verb → (required arguments, optional arguments); resumptionToken is exclusive
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), set()),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": LIST_ARGUMENTS,
    "ListRecords": LIST_ARGUMENTS,
}
RESUMABLE = {"ListIdentifiers", "ListRecords", "ListSets"}
DAY, SECOND = "%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ"
# the syntax OAI-PMH.xsd gives setSpec and metadataPrefix
SET_SPEC = user_pattern(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*")
METADATA_PREFIX = user_pattern(r"[A-Za-z0-9\-_.!~*'()]+")

oai = Blueprint("oai", __name__)


class OaiError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SECOND)


def _envelope() -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{OAI}}}OAI-PMH", nsmap={None: OAI, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI} {OAI_SCHEMA}")
    etree.SubElement(root, f"{{{OAI}}}responseDate").text = _utc(datetime.now(UTC))
    request_element = etree.SubElement(root, f"{{{OAI}}}request")
    request_element.text = get_settings().site.base_url + "/oai"
    return root, request_element


def _sub(parent, name: str, text: str | None = None, **attributes) -> etree._Element:
    element = etree.SubElement(parent, f"{{{OAI}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


class Splice:
    """Records to put inside a verb's element as text: the element holds a marker, random
    per response (no argument echoed in the envelope can hold it), that the serialised
    envelope's bytes are cut at."""

    def __init__(self, parent: etree._Element):
        self.marker = f"records-{uuid.uuid4().hex}"
        parent.text = self.marker
        self.parts: list[str] = []

    def into(self, envelope: bytes) -> bytes:
        return envelope.replace(self.marker.encode(), "".join(self.parts).encode(), 1)


def _respond(root: etree._Element, splice: Splice | None) -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if splice is not None:
        body = splice.into(body)
    return Response(body, mimetype="text/xml", headers={"Cache-Control": "no-store"})


@oai.route("/oai", methods=["GET", "POST"])
def endpoint():
    values = request.form if request.method == "POST" else request.args
    arguments = {key: values.getlist(key) for key in values}
    root, request_element = _envelope()
    splice = None
    try:
        verb, args = _checked_arguments(arguments)
        for key, value in args.items():
            request_element.set(key, value)
        request_element.set("verb", verb)
        splice = HANDLERS[verb](root, args)
    except OaiError as err:
        if err.code in ("badVerb", "badArgument"):
            request_element.attrib.clear()  # the spec: the base URL only
        for child in list(root)[2:]:
            root.remove(child)
        _sub(root, "error", err.message, code=err.code)
    return _respond(root, splice)


def _checked_arguments(arguments: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    verbs = arguments.pop("verb", [])
    if len(verbs) != 1 or verbs[0] not in VERBS:
        raise OaiError(
            "badVerb",
            "The verb is missing, repeated or not an OAI-PMH verb."
            if len(verbs) != 1
            else f"{verbs[0]!r} is not an OAI-PMH verb.",
        )
    verb = verbs[0]
    repeated = sorted(key for key, values in arguments.items() if len(values) > 1)
    if repeated:
        raise OaiError("badArgument", f"Arguments may not repeat: {', '.join(repeated)}.")
    args = {key: values[0] for key, values in arguments.items()}
    # no argument can be echoed with what XML 1.0 cannot carry
    if any(text.problem(value) for pair in args.items() for value in pair):
        raise OaiError("badArgument", "Arguments may not hold control characters.")
    required, optional = VERBS[verb]
    if "resumptionToken" in args and verb in RESUMABLE:
        if len(args) > 1:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument.")
        return verb, args
    illegal = sorted(set(args) - required - optional)
    if illegal:
        raise OaiError("badArgument", f"{verb} does not take {', '.join(illegal)}.")
    missing = sorted(required - set(args))
    if missing:
        raise OaiError("badArgument", f"{verb} needs {', '.join(missing)}.")
    return verb, args


# --- verbs ------------------------------------------------------------------------


def identify(root, args):
    settings = get_settings()
    with rpc() as services:
        earliest = services.inventory.repository_summary()["earliest_datestamp"]
    body = _sub(root, "Identify")
    _sub(body, "repositoryName", settings.site.repository_name)
    _sub(body, "baseURL", settings.site.base_url + "/oai")
    _sub(body, "protocolVersion", "2.0")
    _sub(body, "adminEmail", settings.oai.admin_email)
    _sub(
        body,
        "earliestDatestamp",
        _utc(datetime.fromisoformat(earliest)) if earliest else "1970-01-01T00:00:00Z",
    )
    _sub(body, "deletedRecord", "persistent")
    _sub(body, "granularity", "YYYY-MM-DDThh:mm:ssZ")


def list_metadata_formats(root, args):
    if "identifier" in args:
        _fetch_record(args["identifier"], None)  # idDoesNotExist if unknown
    body = _sub(root, "ListMetadataFormats")
    for prefix, (schema, namespace) in METADATA_FORMATS.items():
        entry = _sub(body, "metadataFormat")
        _sub(entry, "metadataPrefix", prefix)
        _sub(entry, "schema", schema)
        _sub(entry, "metadataNamespace", namespace)


def list_sets(root, args):
    if "resumptionToken" in args:  # every set fits on the one page, so no token is valid
        raise OaiError("badResumptionToken", "This repository issues no ListSets tokens.")
    body = _sub(root, "ListSets")
    for collection in _require_sets():
        entry = _sub(body, "set")
        _sub(entry, "setSpec", collection["set_spec"])
        _sub(entry, "setName", collection["name"])


def _require_sets() -> list[dict]:
    with rpc() as services:
        collections = services.inventory.list_collections()
    if not collections:
        raise OaiError("noSetHierarchy", "This repository has no sets.")
    return collections


def get_record(root, args) -> Splice:
    prefix = _metadata_prefix(args["metadataPrefix"])
    record = _fetch_record(args["identifier"], prefix)
    splice = Splice(_sub(root, "GetRecord"))
    splice.parts.append(_record(record))
    return splice


def list_identifiers(root, args) -> Splice:
    return _list(root, "ListIdentifiers", args, with_metadata=False)


def list_records(root, args) -> Splice:
    return _list(root, "ListRecords", args, with_metadata=True)


HANDLERS = {
    "Identify": identify,
    "ListMetadataFormats": list_metadata_formats,
    "ListSets": list_sets,
    "GetRecord": get_record,
    "ListIdentifiers": list_identifiers,
    "ListRecords": list_records,
}


# --- records and lists -----------------------------------------------------------------


def _oai_identifier(identifier: str) -> str:
    return f"oai:{get_settings().oai.repository_id}:{identifier}"


def _item_identifier(oai_identifier: str) -> str:
    prefix = f"oai:{get_settings().oai.repository_id}:"
    if not oai_identifier.startswith(prefix):
        raise OaiError("idDoesNotExist", f"Identifiers here begin with {prefix!r}.")
    return oai_identifier.removeprefix(prefix)


def _fetch_record(oai_identifier: str, prefix: str | None) -> dict:
    try:
        with rpc() as services:
            return services.inventory.oai_record(
                identifier=_item_identifier(oai_identifier), metadata_prefix=prefix
            )
    except NotFound:
        raise OaiError(
            "idDoesNotExist", f"No record has the identifier {oai_identifier!r}."
        ) from None


def _metadata_prefix(prefix: str) -> str:
    if not METADATA_PREFIX.fullmatch(prefix):
        raise OaiError("badArgument", f"{prefix!r} is not a metadataPrefix.")
    if prefix not in METADATA_FORMATS:
        raise OaiError(
            "cannotDisseminateFormat", f"{prefix!r} is not offered; see ListMetadataFormats."
        )
    return prefix


def _datestamp(value: str) -> str:
    """A datestamp from inventory (ISO 8601) as OAI-PMH writes it. Inventory's are whole
    seconds in UTC, which only lose their offset; parsing each cost a page of 500 records
    a tenth of the gateway's time."""
    if len(value) == 25 and value.endswith("+00:00"):
        return value[:19] + "Z"
    return _utc(datetime.fromisoformat(value))


def _header(record: dict) -> str:
    """A record's <header> as text, in the envelope's default (OAI) namespace."""
    opening = '<header status="deleted">' if record["deleted"] else "<header>"
    sets = "".join(f"<setSpec>{escape(spec)}</setSpec>" for spec in record["sets"])
    return (
        f"{opening}<identifier>{escape(_oai_identifier(record['identifier']))}</identifier>"
        f"<datestamp>{_datestamp(record['datestamp'])}</datestamp>"
        f"{sets}</header>"
    )


def _record(record: dict) -> str:
    """A <record> as text; its metadata is the element inventory serialised, which declares
    its own namespaces, taken as it came."""
    metadata = record["metadata"]
    shown = f"<metadata>{metadata}</metadata>" if metadata is not None else ""
    return f"<record>{_header(record)}{shown}</record>"


def _parse_datestamp(value: str, argument: str, end_of_day: bool = False) -> tuple[datetime, str]:
    """A from/until argument as a UTC datetime, and its granularity."""
    for granularity in (SECOND, DAY):
        try:
            moment = datetime.strptime(value, granularity).replace(tzinfo=UTC)
        except ValueError:
            continue
        if granularity == DAY and end_of_day:
            moment = datetime.combine(moment.date(), time(23, 59, 59), UTC)
        return moment, granularity
    raise OaiError("badArgument", f"{argument} must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ.")


def _window(selection: dict) -> tuple[datetime | None, datetime | None]:
    """The from/until of a selection as UTC datetimes (until inclusive, to the second)."""
    since = until = None
    if selection["from"]:
        since, since_granularity = _parse_datestamp(selection["from"], "from")
    if selection["until"]:
        until, until_granularity = _parse_datestamp(selection["until"], "until", end_of_day=True)
    if since and until:
        if since_granularity != until_granularity:
            raise OaiError("badArgument", "from and until must have the same granularity.")
        if since > until:
            raise OaiError("badArgument", "from must not be later than until.")
    return since, until


def _selection(args: dict) -> dict:
    """The harvest's selection from the request's own arguments, checked."""
    selection = {
        "metadataPrefix": _metadata_prefix(args["metadataPrefix"]),
        "from": args.get("from"),
        "until": args.get("until"),
        "set": args.get("set"),
    }
    _window(selection)
    if selection["set"] is not None and not SET_SPEC.fullmatch(selection["set"]):
        raise OaiError("badArgument", f"{selection['set']!r} is not a setSpec.")
    return selection


def encode_token(verb: str, selection: dict, last: dict, cursor: int) -> str:
    state = {"v": verb, "s": selection, "d": last["datestamp"], "i": last["item_id"], "c": cursor}
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(verb: str, token: str) -> tuple[dict, dict, int]:
    """The selection, the position after which to continue and the cursor; or
    badResumptionToken for anything that is not a token this endpoint issued for `verb`."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        state = json.loads(raw)
        selection, cursor = state["s"], state["c"]
        position = {
            "after_datestamp": datetime.fromisoformat(state["d"]).isoformat(),
            "after_id": state["i"],
        }
        valid = (
            state["v"] == verb
            and isinstance(cursor, int)
            and cursor > 0
            and isinstance(state["i"], str)
            and isinstance(selection, dict)
            and set(selection) == {"metadataPrefix", "from", "until", "set"}
            and all(v is None or isinstance(v, str) for v in selection.values())
        )
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise OaiError("badResumptionToken", "The resumption token is not valid.")
    try:
        _selection(selection)
    except OaiError:
        raise OaiError("badResumptionToken", "The resumption token is not valid.") from None
    return selection, position, cursor


def _list(root, verb: str, args: dict, with_metadata: bool) -> Splice:
    if "resumptionToken" in args:
        selection, position, cursor = decode_token(verb, args["resumptionToken"])
    else:
        selection, position, cursor = _selection(args), {}, 0
    since, until = _window(selection)
    page_size = get_settings().oai.page_size
    with rpc() as services:
        page = services.inventory.harvest(
            metadata_prefix=selection["metadataPrefix"] if with_metadata else None,
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            set_spec=selection["set"],
            limit=page_size,
            **position,
        )
    records = page["records"]
    if not records:
        if selection["set"] is not None:
            _require_sets()
        raise OaiError("noRecordsMatch", "No records match the request.")
    body = _sub(root, verb)
    splice = Splice(body)
    splice.parts.extend(map(_record if with_metadata else _header, records))
    if page["more"]:
        next_cursor = cursor + len(records)
        _sub(
            body,
            "resumptionToken",
            encode_token(verb, selection, records[-1], next_cursor),
            cursor=str(cursor),
        )
    elif cursor:
        _sub(body, "resumptionToken", cursor=str(cursor))  # the list is complete
    return splice
