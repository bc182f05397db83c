"""The public names of Lodge's events and the attributes every published event carries."""

import re
from urllib.parse import urlsplit

from kernel.contracts import cloudevents
from kernel.contracts.events import CONTRACT_VERSION, EVENTS

REVERSE_DNS_VERSIONED = re.compile(r"org\.lodge(\.[a-z][a-z_]*)+\.v[0-9]+")
PERSON = {"id": "u1", "name": "Pat", "email": "pat@example.org", "locale": "en"}


def payload(**extra):
    return {
        "event_id": "e1",
        "schema_version": CONTRACT_VERSION,
        "occurred_at": "2026-12-06T15:00:00+00:00",
        "deposit_id": "d1",
        "revision": 2,
        **extra,
    }


def test_every_event_has_one_reverse_dns_versioned_type():
    assert set(cloudevents.TYPES) == set(EVENTS)
    names = list(cloudevents.TYPES.values())
    names += [*cloudevents.REPLY_TYPES, *cloudevents.INBOUND_TYPES]
    assert len(set(names)) == len(names)
    for name in names:
        assert REVERSE_DNS_VERSIONED.fullmatch(name), name


def test_the_subject_is_the_item_of_item_events_and_else_the_deposit():
    item = cloudevents.lifecycle_event(
        "https://repo.example.edu", "inventory", "item_created", payload(item_id="i9")
    )
    deposit = cloudevents.lifecycle_event(
        "https://repo.example.edu", "letters", "letter_sent", payload(item_id="i9")
    )
    assert (item["subject"], deposit["subject"]) == ("i9", "d1")
    # a letter about no deposit (a token's expiry) has no subject: CloudEvents forbids an empty one
    unattached = cloudevents.lifecycle_event(
        "https://repo.example.edu", "letters", "letter_sent", payload(deposit_id="")
    )
    assert "subject" not in unattached


def test_sources_are_absolute_uris_per_service():
    sources = {
        cloudevents.source_uri("https://repo.example.edu/lodge-site", service)
        for service, _ in EVENTS
    }
    assert len(sources) == len({service for service, _ in EVENTS})
    for source in sources:
        parts = urlsplit(source)
        assert parts.scheme == "https" and parts.netloc == "repo.example.edu", source


def test_an_event_names_the_campus_request_its_deposit_came_from():
    origin = {"system": "thesis-flow", "source": "urn:tf", "event_id": "t-1", "mode": "draft"}
    on_top = payload(origin=origin)
    in_snapshot = payload(deposit={"id": "d1", "origin": origin})
    for data in (on_top, in_snapshot):
        assert cloudevents.origin_of(data) == origin
    assert cloudevents.origin_of(payload(origin=None, deposit={"origin": None})) is None
    event = cloudevents.lifecycle_event("https://x", "approval", "deposit_approved", in_snapshot)
    assert (event["lodgesystem"], event["lodgerequestid"]) == ("thesis-flow", "t-1")
    assert cloudevents.carries_origin("approval", "deposit_approved")
    assert not cloudevents.carries_origin("inventory", "item_created")
    assert (
        cloudevents.system_routing_key("approval", "deposit_approved", origin)
        == "system.thesis-flow.approval.deposit_approved"
    )
