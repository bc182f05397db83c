"""An item for machines: its metadata in the formats reference managers and harvesters read,
chosen by content negotiation or downloaded from the landing page, and its FAIR Signposting
linkset.

**Content negotiation.** `/items/<id>` answers an `Accept` naming one of `FORMATS` with
that format's body directly (`Vary: Accept`, and `Content-Location` naming its export
URL), as Zenodo's record pages do; `/id/<identifier>` answers it with a 303 to the export
URL, as doi.org does with DataCite's. `text/html`, `*/*` and no `Accept` get the page;
q-values are weighed by werkzeug; an `Accept` that names nothing Lodge offers is 406, with
the offered types in the error's `fields`.

**Downloads.** `/items/<id>/export/<format>` is each format as an attachment named after
the identifier. **Linkset.** `/items/<id>/linkset` as `application/linkset+json` (the
default) or `application/linkset`, by `Accept` or `?format=json|text`.

A withdrawn item has no exports and no linkset (410): only its tombstone page remains.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.utils import secure_filename
from werkzeug.wrappers import Response as BaseResponse

from gateway.files.access import files_visible
from gateway.http.errors import error_response
from gateway.presenters import exports, landing, signposting
from gateway.rpc import rpc
from kernel.contracts.exceptions import InvalidInput, NotFound
from kernel.platform.config import get_settings
from kernel.policy import text

exports_pages = Blueprint("exports", __name__)

PAGE_TYPES = ("text/html", "application/xhtml+xml")
# plain JSON is the REST API's view of the item, for clients that ask for no format by name
API_TYPE = "application/json"


def absolute(path: str) -> str:
    return get_settings().site.base_url + path


def resolver_path(identifier: str) -> str:
    return "/id/" + quote(identifier, safe=":/")


@dataclass(frozen=True)
class Published:
    """An item as one reader may see it, with the URLs every format names."""

    item: dict
    files_visible: bool

    @property
    def publisher(self) -> str:
        return exports.publisher(self.item, get_settings().site.repository_name)

    @property
    def page(self) -> str:
        return absolute(url_for("public.item", item_id=self.item["id"]))

    @property
    def resolver(self) -> str:
        return absolute(resolver_path(self.item["identifier"]))

    @property
    def cite_as(self) -> str:
        doi = self.item.get("doi")
        return landing.doi_url(doi) if doi else self.resolver

    @property
    def linkset(self) -> str:
        return absolute(url_for("exports.linkset", item_id=self.item["id"]))

    def file_url(self, stored: dict) -> str:
        return absolute(
            url_for("items_api.download_item_file", item_id=self.item["id"], file_id=stored["id"])
        )

    def files(self) -> list[dict]:
        if not self.files_visible:
            return []
        return [f for r in self.item["representations"] for f in r["files"]]

    def csl_json(self) -> dict:
        return exports.csl_json(self.item, self.publisher, self.resolver)

    def json_ld(self) -> dict:
        return landing.json_ld(
            self.item, self.publisher, self.page, self.file_url, self.files_visible
        )

    def signposts(self) -> signposting.Landing:
        return signposting.Landing(
            item=self.item,
            page=self.page,
            cite_as=self.cite_as,
            linkset=self.linkset,
            files=[(self.file_url(f), f["media_type"]) for f in self.files()],
            metadata=[
                signposting.Described(export_url(self.item["id"], f.key), f.media_type)
                for f in FORMATS
            ],
        )


def published(item: dict) -> Published:
    return Published(item, files_visible(item, g.actor, request.remote_addr))


def _datacite_xml(published: Published) -> str:
    with rpc() as services:
        record = services.inventory.oai_record(
            identifier=published.item["identifier"], metadata_prefix="datacite"
        )
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + record["metadata"]


def _datacite_json(published: Published) -> str:
    with rpc() as services:
        attributes = services.inventory.datacite_metadata(item_id=published.item["id"])
    return _json(attributes)


def _json(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


@dataclass(frozen=True)
class Format:
    key: str  # in export URLs
    media_type: str
    extension: str
    label: str
    render: Callable[[Published], str]

    @property
    def content_type(self) -> str:
        return self.media_type if "json" in self.media_type else f"{self.media_type}; charset=utf-8"


FORMATS = (
    Format(
        "datacite-xml",
        "application/vnd.datacite.datacite+xml",
        "xml",
        "DataCite XML",
        _datacite_xml,
    ),
    Format(
        "datacite-json",
        "application/vnd.datacite.datacite+json",
        "json",
        "DataCite JSON",
        _datacite_json,
    ),
    Format("json-ld", "application/ld+json", "jsonld", "JSON-LD", lambda p: _json(p.json_ld())),
    Format(
        "csl-json",
        "application/vnd.citationstyles.csl+json",
        "json",
        "CSL-JSON",
        lambda p: _json([p.csl_json()]),
    ),
    Format(
        "bibtex",
        "application/x-bibtex",
        "bib",
        "BibTeX",
        lambda p: exports.bibtex(p.item, p.publisher, p.resolver),
    ),
    Format(
        "ris",
        "application/x-research-info-systems",
        "ris",
        "RIS",
        lambda p: exports.ris(p.item, p.publisher, p.resolver),
    ),
)
BY_KEY = {f.key: f for f in FORMATS}
BY_MEDIA_TYPE = {f.media_type: f for f in FORMATS}
OFFERED = [*PAGE_TYPES, *BY_MEDIA_TYPE, API_TYPE]


def export_url(item_id: str, key: str) -> str:
    return absolute(url_for("exports.export", item_id=item_id, format_key=key))


class NotAcceptable(Exception):
    """The request's Accept names nothing on offer."""


def negotiate() -> str | None:
    """The offered media type the request's Accept prefers; None for the page."""
    accept = request.accept_mimetypes
    if not accept:
        return None
    best = accept.best_match(OFFERED)
    if best is None:
        raise NotAcceptable
    return None if best in PAGE_TYPES else best


def api_redirect(item_id: str) -> BaseResponse:
    return redirect(url_for("items_api.get_item", item_id=item_id), code=303)


def not_acceptable(offered: list[str]) -> Response:
    response = error_response(
        406,
        "not_acceptable",
        "None of the media types in Accept is offered here; see fields.Accept.",
        {"Accept": offered},
    )
    response.vary.add("Accept")
    return response


def gone() -> Response:
    return error_response(410, "gone", "This item has been withdrawn; only its page remains.")


def _item(item_id: str) -> dict:
    with rpc() as services:
        # cleaned as it is shown: a record stored before the text rule held never breaks
        return text.clean_tree(services.inventory.get_item(item_id=item_id))


def export_response(item: dict, chosen: Format, attachment: bool) -> Response:
    """The item in `chosen`, with a Link back to the page it describes."""
    if item.get("withdrawn_at"):
        return gone()
    shown = published(item)
    response = Response(chosen.render(shown), content_type=chosen.content_type)
    if attachment:
        name = secure_filename(item["identifier"]) or item["id"]
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{name}.{chosen.extension}"'
        )
    response.headers["Link"] = signposting.header(
        signposting.metadata_header(shown.page, shown.linkset)
    )
    return response


@exports_pages.get("/items/<item_id>/export/<format_key>")
def export(item_id, format_key):
    chosen = BY_KEY.get(format_key)
    if chosen is None:
        raise NotFound(f"There is no export format {format_key!r}.")
    return export_response(_item(item_id), chosen, attachment=True)


LINKSET_FORMATS = {"json": signposting.LINKSET_JSON, "text": signposting.LINKSET_TEXT}


def _linkset_type() -> str | None:
    """The linkset's media type by `?format=`, else by Accept; None when neither fits."""
    asked = request.args.get("format")
    if asked is not None:
        if asked not in LINKSET_FORMATS:
            raise InvalidInput(
                "Unknown linkset format.", {"format": [f"One of: {', '.join(LINKSET_FORMATS)}."]}
            )
        return LINKSET_FORMATS[asked]
    if not request.accept_mimetypes:
        return signposting.LINKSET_JSON
    return request.accept_mimetypes.best_match(list(LINKSET_FORMATS.values()))


@exports_pages.get("/items/<item_id>/linkset")
def linkset(item_id):
    media_type = _linkset_type()
    if media_type is None:
        return not_acceptable(list(LINKSET_FORMATS.values()))
    item = _item(item_id)
    if item.get("withdrawn_at"):
        return gone()
    links = signposting.linkset(published(item).signposts())
    if media_type == signposting.LINKSET_JSON:
        response = Response(_json(signposting.linkset_json(links)), content_type=media_type)
    else:
        response = Response(
            signposting.linkset_text(links), content_type=f"{media_type}; charset=utf-8"
        )
    response.vary.add("Accept")
    return response


def negotiated_item(item_id: str) -> BaseResponse | None:
    """`/items/<id>` for a machine: the format its Accept asks for, or None for the page."""
    try:
        chosen = negotiate()
    except NotAcceptable:
        return not_acceptable(OFFERED)
    if chosen is None:
        return None
    if chosen == API_TYPE:
        response = api_redirect(item_id)
    else:
        wanted = BY_MEDIA_TYPE[chosen]
        response = export_response(_item(item_id), wanted, attachment=False)
        response.headers["Content-Location"] = export_url(item_id, wanted.key)
    response.vary.add("Accept")
    return response


def negotiated_redirect(item_id: str) -> BaseResponse:
    """`/id/<identifier>`: the landing page, or the export the Accept asks for."""
    try:
        chosen = negotiate()
    except NotAcceptable:
        return not_acceptable(OFFERED)
    if chosen is None:
        response = redirect(url_for("public.item", item_id=item_id), code=302)
    elif chosen == API_TYPE:
        response = api_redirect(item_id)
    else:
        response = redirect(export_url(item_id, BY_MEDIA_TYPE[chosen].key), code=303)
    response.vary.add("Accept")
    return response
