"""Event and RPC contracts: payloads that break them are stopped at the edge."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from marshmallow import Schema, fields

from kernel.contracts.deposits import DepositActionRequest
from kernel.contracts.events import (
    CONTRACT_VERSION,
    dedupe_key,
    event_schema,
    new_event,
)
from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.rpc import rpc_contract


def status_changed(**changes) -> dict:
    payload = {
        "deposit_id": "dep42",
        "revision": 2,
        "from_status": "submitted",
        "to_status": "in_review",
        "actor": {"id": "system", "name": "Lodge"},
        "depositor": {"id": "u1", "name": "Ada", "email": "ada@example.org", "locale": "en"},
        "title": "On Moss",
    }
    payload.update(changes)
    return payload


# --- new_event ----------------------------------------------------------------------


def test_new_event_returns_a_json_ready_payload_with_envelope():
    event = new_event("intake", "deposit_status_changed", **status_changed())
    json.dumps(event)  # goes over the wire as JSON
    assert event["schema_version"] == CONTRACT_VERSION
    assert len(event["event_id"]) == 32
    assert datetime.fromisoformat(event["occurred_at"]).tzinfo is not None
    assert event["deposit_id"] == "dep42"
    assert event["to_status"] == "in_review"
    assert event["depositor"]["email"] == "ada@example.org"


def test_new_event_keeps_given_envelope_fields():
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = new_event(
        "intake", "deposit_status_changed", **status_changed(event_id="fixed", occurred_at=when)
    )
    assert event["event_id"] == "fixed"
    assert datetime.fromisoformat(event["occurred_at"]) == when


def test_new_events_get_distinct_ids():
    first = new_event("intake", "deposit_status_changed", **status_changed())
    second = new_event("intake", "deposit_status_changed", **status_changed())
    assert first["event_id"] != second["event_id"]


def test_new_event_round_trips_through_its_schema():
    event = new_event("intake", "deposit_status_changed", **status_changed(note="hi"))
    loaded = event_schema("intake", "deposit_status_changed").load(event)
    assert loaded["note"] == "hi"
    assert loaded["reason_code"] is None  # optional fields get their defaults
    assert isinstance(loaded["occurred_at"], datetime)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"to_status": "lost"}, "to_status"),
        ({"schema_version": "2"}, "schema_version"),
        ({"actor": None}, "actor"),
        ({"depositor": {"name": "no id"}}, "depositor"),
    ],
)
def test_new_event_rejects_a_payload_that_breaks_its_contract(changes, field):
    with pytest.raises(
        ValueError, match=r"intake\.deposit_status_changed breaks its contract"
    ) as err:
        new_event("intake", "deposit_status_changed", **status_changed(**changes))
    assert field in str(err.value)


def test_new_event_rejects_missing_required_fields():
    payload = status_changed()
    del payload["actor"]
    with pytest.raises(ValueError, match="actor"):
        new_event("intake", "deposit_status_changed", **payload)


def test_new_event_for_an_unknown_event_type_raises_lookup_error():
    with pytest.raises(LookupError, match=r"no contract for event intake\.deposit_exploded"):
        new_event("intake", "deposit_exploded", **status_changed())


# --- dedupe_key ---------------------------------------------------------------------


def test_dedupe_key_for_status_change_includes_to_status():
    event = new_event("intake", "deposit_status_changed", **status_changed())
    assert dedupe_key("intake", "deposit_status_changed", event) == (
        "intake:deposit_status_changed:dep42:2:in_review"
    )


def test_two_status_changes_in_one_revision_have_different_keys():
    in_review = status_changed(to_status="in_review")
    approved = status_changed(from_status="in_review", to_status="approved")
    key1 = dedupe_key("intake", "deposit_status_changed", in_review)
    key2 = dedupe_key("intake", "deposit_status_changed", approved)
    assert key1 != key2


def test_the_same_event_delivered_twice_has_the_same_key():
    event = new_event("intake", "deposit_status_changed", **status_changed())
    redelivered = dict(event, event_id="another-delivery")
    assert dedupe_key("intake", "deposit_status_changed", event) == dedupe_key(
        "intake", "deposit_status_changed", redelivered
    )


def test_dedupe_key_distinguishes_revisions():
    key1 = dedupe_key("intake", "deposit_withdrawn", {"deposit_id": "d", "revision": 1})
    key2 = dedupe_key("intake", "deposit_withdrawn", {"deposit_id": "d", "revision": 2})
    assert key1 == "intake:deposit_withdrawn:d:1"
    assert key1 != key2


def test_dedupe_key_for_letter_outcomes_includes_letter_id():
    payload = {"deposit_id": "d", "revision": 1, "letter_id": "L1"}
    assert dedupe_key("letters", "letter_sent", payload) == "letters:letter_sent:d:1:L1"


# --- rpc_contract -------------------------------------------------------------------


class Reply(Schema):
    deposit_id = fields.Str()
    note = fields.Str(allow_none=True)


class FakeService:
    def __init__(self):
        self.calls = []

    @rpc_contract(DepositActionRequest)
    def submit(self, actor, deposit_id, note):
        self.calls.append({"actor": actor, "deposit_id": deposit_id, "note": note})
        return {"deposit_id": deposit_id, "secret": "kept"}

    @rpc_contract(DepositActionRequest, Reply())
    def submit_with_reply(self, actor, deposit_id, note):
        return {"deposit_id": deposit_id, "note": note, "secret": "not in reply"}


def test_rpc_contract_passes_loaded_arguments_with_defaults():
    service = FakeService()
    result = service.submit(
        actor={"id": "u1", "roles": ["staff"], "newer_field": 1}, deposit_id="dep42"
    )
    assert result == {"deposit_id": "dep42", "secret": "kept"}
    (call,) = service.calls
    assert call["deposit_id"] == "dep42"
    assert call["note"] is None
    assert call["actor"] == {
        "id": "u1",
        "username": None,
        "name": "",
        "email": "",
        "groups": [],
        "roles": ["staff"],
        "locale": "en",
    }


def test_rpc_contract_rejects_unknown_keyword_arguments():
    service = FakeService()
    with pytest.raises(InvalidInput) as err:
        service.submit(actor={"id": "u1"}, deposit_id="dep42", force=True)
    assert err.value.fields == {"force": ["Unknown field."]}
    assert err.value.message == "The request is not valid."
    assert service.calls == []


def test_rpc_contract_rejects_missing_keyword_arguments():
    service = FakeService()
    with pytest.raises(InvalidInput) as err:
        service.submit(actor={"id": "u1"})
    assert err.value.fields == {"deposit_id": ["Missing data for required field."]}
    assert service.calls == []


def test_rpc_contract_reports_every_bad_field_including_nested_ones():
    service = FakeService()
    with pytest.raises(InvalidInput) as err:
        service.submit(actor={"id": "u1", "roles": ["emperor"]}, deposit_id=7, bogus=1)
    fields_ = err.value.fields
    assert set(fields_) == {"actor", "deposit_id", "bogus"}
    assert "roles" in fields_["actor"]
    assert fields_["bogus"] == ["Unknown field."]


def test_rpc_contract_rejects_overlong_note():
    with pytest.raises(InvalidInput) as err:
        FakeService().submit(actor={"id": "u1"}, deposit_id="d", note="x" * 10001)
    assert set(err.value.fields) == {"note"}


def test_rpc_contract_dumps_the_result_with_the_response_schema():
    result = FakeService().submit_with_reply(actor={"id": "u1"}, deposit_id="d", note="n")
    assert result == {"deposit_id": "d", "note": "n"}


def test_rpc_contract_keeps_the_method_name():
    assert FakeService.submit.__name__ == "submit"
    assert not hasattr(FakeService.submit, "__wrapped__")
