"""SWORD v2 documents (gateway/campus/sword.py) and SimpleZip packages (gateway/campus/
packages.py): what the sword2 client reads of them, Atom entries read into a profile's
fields, and hostile XML and zips refused."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile

import pytest
from sword2 import Deposit_Receipt, Error_Document, ServiceDocument
from sword2.statement import Atom_Sword_Statement, Ore_Sword_Statement

from gateway.campus import packages, sword
from kernel.contracts.exceptions import InvalidInput, TooLarge
from kernel.platform.storage import StoredObject

FIELDS = [
    {"key": "title", "type": "text", "dc": "title"},
    {"key": "creators", "type": "person", "repeatable": True, "dc": "creator"},
    {"key": "abstract", "type": "long_text", "dc": "description"},
    {"key": "date", "type": "date", "dc": "date"},
    {"key": "keywords", "type": "keywords", "dc": "subject"},
    {"key": "note", "type": "text"},
]
IRIS = sword.DepositIris(
    edit="https://lodge.example/sword/deposits/d1",
    edit_media="https://lodge.example/sword/deposits/d1/media",
    statement_atom="https://lodge.example/sword/deposits/d1/statement.atom",
    statement_ore="https://lodge.example/sword/deposits/d1/statement.rdf",
    alternate="https://lodge.example/deposits/d1",
    file_base="https://lodge.example/sword/deposits/d1/media",
)
DEPOSIT = {
    "id": "d1",
    "status": "draft",
    "title": "On moss",
    "metadata": {"title": "On moss", "creators": [{"name": "Sam Student"}], "date": "2026"},
    "depositor": {"id": "u1", "name": "Sam Student", "email": "sam@example.edu"},
    "mediated_by": {"id": "s1", "name": "University press"},
    "files": [
        {
            "id": "f1",
            "filename": "moss.pdf",
            "size": 10,
            "sha256": "0" * 64,
            "md5": "0" * 32,
            "media_type": "application/pdf",
        }
    ],
    "created_at": "2026-01-02T03:04:05Z",
    "updated_at": "2026-01-02T03:04:05Z",
}


def entry(inner: str) -> bytes:
    return (
        '<entry xmlns="http://www.w3.org/2005/Atom" xmlns:dcterms="http://purl.org/dc/terms/" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/">{inner}</entry>'
    ).encode()


# --- what a SWORD client reads -------------------------------------------------------------


def test_the_service_document_is_what_the_sword2_client_expects():
    body = sword.service_document(
        "Lodge",
        [
            sword.Collection(
                "https://lodge.example/sword/collections/thesis",
                "Thesis",
                "Theses.",
                "I confirm.",
                True,
                "Mediated.",
            )
        ],
        2 * 1024**3,
    )
    document = ServiceDocument(body)
    assert document.valid and document.version == "2.0"
    assert document.maxUploadSize == 2 * 1024**2
    [(title, [collection])] = document.workspaces
    assert title == "Lodge"
    assert collection.title == "Thesis" and collection.mediation is True
    assert collection.acceptPackaging == [sword.SIMPLE_ZIP, sword.BINARY]
    assert collection.collectionPolicy == "I confirm."


def test_the_receipt_and_statements_are_what_the_sword2_client_expects():
    receipt = Deposit_Receipt(sword.deposit_receipt(DEPOSIT, FIELDS, IRIS, "Kept.", sword.BINARY))
    assert receipt.parsed and receipt.valid
    assert receipt.edit == IRIS.edit and receipt.edit_media == IRIS.edit_media
    assert receipt.atom_statement_iri == IRIS.statement_atom
    assert receipt.ore_statement_iri == IRIS.statement_ore
    assert receipt.metadata["dcterms_title"] == ["On moss"]
    assert receipt.metadata["dcterms_creator"] == ["Sam Student"]

    atom = Atom_Sword_Statement(sword.atom_statement(DEPOSIT, IRIS))
    assert atom.valid
    assert atom.states == [("urn:lodge:deposit-status:draft", sword.STATE_DESCRIPTIONS["draft"])]
    [resource] = atom.original_deposits
    assert resource.uri == IRIS.file("f1")
    assert resource.deposited_by == "University press"
    assert resource.deposited_on_behalf_of == "Sam Student"

    ore = Ore_Sword_Statement(sword.ore_statement(DEPOSIT, IRIS))
    assert ore.valid
    assert [r.uri for r in ore.resources] == [IRIS.file("f1")]
    assert ore.states[0][0] == "urn:lodge:deposit-status:draft"


def test_an_error_document_names_the_profiles_error():
    error = sword.SwordError("ErrorChecksumMismatch", "Damaged.", fields={"md5": ["differs"]})
    assert error.status == 412
    document = Error_Document(sword.error_document(error), code=412)
    assert document.error_href == "http://purl.org/net/sword/error/ErrorChecksumMismatch"
    assert document.summary == "Damaged."
    assert document.verbose_description == ["md5: differs"]
    own = sword.SwordError("not_found", "No.", status=404)
    assert own.href == "urn:lodge:sword:error:not_found"


# --- Atom entries in ---------------------------------------------------------------------


def test_dublin_core_becomes_the_profiles_fields_by_its_mapping():
    found = sword.entry_metadata(
        sword.parse_entry(
            entry(
                "<title>Atom title</title><dcterms:title> On  moss </dcterms:title>"
                "<dcterms:creator>Sam Student</dcterms:creator><dc:creator>Ari</dc:creator>"
                "<dcterms:abstract>Moss.</dcterms:abstract><dcterms:issued>2026</dcterms:issued>"
                "<dcterms:subject>moss</dcterms:subject><dcterms:subject>walls</dcterms:subject>"
                "<dcterms:publisher>Press</dcterms:publisher>"
            )
        ),
        FIELDS,
    )
    assert found.metadata == {
        "title": "On moss",  # Dublin Core wins over atom:title, spaces folded
        "creators": [{"name": "Sam Student"}, {"name": "Ari"}],
        "abstract": "Moss.",
        "date": "2026",
        "keywords": ["moss", "walls"],
    }
    assert found.ignored == ["publisher"]


def test_atom_elements_stand_in_for_missing_dublin_core():
    found = sword.entry_metadata(
        sword.parse_entry(
            entry("<title>T</title><summary>S</summary><author><name>A</name></author>")
        ),
        FIELDS,
    )
    assert found.metadata == {"title": "T", "abstract": "S", "creators": [{"name": "A"}]}


def test_a_single_valued_field_given_twice_is_refused():
    with pytest.raises(sword.SwordError) as refused:
        sword.entry_metadata(
            sword.parse_entry(entry("<dcterms:date>2025</dcterms:date><dc:date>2026</dc:date>")),
            FIELDS,
        )
    assert refused.value.name == "ErrorBadRequest"
    assert refused.value.fields == {
        "metadata": {"date": ["given 2 times; the field takes one value"]}
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<entry", id="not-well-formed"),
        pytest.param(b"<feed xmlns='http://www.w3.org/2005/Atom'/>", id="not-an-entry"),
        pytest.param(
            b'<!DOCTYPE e [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<entry xmlns='http://www.w3.org/2005/Atom'><title>&b;</title></entry>",
            id="entity-expansion",
        ),
        pytest.param(
            b'<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<entry xmlns='http://www.w3.org/2005/Atom'><title>&x;</title></entry>",
            id="external-entity",
        ),
        pytest.param(b"<!DOCTYPE entry><entry/>", id="doctype"),
        pytest.param(
            entry("<a/>" * (sword.MAX_ENTRY_ELEMENTS + 1)),
            id="too-many-elements",
        ),
        pytest.param(entry("<a>" * 300 + "</a>" * 300), id="deep"),
    ],
)
def test_hostile_xml_is_refused_as_a_bad_request(body):
    with pytest.raises(sword.SwordError) as refused:
        sword.parse_entry(body)
    assert refused.value.name == "ErrorBadRequest"


def test_an_entry_over_the_size_cap_is_refused():
    with pytest.raises(sword.SwordError) as refused:
        sword.parse_entry(entry("x" * sword.MAX_ENTRY_BYTES))
    assert refused.value.name == "MaxUploadSizeExceeded" and refused.value.status == 413


# --- SimpleZip packages --------------------------------------------------------------------


def zipped(files: dict[str, bytes], link: str | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    buffer.seek(0)
    return buffer


def unpack(source, max_files=10, max_file_size=10**9, max_total=10**9) -> dict[str, bytes]:
    saved: dict[str, bytes] = {}
    registered: dict[str, bytes] = {}

    def save(chunks, max_size):
        data = b"".join(chunks)
        assert len(data) <= max_size
        key = f"k{len(saved)}"
        saved[key] = data
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest(), "")

    def register(filename, stored):
        registered[filename] = saved[stored.key]

    packages.unpack(
        source,
        max_files=max_files,
        max_file_size=max_file_size,
        max_total=max_total,
        save=save,
        register=register,
    )
    return registered


def test_a_package_becomes_files_named_without_their_folders():
    files = unpack(zipped({"work/paper.pdf": b"%PDF", "work/data/table.csv": b"a,b", "dir/": b""}))
    assert files == {"paper.pdf": b"%PDF", "table.csv": b"a,b"}


@pytest.mark.parametrize(
    "source,limits,problem",
    [
        (zipped({"../evil.txt": b"x"}), {}, "unsafe path"),
        (zipped({"/etc/evil.txt": b"x"}), {}, "unsafe path"),
        (zipped({"C:/evil.txt": b"x"}), {}, "unsafe path"),
        (zipped({"a.txt": b"a"}, link="link"), {}, "holds a link"),
        (zipped({"a/x.txt": b"a", "b/x.txt": b"b"}), {}, "duplicate file name"),
        (zipped({"a.txt": b"a", "b.txt": b"b"}), {"max_files": 1}, "too many files"),
        (zipped({}), {}, "empty"),
        (zipped({"bomb.bin": bytes(20 * 1024 * 1024)}), {}, "compression ratio too high"),
        (io.BytesIO(b"PK\x03\x04 nothing more"), {}, "not a zip"),
    ],
)
def test_unsafe_packages_are_refused(source, limits, problem):
    with pytest.raises(InvalidInput) as refused:
        unpack(source, **limits)
    assert refused.value.fields == {"package": [problem]}


@pytest.mark.parametrize(
    "limits", [{"max_file_size": 3}, {"max_total": 5}], ids=["one-file", "the-whole"]
)
def test_packages_over_the_limits_are_too_large(limits):
    with pytest.raises(TooLarge):
        unpack(zipped({"a.txt": b"aaaa", "b.txt": b"bbbb"}), **limits)


def test_damaged_and_unusually_compressed_entries_are_refused():
    damaged = bytearray(zipped({"a.txt": b"abc" * 1000}).getvalue())
    start = 30 + len("a.txt")  # the local header, then the deflated bytes
    damaged[start : start + 8] = b"\xff" * 8
    with pytest.raises(InvalidInput) as refused:
        unpack(io.BytesIO(bytes(damaged)))
    assert refused.value.fields == {"package": ["not a zip"]}

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("a.txt", b"a")
    buffer.seek(0)
    with pytest.raises(InvalidInput) as refused:
        unpack(buffer)
    assert refused.value.fields == {"package": ["unusual compression"]}


def test_an_entry_that_lies_about_its_size_is_refused():
    source = zipped({"a.txt": b"a" * 1000})
    data = bytearray(source.getvalue())
    # the central directory's uncompressed size says 10 bytes; the entry holds 1000: what
    # is read stops at 10 bytes, whose checksum is then wrong
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(InvalidInput) as refused:
        unpack(io.BytesIO(bytes(data)), max_total=100)
    assert refused.value.fields == {"package": ["not a zip"]}
