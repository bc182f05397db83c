"""A campus system's files fetched by reference into staging (gateway/campus/fetching.py):
from a real HTTPS server on a loopback port (its certificate from the tests' own authority),
from objects on a real S3 endpoint (moto_server), or inline. Every refusal is InvalidInput
with field messages keyed by the reference's fields, and leaves nothing in storage."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from gateway.campus.fetching import fetch
from kernel.contracts.campus import FileReferenceSchema
from kernel.contracts.exceptions import InvalidInput
from kernel.platform.config import get_settings
from kernel.platform.storage import get_storage
from tests.support.file_server import FileServer
from tests.support.s3 import REGION
from tests.support.tls import Authority

DEPOSIT = "d" * 32
DATA = b"%PDF-1.7 a thesis\n" * 100
LIMIT = 10 * 1024**2
SECONDS = 1.0  # a fetch's deadline here
IDLE = 0.3  # the longest silence a fetch waits through here


@pytest.fixture(scope="module")
def authority(tmp_path_factory):
    return Authority(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def settings(lodge_env, authority):
    lodge_env.setenv("SSL_CERT_FILE", str(authority.ca_file))  # as an operator adds a campus CA
    lodge_env.setenv("LODGE_FETCH_SECONDS", str(SECONDS))
    lodge_env.setenv("LODGE_FETCH_IDLE_SECONDS", str(IDLE))
    lodge_env.setenv("LODGE_FETCH_REDIRECTS", "2")
    lodge_env.setenv("LODGE_FETCH_INLINE_BYTES", "1024")
    get_settings.cache_clear()
    return lodge_env


@pytest.fixture
def server(settings, authority):
    with FileServer(tls=authority.server_context()) as server:
        yield server


def reference(data: bytes = DATA, **source) -> dict:
    """A loaded file reference declaring `data`'s size and SHA-256 (overridable)."""
    given = {
        "filename": "thesis.pdf",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return FileReferenceSchema().load({**given, **source})


def staged() -> list[str]:
    root = get_storage().root / "staging"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def refused(ref: dict, allowed: list[str], max_size: int = LIMIT) -> dict:
    """The field messages of the refusal; nothing is left in staging."""
    with pytest.raises(InvalidInput) as raised:
        fetch(ref, allowed_hosts=allowed, max_size=max_size, deposit_id=DEPOSIT)
    assert type(raised.value) is InvalidInput  # the REST API's 422, nothing else
    assert staged() == []
    return raised.value.fields


def test_a_file_is_fetched_over_https_into_staging(server):
    server.serve("/thesis.pdf", DATA)
    stored = fetch(
        reference(url=server.url("/thesis.pdf")),
        allowed_hosts=[server.host],
        max_size=LIMIT,
        deposit_id=DEPOSIT,
    )
    assert stored.key.startswith(f"staging/{DEPOSIT}/") and staged() == [stored.key[8:]]
    assert b"".join(get_storage().read(stored.key)) == DATA
    assert (stored.size, stored.sha256) == (len(DATA), hashlib.sha256(DATA).hexdigest())
    [asked] = server.requests
    assert asked["headers"]["Accept-Encoding"] == "identity"
    assert asked["headers"]["Host"] == server.host


def test_redirects_within_the_allow_list_are_followed(server):
    server.serve("/new", DATA)
    server.redirect("/old", "/newer", status=301)
    server.redirect("/newer", server.url("/new"), status=307)
    stored = fetch(
        reference(url=server.url("/old")),
        allowed_hosts=[server.host],
        max_size=LIMIT,
        deposit_id=DEPOSIT,
    )
    assert stored.size == len(DATA) and [r["path"] for r in server.requests] == [
        "/old",
        "/newer",
        "/new",
    ]


def test_a_redirect_to_a_path_with_spaces_and_accents_is_asked_for_encoded(server):
    server.serve("/my%20thesis%20%C3%A9.pdf", DATA)
    server.redirect("/old", "/my thesis é.pdf")
    stored = fetch(
        reference(url=server.url("/old")),
        allowed_hosts=[server.host],
        max_size=LIMIT,
        deposit_id=DEPOSIT,
    )
    assert stored.size == len(DATA)


def test_the_connection_goes_by_name_to_an_allow_listed_address(server):
    """localhost resolves to loopback: allowed once the allow-list names the address (and
    port), and then TLS checks the certificate for the name and the Host header carries it."""
    server.serve("/thesis.pdf", DATA)
    url = server.url("/thesis.pdf", host="localhost")
    entry = f"localhost:{server.port}"
    assert refused(reference(url=url), [entry]) == {
        "url": ["localhost resolves to an address that is not public"]
    }
    assert server.requests == []
    stored = fetch(
        reference(url=url), allowed_hosts=[entry, server.host], max_size=LIMIT, deposit_id=DEPOSIT
    )
    assert stored.size == len(DATA) and server.requests[0]["headers"]["Host"] == entry


def test_the_connection_goes_to_the_address_checked_whatever_dns_says_next(settings, monkeypatch):
    """DNS rebinding: a name that resolves to an allowed address when checked and to the
    metadata service a moment later. Lodge resolves once and connects to what it checked;
    the resolver is the one thing stood in for (no DNS server of the tests' own)."""
    import socket

    answers = iter(["127.0.0.1", "169.254.169.254", "169.254.169.254"])
    resolve = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "files.campus.test":
            return resolve(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with FileServer() as plain:
        plain.serve("/thesis.pdf", DATA)
        allowed = [f"http://files.campus.test:{plain.port}", plain.host]
        stored = fetch(
            reference(url=f"http://files.campus.test:{plain.port}/thesis.pdf"),
            allowed_hosts=allowed,
            max_size=LIMIT,
            deposit_id=DEPOSIT,
        )
        assert stored.size == len(DATA)
        assert plain.requests[0]["headers"]["Host"] == f"files.campus.test:{plain.port}"
    assert next(answers) == "169.254.169.254"  # resolved once: the second answer unused


def test_plain_http_only_when_the_allow_list_says_http(settings):
    with FileServer() as plain:
        plain.serve("/thesis.pdf", DATA)
        ref = reference(url=plain.url("/thesis.pdf"))
        assert refused(ref, [f"127.0.0.1:{plain.port}"]) == {"url": ["must be an https URL"]}
        assert plain.requests == []
        stored = fetch(ref, allowed_hosts=[plain.host], max_size=LIMIT, deposit_id=DEPOSIT)
        assert stored.size == len(DATA)


def test_a_host_off_the_allow_list_is_not_asked(server):
    server.serve("/thesis.pdf", DATA)
    ref = reference(url=server.url("/thesis.pdf"))
    assert refused(ref, ["files.example.edu", f"127.0.0.1:{server.port + 1}"]) == {
        "url": [f"https://127.0.0.1:{server.port} is not an allowed host"]
    }
    assert server.requests == []


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://files.example.org/thesis.pdf", "https://files.example.org"),
        ("https://127.0.0.1/thesis.pdf", "https://127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "http://169.254.169.254"),
        ("https://[::1]:8443/x", "https://::1:8443"),
        ("https://10.0.0.5/x", "https://10.0.0.5"),
        ("https://[::ffff:127.0.0.1]/x", "https://::ffff:7f00:1"),
    ],
)
def test_a_redirect_off_the_allow_list_is_refused(server, location, shown):
    server.redirect("/thesis.pdf", location)
    assert refused(reference(url=server.url("/thesis.pdf")), [server.host]) == {
        "url": [f"{shown} is not an allowed host"]
    }


def test_a_redirect_to_a_name_that_resolves_to_loopback_is_refused(server):
    other = server.port + 1
    server.redirect("/thesis.pdf", f"https://localhost:{other}/thesis.pdf")
    # the name is allowed, its address is not: the allow-list names 127.0.0.1 with another port
    allowed = [server.host, f"localhost:{other}"]
    assert refused(reference(url=server.url("/thesis.pdf")), allowed) == {
        "url": ["localhost resolves to an address that is not public"]
    }


def test_too_many_redirects_are_refused(server):
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    assert refused(reference(url=server.url("/a")), [server.host]) == {
        "url": ["more than 2 redirects"]
    }
    assert len(server.requests) == 3


def test_a_file_of_another_size_is_refused(server):
    server.serve("/short.pdf", DATA[:-1])
    server.serve("/long.pdf", DATA + b"!")
    short, long = reference(url=server.url("/short.pdf")), reference(url=server.url("/long.pdf"))
    assert refused(short, [server.host]) == {
        "size": [f"the file fetched has {len(DATA) - 1} bytes"]
    }
    assert refused(long, [server.host]) == {"size": [f"the file is larger than {len(DATA)} bytes"]}


def test_a_file_with_another_hash_is_refused(server):
    server.serve("/thesis.pdf", DATA.upper())
    assert refused(reference(url=server.url("/thesis.pdf")), [server.host]) == {
        "sha256": ["does not match the file fetched"]
    }


def test_a_declared_size_over_the_limit_is_refused_before_asking(server):
    server.serve("/thesis.pdf", DATA)
    assert refused(reference(url=server.url("/thesis.pdf")), [server.host], max_size=100) == {
        "size": ["larger than the limit of 100 bytes"]
    }
    assert server.requests == []


def test_a_larger_content_length_is_refused_before_reading(server):
    server.serve("/thesis.pdf", DATA, headers={"Content-Length": str(10 * LIMIT)})
    assert refused(reference(url=server.url("/thesis.pdf")), [server.host]) == {
        "size": [f"the file is larger than {len(DATA)} bytes"]
    }


def test_an_endless_body_is_cut_at_the_declared_size_whatever_its_content_length(server):
    server.stream("/thesis.pdf", b"x" * 65536, content_length=len(DATA))
    started = time.monotonic()
    assert refused(reference(url=server.url("/thesis.pdf")), [server.host]) == {
        "size": [f"the file is larger than {len(DATA)} bytes"]
    }
    assert time.monotonic() - started < SECONDS


def test_a_body_dripping_past_the_deadline_is_refused_in_time(server):
    server.stream("/thesis.pdf", b"x", every=0.02)  # never silent for long, never done
    started = time.monotonic()
    assert refused(reference(url=server.url("/thesis.pdf")), [server.host]) == {
        "url": ["took longer than 1 seconds"]
    }
    assert time.monotonic() - started < 3 * SECONDS  # the deadline, not the never-ending drip


def test_headers_dripping_past_the_deadline_are_cut_off(server):
    server.drip_headers("/thesis.pdf", every=0.02)
    started = time.monotonic()
    assert refused(reference(url=server.url("/thesis.pdf")), [server.host]) == {
        "url": ["took longer than 1 seconds"]
    }
    assert time.monotonic() - started < 3 * SECONDS  # the deadline, not the never-ending drip


def test_a_silent_server_is_given_up_on(server):
    server.stall("/thesis.pdf", DATA[:100], len(DATA))
    started = time.monotonic()
    assert refused(reference(url=server.url("/thesis.pdf")), [server.host]) == {
        "url": [f"could not be fetched: the server was silent for {IDLE:g} seconds"]
    }
    assert time.monotonic() - started < SECONDS


def test_a_certificate_from_an_authority_lodge_does_not_trust_is_refused(server, settings):
    settings.delenv("SSL_CERT_FILE")
    server.serve("/thesis.pdf", DATA)
    [message] = refused(reference(url=server.url("/thesis.pdf")), [server.host])["url"]
    assert "CERTIFICATE_VERIFY_FAILED" in message and server.requests == []


def test_a_server_that_is_not_there_is_an_error_not_a_hang(server):
    server.stop()
    messages = refused(reference(url=server.url("/thesis.pdf")), [server.host])["url"]
    assert messages[0].startswith("could not be fetched: ConnectionRefusedError")


def test_an_error_answer_is_refused(server):
    assert refused(reference(url=server.url("/missing.pdf")), [server.host]) == {
        "url": ["could not be fetched: the server answered 404 Not Found"]
    }


def test_a_url_with_credentials_is_refused(server):
    url = server.url("/thesis.pdf").replace("https://", "https://user:pw@")
    assert refused(reference(url=url), [server.host]) == {"url": ["must not carry credentials"]}


# --- inline -----------------------------------------------------------------------------------


def test_inline_content_is_decoded_strictly_and_capped(settings):
    small = DATA[:900]
    stored = fetch(
        reference(small, content=base64.b64encode(small).decode()),
        allowed_hosts=[],
        max_size=LIMIT,
        deposit_id=DEPOSIT,
    )
    assert b"".join(get_storage().read(stored.key)) == small
    get_storage().delete(stored.key)
    urlsafe = base64.urlsafe_b64encode(b"\xfb\xff").decode()
    for bad in ("not base64!", "QUJD\nREVG", "QUJDRA", urlsafe, "QUJD\x00", "Q\u00e9JD"):
        assert refused(reference(small, content=bad), []) == {"content": ["not valid base64"]}
    big = DATA[:1025]
    assert refused(reference(big, content=base64.b64encode(big).decode()), []) == {
        "content": ["larger than 1024 bytes"]
    }
    huge = "A" * 10_000
    assert refused(reference(big, content=huge), []) == {"content": ["larger than 1024 bytes"]}


def test_inline_content_of_another_size_or_hash_is_refused(settings):
    content = base64.b64encode(DATA[:500]).decode()
    assert refused(reference(DATA[:501], content=content), []) == {
        "size": ["the file fetched has 500 bytes"]
    }
    other = reference(DATA[:500], content=content, sha256="0" * 64)
    assert refused(other, []) == {"sha256": ["does not match the file fetched"]}


# --- S3 ---------------------------------------------------------------------------------------


@pytest.fixture
def s3(settings, s3_endpoint):
    settings.setenv("LODGE_S3_ENDPOINT_URL", s3_endpoint.url)
    settings.setenv("LODGE_S3_REGION", REGION)
    for name, value in s3_endpoint.lodge_env("unused").items():
        if name.startswith("AWS_"):
            settings.setenv(name, value)
    get_settings.cache_clear()
    return s3_endpoint


def test_an_object_staged_on_the_s3_endpoint_is_fetched(s3):
    bucket = s3.new_bucket("staged")
    s3.client().put_object(Bucket=bucket, Key="theses/1/thesis.pdf", Body=DATA)
    stored = fetch(
        reference(s3={"bucket": bucket, "key": "theses/1/thesis.pdf"}),
        allowed_hosts=[f"s3://{bucket}"],
        max_size=LIMIT,
        deposit_id=DEPOSIT,
    )
    assert b"".join(get_storage().read(stored.key)) == DATA
    assert s3.objects(bucket) == ["theses/1/thesis.pdf"]  # the system's object is its own


def test_s3_objects_are_checked_like_downloads(s3):
    bucket = s3.new_bucket("staged")
    s3.client().put_object(Bucket=bucket, Key="big", Body=DATA + b"more")
    s3.client().put_object(Bucket=bucket, Key="other", Body=DATA.upper())
    allowed = [f"s3://{bucket}"]
    assert refused(reference(s3={"bucket": bucket, "key": "missing"}), allowed) == {
        "s3": {"key": ["no such object"]}
    }
    assert refused(reference(s3={"bucket": bucket, "key": "big"}), allowed) == {
        "size": [f"the file is larger than {len(DATA)} bytes"]
    }
    assert refused(reference(s3={"bucket": bucket, "key": "other"}), allowed) == {
        "sha256": ["does not match the file fetched"]
    }


def test_only_the_systems_own_staging_buckets_are_read(s3, settings):
    theirs, lodges = s3.new_bucket("staged"), s3.new_bucket("lodge")
    for bucket in (theirs, lodges):
        s3.client().put_object(Bucket=bucket, Key="thesis.pdf", Body=DATA)
    not_allowed = {"s3": {"bucket": ["not a bucket this system may stage files in"]}}
    ref = reference(s3={"bucket": theirs, "key": "thesis.pdf"})
    assert refused(ref, [theirs, "s3://someone-else", f"{theirs}.s3.example.edu"]) == not_allowed
    # Lodge's own bucket stays Lodge's, even named on an allow-list
    settings.setenv("LODGE_S3_BUCKET", lodges)
    get_settings.cache_clear()
    ref = reference(s3={"bucket": lodges, "key": "thesis.pdf"})
    assert refused(ref, [f"s3://{lodges}"]) == not_allowed


def test_staging_on_s3_keeps_what_was_fetched_and_nothing_refused(s3, settings, server):
    theirs, lodges = s3.new_bucket("staged"), s3.new_bucket("lodge")
    settings.setenv("LODGE_STORAGE_BACKEND", "s3")
    settings.setenv("LODGE_S3_BUCKET", lodges)
    get_settings.cache_clear()
    s3.client().put_object(Bucket=theirs, Key="thesis.pdf", Body=DATA)
    server.serve("/thesis.pdf", DATA.upper())
    stored = fetch(
        reference(s3={"bucket": theirs, "key": "thesis.pdf"}),
        allowed_hosts=[f"s3://{theirs}"],
        max_size=LIMIT,
        deposit_id=DEPOSIT,
    )
    with pytest.raises(InvalidInput):
        fetch(
            reference(url=server.url("/thesis.pdf")),
            allowed_hosts=[server.host],
            max_size=LIMIT,
            deposit_id=DEPOSIT,
        )
    assert s3.objects(lodges) == [stored.key]
    assert s3.client().get_object(Bucket=lodges, Key=stored.key)["Body"].read() == DATA
