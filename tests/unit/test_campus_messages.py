"""How the inbox reads a campus system's message as a CloudEvent (AMQP binding, structured and
binary mode), and what it refuses before anything is carried out. On the broker: tests/e2e."""

import json

import pytest

from gateway.campus.inbox import read_event, topic_problem
from gateway.campus.requests import Request, envelope_problem
from gateway.campus.systems import System
from kernel.contracts.campus import DEPOSIT_REQUESTED, Mode
from kernel.contracts.exceptions import Forbidden, InvalidInput, TooLarge

STRUCTURED = "application/cloudevents+json"
MAX = 64 * 1024
SYSTEM = System("s1", "thesis", "Thesis", "u1", "campus-thesis", (), False, {"t": Mode.DRAFT})
ATTRIBUTES = {
    "specversion": "1.0",
    "id": "e-1",
    "source": "https://thesis.example.edu",
    "type": DEPOSIT_REQUESTED,
}


def structured(**changes) -> bytes:
    return json.dumps({**ATTRIBUTES, "data": {"profile_id": "t"}, **changes}).encode()


def test_a_structured_event_is_its_body():
    attributes, problem = read_event(structured(), STRUCTURED + "; charset=utf-8", {}, MAX)
    assert problem is None
    assert attributes["id"] == "e-1" and attributes["data"] == {"profile_id": "t"}


@pytest.mark.parametrize("prefix", ["cloudEvents_", "cloudEvents:", "ce_"])
def test_a_binary_event_has_its_attributes_in_headers(prefix):
    headers = {f"{prefix}{name}": value for name, value in ATTRIBUTES.items()}
    attributes, problem = read_event(b'{"profile_id": "t"}', "application/json", headers, MAX)
    assert problem is None
    assert attributes["type"] == DEPOSIT_REQUESTED and attributes["data"] == {"profile_id": "t"}


def test_in_structured_mode_headers_say_nothing():
    headers = {"ce_id": "forged", "ce_source": "elsewhere"}
    attributes, problem = read_event(structured(), STRUCTURED, headers, MAX)
    assert problem is None and attributes["id"] == "e-1"


@pytest.mark.parametrize(
    "body,content_type,headers,kind,field",
    [
        (b"x" * (MAX + 1), STRUCTURED, {}, TooLarge, "body"),
        (b"{not json", STRUCTURED, {}, InvalidInput, "body"),
        (b'"\xff"', STRUCTURED, {}, InvalidInput, "body"),
        (b"[" * 5000 + b"]" * 5000, STRUCTURED, {}, InvalidInput, "body"),
        (b"[1, 2]", STRUCTURED, {}, InvalidInput, "body"),
        (b"{}", "application/json", {}, InvalidInput, "content_type"),
        (b"{}", None, {}, InvalidInput, "content_type"),
        (b"<x/>", "application/xml", {"ce_id": "1"}, InvalidInput, "datacontenttype"),
        (structured(data_base64="AAAA"), STRUCTURED, {}, InvalidInput, "data_base64"),
        (structured(specversion="0.3"), STRUCTURED, {}, InvalidInput, "specversion"),
        (structured(specversion=1.0), STRUCTURED, {}, InvalidInput, "specversion"),
        (structured(id=7), STRUCTURED, {}, InvalidInput, "id"),
        (structured(source=""), STRUCTURED, {}, InvalidInput, "source"),
        (structured(type=None), STRUCTURED, {}, InvalidInput, "type"),
    ],
)
def test_what_is_no_cloudevent_is_refused_with_the_field(body, content_type, headers, kind, field):
    _, problem = read_event(body, content_type, headers, MAX)
    assert isinstance(problem, kind)
    assert field in problem.fields


def test_a_refused_event_still_names_what_it_could_read():
    attributes, problem = read_event(structured(specversion="2.0"), STRUCTURED, {}, MAX)
    assert problem is not None and attributes["id"] == "e-1"


@pytest.mark.parametrize(
    "key,type_,kind",
    [
        ("thesis.deposit", DEPOSIT_REQUESTED, None),
        ("thesis.person", "org.lodge.campus.person.left.v1", None),
        ("thesis.person", DEPOSIT_REQUESTED, InvalidInput),
        ("thesis.deposit", "org.lodge.campus.person.left.v1", InvalidInput),
        ("library.deposit", DEPOSIT_REQUESTED, Forbidden),
        ("thesis.other", DEPOSIT_REQUESTED, Forbidden),
        ("thesis", DEPOSIT_REQUESTED, Forbidden),
    ],
)
def test_a_system_sends_with_its_own_keys_and_the_topic_fits_the_type(key, type_, kind):
    problem = topic_problem(SYSTEM, key, type_)
    assert (problem is None) if kind is None else isinstance(problem, kind)


def request(**changes) -> Request:
    values = {
        "system": SYSTEM,
        "type": DEPOSIT_REQUESTED,
        "source": "https://thesis.example.edu",
        "id": "e-1",
        "data": {},
        **changes,
    }
    return Request(**values)


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"id": ""}, "id"),
        ({"id": "x" * 201}, "id"),
        ({"source": "s" * 501}, "source"),
        ({"source": "https://a\u202eexe.pdf"}, "source"),
        ({"type": "org.example.other.v1"}, "type"),
        ({"data": {"metadata": {"title": "a\x00b"}}}, "data.metadata.title"),
        ({"data": {"bad\x00key": 1}}, "data.bad\x00key"),
    ],
)
def test_the_handler_refuses_unusable_attributes_before_anything(changes, field):
    problem = envelope_problem(request(**changes))
    assert isinstance(problem, InvalidInput) and field in problem.fields


def test_a_usable_request_passes_the_envelope_check():
    assert envelope_problem(request()) is None
