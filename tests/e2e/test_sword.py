"""SWORD v2 at /sword/ on a running Lodge: the `sword2` client deposits a SimpleZip, reads
the statement, updates the metadata and completes the deposit, which is archived and
harvested over OAI-PMH; a campus system deposits on a patron's behalf; a draft is deleted.
Plain requests as in the SWORD v2 profile's examples check the headers, the error documents
and hostile input: broken and bombing zips, paths out of the package, oversize bodies,
entities in XML, wrong checksums and forged On-Behalf-Of.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import uuid
import zipfile
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sword2 import Connection, Entry
from sword2.http_layer import HttpLib2Layer

from tests.support.system import LodgeSystem, expect, signed_in

ATOM = "{http://www.w3.org/2005/Atom}"
SWORD = "{http://purl.org/net/sword/terms/}"
APP = "{http://www.w3.org/2007/app}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
ORE = "{http://www.openarchives.org/ore/terms/}"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"
SIMPLE_ZIP = "http://purl.org/net/sword/package/SimpleZip"
BINARY = "http://purl.org/net/sword/package/Binary"
ERROR = "http://purl.org/net/sword/error/"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def package(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def register_system(lodge_system: LodgeSystem, modes: dict[str, str]) -> tuple[str, str]:
    """A campus system with an account of its own (staff, so that intake lets it mediate
    until campus registrations stand for that), registered for `modes`; its name and token."""
    from gateway.auth import identity
    from gateway.models import CampusSystem, CampusSystemProfile

    name = f"press-{uuid.uuid4().hex[:8]}"
    engine = create_engine(lodge_system.database_urls["gateway"])
    with Session(engine) as db, db.begin():
        account = identity.create_user(
            db,
            name,
            f"University press {name}",
            f"{name}@example.edu",
            None,
            [],
            ["staff"],
            enforce_policy=False,
        )
        db.flush()
        system_id = uuid.uuid4().hex
        db.add(
            CampusSystem(
                id=system_id,
                name=name,
                label=f"University press {name}",
                user_id=account.id,
                broker_user=f"campus-{name}",
                allowed_hosts=[],
                sends_people=False,
            )
        )
        db.flush()
        for profile_id, mode in modes.items():
            db.add(CampusSystemProfile(system_id=system_id, profile_id=profile_id, mode=mode))
    engine.dispose()
    return name, lodge_system.token(name)


def account_id(lodge_system: LodgeSystem, username: str) -> str:
    from gateway.models import User

    engine = create_engine(lodge_system.database_urls["gateway"])
    with Session(engine) as db:
        found = db.scalar(select(User.id).where(User.username == username))
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def press(lodge_system):
    """A system that deposits open works as its own (submitted for approval) and theses on
    students' behalf (mediated)."""
    return register_system(lodge_system, {"open-works": "submit", "thesis": "mediated"})


def connection(lodge_system, token: str, tmp_path, on_behalf_of: str | None = None):
    return Connection(
        f"{lodge_system.base_url}/sword/servicedocument",
        user_name="anything",
        user_pass=token,
        on_behalf_of=on_behalf_of,
        http_impl=HttpLib2Layer(str(tmp_path / "httplib2"), timeout=60),
    )


def sword(lodge_system, token: str) -> requests.Session:
    session = requests.Session()
    session.auth = ("anything", token)
    session.headers["Connection"] = "close"
    return session


def error_of(response: requests.Response, status: int) -> str:
    """The error document's href, after checking the status and that it is one."""
    assert response.status_code == status, response.text
    root = etree.fromstring(response.content)
    assert root.tag == f"{SWORD}error", response.text
    assert root.findtext(f"{ATOM}summary")
    return root.get("href")


# --- the sword2 client ------------------------------------------------------------------------


def test_the_service_document_offers_a_system_its_registered_profiles(
    lodge_system, press, tmp_path
):
    _, token = press
    conn = connection(lodge_system, token, tmp_path)
    conn.get_service_document()
    assert conn.sd.valid
    assert conn.sd.version == "2.0"
    [(_, collections)] = conn.sd.workspaces
    by_href = {urlsplit(c.href).path: c for c in collections}
    assert set(by_href) == {"/sword/collections/open-works", "/sword/collections/thesis"}
    assert by_href["/sword/collections/thesis"].mediation is True
    assert by_href["/sword/collections/open-works"].mediation is False
    for collection in collections:
        assert collection.acceptPackaging == [SIMPLE_ZIP, BINARY]
        assert collection.collectionPolicy  # the profile's terms

    # a student's token: what intake offers them (other tests' open profiles too), never mediated
    student = connection(lodge_system, lodge_system.token("student"), tmp_path)
    student.get_service_document()
    [(_, offered)] = student.sd.workspaces
    assert {urlsplit(c.href).path for c in offered} >= {
        "/sword/collections/open-works",
        "/sword/collections/thesis",
    }
    assert not any(c.mediation for c in offered)


def test_a_simple_zip_deposited_with_the_sword2_client_is_archived_and_harvested(
    lodge_system, press, tmp_path
):
    name, token = press
    conn = connection(lodge_system, token, tmp_path)
    conn.get_service_document()
    zipped = package({"paper/article.pdf": PDF, "paper/data.csv": b"a,b\n1,2\n"})
    receipt = conn.create(
        col_iri=f"{lodge_system.base_url}/sword/collections/open-works",
        payload=zipped,
        mimetype="application/zip",
        filename="package.zip",
        packaging=SIMPLE_ZIP,
        in_progress=True,
    )
    assert receipt.code == 201
    assert receipt.location == receipt.edit
    assert urlsplit(receipt.edit).path.startswith("/sword/deposits/")
    assert receipt.edit_media and receipt.atom_statement_iri and receipt.ore_statement_iri

    statement = conn.get_atom_sword_statement(receipt.atom_statement_iri)
    assert statement.states[0][0] == "urn:lodge:deposit-status:draft"
    assert sorted(r.uri.rsplit("/", 1)[0] == receipt.edit_media for r in statement.resources) == [
        True,
        True,
    ]
    ore = conn.get_ore_sword_statement(receipt.ore_statement_iri)
    assert len(ore.resources) == 2

    entry = Entry(title="Lichens of the old town walls")
    entry.add_fields(
        dcterms_creator="Lee, Robin",
        dcterms_abstract="Which lichens grow on which stones.",
        dcterms_issued="2025-11",
        dcterms_subject="lichens",
    )
    updated = conn.update(metadata_entry=entry, edit_iri=receipt.edit, in_progress=True)
    assert updated.code == 200
    deposit_id = receipt.edit.rsplit("/", 1)[1]
    api = lodge_system.client(name)
    draft = api.deposit(deposit_id)
    assert draft["metadata"] == {
        "title": "Lichens of the old town walls",
        "creators": [{"name": "Lee, Robin"}],
        "abstract": "Which lichens grow on which stones.",
        "date": "2025-11",
        "keywords": ["lichens"],
    }
    assert sorted(f["filename"] for f in draft["files"]) == ["article.pdf", "data.csv"]

    completed = conn.complete_deposit(dr=conn.get_deposit_receipt(receipt.edit))
    assert completed.code == 200
    archived = lodge_system.wait_for_status(api, deposit_id, "archived", timeout=120)
    record = etree.fromstring(
        lodge_system.client()
        .get(
            "/oai",
            params={
                "verb": "GetRecord",
                "metadataPrefix": "oai_dc",
                "identifier": f"oai:lodge.local:{archived['item_identifier']}",
            },
        )
        .content
    )
    assert record.findtext(f".//{DC}title") == "Lichens of the old town walls"
    final = conn.get_atom_sword_statement(receipt.atom_statement_iri)
    assert final.states[0][0] == "urn:lodge:deposit-status:archived"


def test_a_system_deposits_a_thesis_on_a_students_behalf(lodge_system, press, tmp_path):
    name, token = press
    conn = connection(lodge_system, token, tmp_path, on_behalf_of="student@example.edu")
    entry = Entry(title="On moss")
    entry.add_fields(
        dcterms_creator="Student, Sam",
        dcterms_abstract="Moss, at length.",
        dcterms_date="2026",
        dcterms_type="Master",
    )
    receipt = conn.create(
        col_iri=f"{lodge_system.base_url}/sword/collections/thesis",
        metadata_entry=entry,
        in_progress=True,
    )
    assert receipt.code == 201
    added = conn.add_file_to_resource(
        receipt.edit_media, PDF, "thesis.pdf", "application/pdf", packaging=BINARY
    )
    assert added.code == 201
    statement = etree.fromstring(sword(lodge_system, token).get(receipt.atom_statement_iri).content)
    [resource] = statement.findall(f"{ATOM}entry")
    assert resource.findtext(f"{SWORD}depositedOnBehalfOf") == "Sam Student"
    deposit_id = receipt.edit.rsplit("/", 1)[1]
    completed = conn.complete_deposit(dr=conn.get_deposit_receipt(receipt.edit))
    assert completed.code == 200
    student = lodge_system.client("student")
    archived = lodge_system.wait_for_status(student, deposit_id, "archived", timeout=120)
    assert archived["depositor"]["id"] == account_id(lodge_system, "student")
    assert archived["mediated_by"]["id"] == account_id(lodge_system, name)


def test_a_draft_is_deleted_and_gone(lodge_system, tmp_path):
    token = lodge_system.token("faculty")
    conn = connection(lodge_system, token, tmp_path)
    receipt = conn.create(
        col_iri=f"{lodge_system.base_url}/sword/collections/open-works",
        payload=PDF,
        mimetype="application/pdf",
        filename="draft.pdf",
        packaging=BINARY,
        in_progress=True,
    )
    assert receipt.code == 201
    deleted = conn.delete_container(edit_iri=receipt.edit)
    assert deleted.code == 204
    assert error_of(sword(lodge_system, token).get(receipt.edit), 410)
    deposit_id = receipt.edit.rsplit("/", 1)[1]
    assert lodge_system.client("faculty").deposit(deposit_id)["status"] == "withdrawn"


# --- plain requests, as in the profile's examples -----------------------------------------


def test_a_binary_deposit_with_curl_style_headers_and_its_edit_media(lodge_system):
    token = lodge_system.token("faculty")
    client = sword(lodge_system, token)
    collection = f"{lodge_system.base_url}/sword/collections/open-works"
    response = client.post(
        collection,
        data=PDF,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": "attachment; filename=example.pdf",
            "Content-MD5": hashlib.md5(PDF).hexdigest(),
            "Packaging": BINARY,
            "In-Progress": "true",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    receipt = etree.fromstring(response.content)
    links = {link.get("rel"): link.get("href") for link in receipt.findall(f"{ATOM}link")}
    assert response.headers["Location"] == links["edit"]
    assert links["http://purl.org/net/sword/terms/add"] == links["edit"]
    edit_media = links["edit-media"]

    # a second file, larger than any JSON body may be (base64 Content-MD5 works too); the
    # statement lists both
    second = b"col\n" + b"1\n" * (1536 * 1024)
    added = client.post(
        edit_media,
        data=second,
        headers={
            "Content-Disposition": 'attachment; filename="table.csv"',
            "Content-MD5": base64.b64encode(hashlib.md5(second).digest()).decode(),
        },
    )
    assert added.status_code == 201, added.text
    feed = etree.fromstring(client.get(edit_media).content)
    assert sorted(e.findtext(f"{ATOM}title") for e in feed.findall(f"{ATOM}entry")) == [
        "example.pdf",
        "table.csv",
    ]
    # one file's own edit-media IRI removes it; PUT replaces all files
    [csv] = [e for e in feed.findall(f"{ATOM}entry") if e.findtext(f"{ATOM}title") == "table.csv"]
    assert client.delete(csv.findtext(f"{ATOM}id")).status_code == 204
    replaced = client.put(
        edit_media,
        data=package({"a.txt": b"a", "b.txt": b"b"}),
        headers={"Content-Type": "application/zip", "Packaging": SIMPLE_ZIP},
    )
    assert replaced.status_code == 204, replaced.text
    [ore_iri] = [
        link.get("href")
        for link in receipt.findall(f"{ATOM}link")
        if link.get("type") == "application/rdf+xml"
    ]
    ore = etree.fromstring(client.get(ore_iri).content)
    aggregated = ore.findall(f"{RDF}Description/{ORE}aggregates")
    assert len(aggregated) == 2

    # completing without the metadata the profile needs is refused; the draft stays
    incomplete = client.post(links["edit"], headers={"In-Progress": "false"})
    assert error_of(incomplete, 400) == ERROR + "ErrorBadRequest"
    deposit_id = links["edit"].rsplit("/", 1)[1]
    assert lodge_system.client("faculty").deposit(deposit_id)["status"] == "draft"


# --- who may ask -------------------------------------------------------------------------------


def test_without_a_valid_token_the_answer_is_a_basic_challenge(lodge_system):
    url = f"{lodge_system.base_url}/sword/servicedocument"
    for auth in (None, ("someone", "not-a-token")):
        response = requests.get(url, auth=auth, timeout=30)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="SWORD"'
    # a sign-in session counts for nothing here
    session = signed_in(lodge_system, "student")
    assert session.get(url, timeout=30).status_code == 401
    # Bearer works as well as Basic
    token = lodge_system.token("student")
    bearer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert bearer.status_code == 200
    assert etree.fromstring(bearer.content).tag == f"{APP}service"


def test_on_behalf_of_is_only_for_a_system_registered_for_mediation(lodge_system, press):
    _, token = press
    entry = b'<entry xmlns="http://www.w3.org/2005/Atom"><title>T</title></entry>'
    headers = {"Content-Type": "application/atom+xml;type=entry", "On-Behalf-Of": "student"}
    base = f"{lodge_system.base_url}/sword/collections"
    # a user may not name someone else
    student = sword(lodge_system, lodge_system.token("faculty"))
    refused = student.post(f"{base}/open-works", data=entry, headers=headers)
    assert error_of(refused, 412) == ERROR + "MediationNotAllowed"
    # the system, where its mode is not mediated
    system = sword(lodge_system, token)
    refused = system.post(f"{base}/open-works", data=entry, headers=headers)
    assert error_of(refused, 412) == ERROR + "MediationNotAllowed"
    # an unknown patron
    unknown = system.post(
        f"{base}/thesis", data=entry, headers={**headers, "On-Behalf-Of": "nobody@nowhere"}
    )
    assert error_of(unknown, 403) == ERROR + "TargetOwnerUnknown"
    # a profile the system is not registered for is no collection of its
    other = sword(lodge_system, register_system(lodge_system, {"thesis": "mediated"})[1])
    assert error_of(other.post(f"{base}/open-works", data=entry, headers=headers), 404)


# --- hostile input -----------------------------------------------------------------------------


def _drafts(lodge_system, username: str) -> int:
    listed = expect(lodge_system.client(username).get("/api/v1/deposits?status=draft"), 200)
    return listed["total"]


@pytest.mark.parametrize(
    "body,headers,status,error",
    [
        pytest.param(
            b"PK\x03\x04 not really a zip",
            {"Packaging": SIMPLE_ZIP},
            400,
            "ErrorBadRequest",
            id="bad-zip",
        ),
        pytest.param(
            package({"../../etc/evil.txt": b"x"}),
            {"Packaging": SIMPLE_ZIP},
            400,
            "ErrorBadRequest",
            id="traversal",
        ),
        pytest.param(
            package({"bomb.bin": bytes(40 * 1024 * 1024)}),
            {"Packaging": SIMPLE_ZIP},
            400,
            "ErrorBadRequest",
            id="zip-bomb",
        ),
        pytest.param(
            PDF,
            {
                "Packaging": BINARY,
                "Content-Disposition": "attachment; filename=a.pdf",
                "Content-MD5": hashlib.md5(b"other").hexdigest(),
            },
            412,
            "ErrorChecksumMismatch",
            id="wrong-md5",
        ),
        pytest.param(
            PDF,
            {"Packaging": "http://example.org/package/Unknown"},
            415,
            "ErrorContent",
            id="unknown-packaging",
        ),
        pytest.param(PDF, {"Packaging": BINARY}, 400, "ErrorBadRequest", id="no-filename"),
        pytest.param(
            b"<entry xmlns='http://www.w3.org/2005/Atom'><title>unclosed",
            {"Content-Type": "application/atom+xml;type=entry"},
            400,
            "ErrorBadRequest",
            id="bad-xml",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;">]>'
            b"<entry xmlns='http://www.w3.org/2005/Atom'><title>&c;</title></entry>",
            {"Content-Type": "application/atom+xml;type=entry"},
            400,
            "ErrorBadRequest",
            id="entity-expansion",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<entry xmlns='http://www.w3.org/2005/Atom'><title>&x;</title></entry>",
            {"Content-Type": "application/atom+xml;type=entry"},
            400,
            "ErrorBadRequest",
            id="external-entity",
        ),
        pytest.param(
            b"<entry xmlns='http://www.w3.org/2005/Atom'>"
            + b"<a>" * 3000
            + b"</a>" * 3000
            + b"</entry>",
            {"Content-Type": "application/atom+xml;type=entry"},
            400,
            "ErrorBadRequest",
            id="deep-xml",
        ),
        pytest.param(
            b"<entry xmlns='http://www.w3.org/2005/Atom' xmlns:dcterms='http://purl.org/dc/terms/'>"
            b"<dcterms:title>one</dcterms:title><dcterms:title>two</dcterms:title></entry>",
            {"Content-Type": "application/atom+xml;type=entry"},
            400,
            "ErrorBadRequest",
            id="title-twice",
        ),
        pytest.param(
            b"<entry xmlns='http://www.w3.org/2005/Atom' xmlns:dcterms='http://purl.org/dc/terms/'>"
            b"<dcterms:title>bidi \xe2\x80\xae fdp.exe</dcterms:title></entry>",
            {"Content-Type": "application/atom+xml;type=entry"},
            400,
            "ErrorBadRequest",
            id="control-characters",
        ),
    ],
)
def test_hostile_deposits_are_refused_with_an_error_document_and_leave_nothing(
    lodge_system, body, headers, status, error
):
    before = _drafts(lodge_system, "faculty")
    response = sword(lodge_system, lodge_system.token("faculty")).post(
        f"{lodge_system.base_url}/sword/collections/open-works",
        data=body,
        headers={"Content-Type": "application/octet-stream", **headers},
    )
    assert error_of(response, status) == ERROR + error
    assert _drafts(lodge_system, "faculty") == before


def test_an_oversize_body_is_refused_before_it_is_read(lodge_system):
    """A declared length over the profile's limit is refused at once (the body is never
    sent): MaxUploadSizeExceeded."""
    token = lodge_system.token("faculty")
    before = _drafts(lodge_system, "faculty")
    address = urlsplit(lodge_system.base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    connection.putrequest("POST", "/sword/collections/open-works")
    for header, value in {
        "Authorization": "Basic " + base64.b64encode(f"x:{token}".encode()).decode(),
        "Content-Type": "application/octet-stream",
        "Content-Disposition": "attachment; filename=huge.bin",
        "Packaging": BINARY,
        "Content-Length": str(50 * 1024**4),
        "Connection": "close",
    }.items():
        connection.putheader(header, value)
    connection.endheaders()
    answer = connection.getresponse()
    body = answer.read()
    connection.close()
    assert answer.status == 413, body
    assert etree.fromstring(body).get("href") == ERROR + "MaxUploadSizeExceeded"
    assert _drafts(lodge_system, "faculty") == before
