"""Public pages: item landing pages, identifier resolution, collection browse, search.

Nobody needs to sign in; a signed-in user or a campus address sees campus-only files,
and staff see each file's preservation log on the landing page.
"""

from __future__ import annotations

from flask import Blueprint, g, make_response, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from gateway.auth.guard import may
from gateway.http.usage import count_view
from gateway.presenters import citations, landing, signposting, versions
from gateway.rpc import rpc
from gateway.web.exports import FORMATS, negotiated_item, negotiated_redirect, published
from gateway.web.versions import offers_new_version
from kernel.contracts.exceptions import InvalidInput, NotFound
from kernel.contracts.inventory import SEARCH_RESULT_CAP
from kernel.platform.config import get_settings
from kernel.policy import text
from kernel.policy.permissions import Action

public = Blueprint("public", __name__)
PER_PAGE = 20


@public.get("/items/<item_id>")
def item(item_id):
    """The item's landing page (or, for an Accept that asks for it, its metadata in another
    format); a withdrawn item leaves a tombstone."""
    machine = negotiated_item(item_id)
    if machine is not None:
        return machine
    counting = get_settings().usage.counting
    with rpc() as services:
        # cleaned as it is shown: a record stored before the text rule held never breaks a page
        record = text.clean_tree(
            # the figures come with the item: counting costs the page no call of its own
            services.inventory.get_item(item_id=item_id, with_usage=counting, with_collection=True)
        )
        collection = {"id": record["collection"], "name": record["collection_name"]}
        staff = may(Action.SEE_ALL_DEPOSITS)
        provenance = (
            services.inventory.file_events(actor=g.actor, item_id=item_id) if staff else None
        )
        dois = services.inventory.doi_registrations(actor=g.actor, item_id=item_id) if staff else []
        bag = services.inventory.bag_export(actor=g.actor, item_id=item_id) if staff else None
        corrections = (
            services.inventory.item_corrections(actor=g.actor, item_id=item_id) if staff else None
        )
        offer_new_version = offers_new_version(services, record)
    work = versions.work(record)
    shown = published(record)
    if record.get("withdrawn_at"):
        response = make_response(
            render_template("public/tombstone.html", item=record, work=work, dois=dois), 410
        )
        links = signposting.tombstone_header(shown.cite_as)
    else:
        style = citations.style(request.args.get("style"))
        response = make_response(
            render_template(
                "public/item.html",
                item=record,
                record=record["record"],
                files_visible=shown.files_visible,
                creators=landing.creators(record),
                kinds=landing.kinds(record),
                collection=collection,
                citation=citations.render(shown.csl_json(), style.key, str(get_locale())),
                citation_style=style,
                citation_styles=citations.STYLES,
                export_formats=FORMATS,
                meta_tags=landing.meta_tags(
                    record, shown.publisher, shown.file_url, shown.files_visible
                ),
                json_ld=shown.json_ld(),
                provenance=provenance,
                dois=dois,
                bag=bag,
                usage=record.get("usage"),  # none when counting is off
                canonical=shown.page,
                work=work,
                corrections=corrections,
                offer_new_version=offer_new_version,
            )
        )
        links = signposting.landing_header(shown.signposts())
        count_view(item_id)  # once the page is made: only what is shown counts
    response.headers["Link"] = signposting.header(links)
    response.vary.add("Accept")
    return response


@public.get("/id/<path:identifier>")
def resolve(identifier):
    """A persistent identifier answers with a redirect to its landing page, or to the
    metadata format its Accept asks for."""
    with rpc() as services:
        try:
            found = services.inventory.resolve_identifier(identifier=identifier)
        except (NotFound, InvalidInput):
            return render_template("public/unknown_identifier.html", identifier=identifier), 404
    return negotiated_redirect(found["item_id"])


def _tree(collections: list[dict]) -> list[dict]:
    """Collections in tree order, each with its depth."""
    children: dict[str | None, list[dict]] = {}
    for collection in collections:
        children.setdefault(collection["parent_id"], []).append(collection)
    ordered = []

    def walk(parent, depth):
        for collection in sorted(children.get(parent, []), key=lambda c: c["name"].casefold()):
            ordered.append({**collection, "depth": depth})
            walk(collection["id"], depth + 1)

    walk(None, 0)
    return ordered


def collection_tree(services) -> list[dict]:
    return _tree(services.inventory.list_collections())


@public.get("/collections")
def collections():
    with rpc() as services:
        tree = collection_tree(services)
    return render_template("public/collections.html", tree=tree)


def _page_number() -> int:
    """The page asked for, within the results a search pages (SEARCH_RESULT_CAP)."""
    return min(max(request.args.get("page", 1, type=int), 1), SEARCH_RESULT_CAP // PER_PAGE)


@public.get("/collections/<collection_id>")
def collection(collection_id):
    page = _page_number()
    with rpc() as services:
        shown = services.inventory.get_collection(collection_id=collection_id)
        results = services.inventory.search_items(
            query=None, year=None, collection=collection_id, page=page, per_page=PER_PAGE
        )
    return render_template("public/collection.html", collection=shown, results=results)


@public.get("/search")
def search():
    query = (request.args.get("q") or "").strip()[:500]
    year = request.args.get("year", type=int)
    collection_id = request.args.get("collection") or None
    page = _page_number()
    asked = {"query": query or None, "year": year, "page": page, "per_page": PER_PAGE}
    with rpc() as services:
        if collection_id is None:
            # nothing to check first: both asked at once, the page waits for the slower only
            listed = services.inventory.list_collections.call_async()
            results = services.inventory.search_items(collection=None, **asked)
            tree = _tree(listed.result())
        else:
            # only a collection of the tree is searched in: an old link, or any text in the
            # address, searches everything
            tree = collection_tree(services)
            if collection_id not in {c["id"] for c in tree}:
                collection_id = None
            results = services.inventory.search_items(collection=collection_id, **asked)
    return render_template(
        "public/search.html",
        query=query,
        year=year,
        tree=tree,
        collection_id=collection_id,
        results=results,
        title=_("Search"),
    )
