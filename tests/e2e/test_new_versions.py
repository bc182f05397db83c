"""New versions and corrections end to end, over the REST API and OAI-PMH of a running Lodge:
a thesis is archived, its depositor starts a new version, changes it and submits it; it is
approved and archived as version 2 of the same work, with the relations on both items, in
oai_dc and datacite, and the work's identifier resolves to it. A manager corrects an item;
strangers can do neither, and hostile input is refused with the error shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
from kombu import Connection, Exchange, Queue
from lxml import etree

from tests.e2e.test_lifecycles import (
    API,
    assert_error,
    make_thesis_in_review,
    pdf_bytes,
    wait_for_review,
)
from tests.support.system import csrf_token, expect, poll_until, signed_in

OAI = "{http://www.openarchives.org/OAI/2.0/}"
DC = {"dc": "http://purl.org/dc/elements/1.1/"}
DATACITE = {"d": "http://datacite.org/schema/kernel-4"}


@pytest.fixture(scope="module")
def student(lodge_system):
    return lodge_system.client("student")


@pytest.fixture(scope="module")
def approver(lodge_system):
    return lodge_system.client("approver")


@pytest.fixture(scope="module")
def manager(lodge_system):
    return lodge_system.client("manager")


def approve(lodge_system, student, approver, deposit_id) -> dict:
    expect(approver.post(f"{API}/reviews/{deposit_id}/actions/approve", json={}), 200)
    return lodge_system.wait_for_status(student, deposit_id, "archived")


@pytest.fixture(scope="module")
def first(lodge_system, student, approver) -> dict:
    """An archived thesis of the student's: the first version of a work."""
    deposit = make_thesis_in_review(lodge_system, student, approver, "versioned thesis")
    archived = approve(lodge_system, student, approver, deposit["id"])
    return expect(student.get(f"{API}/items/{archived['item_id']}"), 200)


def oai(lodge_system, **params) -> etree._Element:
    response = requests.get(f"{lodge_system.base_url}/oai", params=params, timeout=30)
    assert response.status_code == 200
    return etree.fromstring(response.content)


def get_record(lodge_system, item: dict, prefix: str) -> etree._Element:
    return oai(
        lodge_system,
        verb="GetRecord",
        metadataPrefix=prefix,
        identifier=f"oai:lodge.local:{item['identifier']}",
    ).find(f".//{OAI}record")


def harvested_since(lodge_system, moment: str) -> set[str]:
    root = oai(lodge_system, verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": moment})
    return {element.text for element in root.iter(f"{OAI}identifier")}


def test_the_owner_makes_version_2_related_everywhere(
    lodge_system, student, approver, first, datacite
):
    draft = expect(student.post(f"{API}/items/{first['id']}/versions"), 201)
    assert draft["status"] == "draft" and draft["new_version_of"] == first["id"]
    assert draft["metadata"]["title"] == first["record"]["title"][0] and draft["files"] == []
    # one new version of a work at a time: the second start names the first
    error = assert_error(student.post(f"{API}/items/{first['id']}/versions"), 409, "conflict")
    assert error["fields"] == {"deposit_id": [draft["id"]]}

    title = first["record"]["title"][0] + " (second edition)"
    expect(
        student.patch(
            f"{API}/deposits/{draft['id']}",
            json={"metadata": {**draft["metadata"], "title": title}},
        ),
        200,
    )
    student.upload(draft["id"], "thesis-v2.pdf", pdf_bytes(title))
    student.submit(draft["id"])
    lodge_system.wait_for_status(student, draft["id"], "in_review")
    wait_for_review(approver, draft["id"], revision=1)
    archived = approve(lodge_system, student, approver, draft["id"])

    second = expect(student.get(f"{API}/items/{archived['item_id']}"), 200)
    old = expect(student.get(f"{API}/items/{first['id']}"), 200)
    assert (second["version"], old["version"]) == (2, 1)
    assert second["concept_identifier"] == old["concept_identifier"] != second["identifier"]
    assert [v["item_id"] for v in second["versions"]] == [first["id"], second["id"]]
    # versions and their work are named by their DOIs (every e2e item has one)
    concept = first["concept_doi"]
    assert second["concept_doi"] == concept and concept not in (first["doi"], second["doi"])
    assert {r["relation_type"]: r["identifier"] for r in second["relations"]} == {
        "IsNewVersionOf": first["doi"],
        "IsVersionOf": concept,
    }
    assert {r["relation_type"]: r["identifier"] for r in old["relations"]} == {
        "IsPreviousVersionOf": second["doi"],
        "IsVersionOf": concept,
    }
    # the work's DOI at DataCite: the latest version's metadata, resolving through the
    # work's identifier, and each version
    work = poll_until(
        lambda: (
            (found := datacite.get(concept))
            and len(found["relatedIdentifiers"]) == 2
            and found["state"] == "findable"
            and found
        ),
        timeout=30,
        description=f"concept DOI {concept} with both versions at DataCite",
    )
    assert work["url"] == f"{lodge_system.base_url}/id/{first['concept_identifier']}"
    assert work["titles"] == [{"title": title}]
    assert [(r["relationType"], r["relatedIdentifier"]) for r in work["relatedIdentifiers"]] == [
        ("HasVersion", first["doi"]),
        ("HasVersion", second["doi"]),
    ]

    # the work resolves to version 2; each version's own identifier to itself (a browser's
    # Accept: the API client's application/json is sent to the REST API)
    anonymous = lodge_system.client()
    anonymous.headers["Accept"] = "text/html"
    to_work = anonymous.get(f"/id/{first['concept_identifier']}", allow_redirects=False)
    assert to_work.status_code == 302 and to_work.headers["Location"].endswith(
        f"/items/{second['id']}"
    )
    to_first = anonymous.get(f"/id/{first['identifier']}", allow_redirects=False)
    assert to_first.headers["Location"].endswith(f"/items/{first['id']}")

    # both landing pages list the versions; the first one points to the latest
    page = anonymous.get(f"/items/{first['id']}", headers={"Accept": "text/html"}).text
    assert "This is not the latest version of this work." in page
    assert f'href="/items/{second["id"]}"' in page and "Version 2" in page
    assert f'href="https://doi.org/{concept}"' in page  # "Cite all versions"
    assert "not the latest version" not in anonymous.get(f"/items/{second['id']}").text

    # OAI-PMH: relations in oai_dc and datacite, and the first version harvested again
    pairs = ((second, first, "IsNewVersionOf"), (old, second, "IsPreviousVersionOf"))
    for item, other, relation in pairs:
        record = get_record(lodge_system, item, "oai_dc")
        assert record.xpath(".//dc:relation/text()", namespaces=DC) == [
            f"https://doi.org/{other['doi']}",
            f"https://doi.org/{concept}",
        ]
        datacite = get_record(lodge_system, item, "datacite")
        related = datacite.xpath(".//d:relatedIdentifier", namespaces=DATACITE)
        found = [(r.get("relationType"), r.get("relatedIdentifierType"), r.text) for r in related]
        assert found == [(relation, "DOI", other["doi"]), ("IsVersionOf", "DOI", concept)]
    stamp = get_record(lodge_system, second, "oai_dc").find(f"{OAI}header/{OAI}datestamp").text
    assert f"oai:lodge.local:{first['identifier']}" in harvested_since(lodge_system, stamp)


def test_strangers_cannot_start_a_version_or_correct(lodge_system, first):
    faculty, anonymous = lodge_system.client("faculty"), lodge_system.client()
    assert_error(faculty.post(f"{API}/items/{first['id']}/versions"), 403, "forbidden")
    assert_error(anonymous.post(f"{API}/items/{first['id']}/versions"), 401)
    correction = {"record": {"title": ["Taken over"]}, "creators": [], "reason": "Mine"}
    for client in (faculty, lodge_system.client("student"), lodge_system.client("approver")):
        assert_error(client.post(f"{API}/items/{first['id']}/corrections", json=correction), 403)
    assert_error(faculty.get(f"{API}/items/{first['id']}/corrections"), 403)
    assert_error(faculty.post(f"{API}/items/no-such-item/versions"), 404, "not_found")


def test_a_manager_corrects_an_item_the_history_shows_it_and_harvesters_see_it(
    lodge_system, manager, first
):
    title = first["record"]["title"][0] + " (corrected)"
    moment = datetime.now(UTC).replace(microsecond=0)
    record = {k: v for k, v in first["record"].items() if k != "creator"}
    with Connection(lodge_system.amqp_uri) as connection:
        # a campus system listening for corrections on the outbound CloudEvents exchange
        watcher = Queue(
            "campus-corrections",
            routing_key="inventory.item_corrected",
            exchange=Exchange("lodge.events", type="topic", durable=True),
            durable=False,
            auto_delete=False,
        )(connection.channel())
        watcher.declare()
        corrected = expect(
            manager.post(
                f"{API}/items/{first['id']}/corrections",
                json={
                    "record": {**record, "title": [title]},
                    "creators": first["creators"],
                    "reason": "The title lacked its subtitle.",
                },
            ),
            200,
        )
        message = poll_until(
            lambda: watcher.get(no_ack=True), timeout=30, description="item_corrected"
        )
    cloudevent = json.loads(message.body)
    assert cloudevent["type"] == "org.lodge.item.corrected.v1"
    assert cloudevent["subject"] == first["id"]
    assert (cloudevent["data"]["item_id"], cloudevent["data"]["elements"]) == (
        first["id"],
        ["title"],
    )
    assert corrected["record"]["title"] == [title]
    [entry, *_] = expect(manager.get(f"{API}/items/{first['id']}/corrections"), 200)
    assert entry["reason"] == "The title lacked its subtitle."
    assert entry["actor"]["name"] == "Morgan Manager"
    assert entry["changes"] == [
        {"element": "title", "before": first["record"]["title"], "after": [title]}
    ]
    header = get_record(lodge_system, first, "oai_dc").find(f"{OAI}header")
    stamp = header.find(f"{OAI}datestamp").text
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= moment
    assert title in etree.tostring(get_record(lodge_system, first, "oai_dc"), encoding="unicode")
    staff_session = signed_in(lodge_system, "manager")
    page = staff_session.get(f"{lodge_system.base_url}/items/{first['id']}", timeout=30).text
    assert "Corrections (staff)" in page and "The title lacked its subtitle." in page
    public_page = lodge_system.client().get(
        f"/items/{first['id']}", headers={"Accept": "text/html"}
    )
    assert public_page.status_code == 200 and title in public_page.text
    assert "The title lacked its subtitle." not in public_page.text


@pytest.mark.parametrize(
    "body,status",
    [
        ({"record": {"title": ["T"]}, "creators": [], "reason": "r", "actor": {"id": "x"}}, 422),
        ({"record": {"title": ["T\u0000"]}, "creators": [], "reason": "r"}, 422),
        ({"record": {"title": ["T"]}, "creators": [], "reason": "\u202eevil"}, 422),
        ({"record": {"title": "T"}, "creators": [], "reason": "r"}, 422),
        ({"record": ["title"], "creators": [], "reason": "r"}, 422),
        ({"record": {"title": ["T"]}, "creators": "Sam", "reason": "r"}, 422),
        ({"record": {"title": ["T"]}, "creators": [{"name": "A", "orcid": 5}], "reason": "r"}, 422),
        ({"record": {"title": ["T"]}, "creators": [], "reason": "x" * 2001}, 422),
        ({"record": {"title": ["T"], "<script>": ["x"]}, "creators": [], "reason": "r"}, 422),
        ({"record": {"title": ["T"]}, "creators": [], "reason": ""}, 422),
        ([], 422),
    ],
)
def test_hostile_corrections_are_refused_with_the_error_shape(manager, first, body, status):
    response = manager.post(f"{API}/items/{first['id']}/corrections", json=body)
    assert_error(response, status)


def test_hostile_requests_on_the_new_endpoints(manager, first, lodge_system):
    url = f"{API}/items/{first['id']}/corrections"
    deep = "[" * 5000 + "]" * 5000
    as_json = {"Content-Type": "application/json"}
    assert 400 <= manager.post(url, data=deep, headers=as_json).status_code < 500
    assert_error(manager.post(url, data=b"{not json", headers=as_json), 422)
    huge = json.dumps({"record": {"title": ["x" * 50_000_000]}, "creators": [], "reason": "r"})
    assert manager.post(url, data=huge, headers=as_json).status_code == 413
    student = lodge_system.client("student")
    for item_id in ("x" * 300, "%00", "..%2F..%2Fetc", "\u202e"):
        response = student.post(f"{API}/items/{item_id}/versions")
        assert 400 <= response.status_code < 500, (item_id, response.status_code)
        assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    "form",
    [
        {"title": "T\u0000", "reason": "r"},
        {"title": "T", "creator_name": "Sam", "creator_orcid": "not-an-orcid", "reason": "r"},
        {"title": "T", "reason": "r" * 3000},
        {"title": "T", "reason": ""},
        {"subject": "no title left", "reason": "r"},
    ],
)
def test_the_correction_page_refuses_hostile_forms_and_keeps_the_item(lodge_system, first, form):
    session = signed_in(lodge_system, "manager")
    url = f"{lodge_system.base_url}/staff/items/{first['id']}/correct"
    token = csrf_token(session.get(url, timeout=30).text)
    response = session.post(url, data={**form, "csrf_token": token}, timeout=30)
    assert response.status_code == 422, response.status_code
    # the gateway refuses control characters in any form before the page sees them
    refused_early = any("\u0000" in value for value in form.values())
    assert ('"invalid_input"' if refused_early else 'class="flash error"') in response.text
    item = expect(lodge_system.client().get(f"{API}/items/{first['id']}"), 200)
    assert item["record"]["title"] != ["T"]
