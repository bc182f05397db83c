"""Deposit profiles over the REST API: managers create and version them, groups limit them."""

from __future__ import annotations

import copy
import uuid

import pytest

from services.intake.seed import COMMON_FIELDS
from tests.support.system import expect

API = "/api/v1"


def unique_id(label: str = "api") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def body(profile_id: str, **changes) -> dict:
    definition = {
        "id": profile_id,
        "name": f"Profile {profile_id}",
        "description": "Made by the end-to-end tests.",
        "allowed_groups": [],
        "fields": copy.deepcopy(COMMON_FIELDS),
        "file_rules": {"min_files": 0, "max_files": 3},
        "approval": {"mode": "manual", "approver_groups": ["approvers"]},
        "target_collection": "open-works",
        "terms": "",
    }
    definition.update(changes)
    return definition


def definition_of(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "id"}


@pytest.fixture(scope="module")
def manager(lodge_system):
    return lodge_system.client("manager")


def test_a_manager_creates_a_profile_and_cannot_create_it_twice(lodge_system, manager):
    profile_id = unique_id()
    response = manager.post(f"{API}/profiles", json=body(profile_id))
    created = expect(response, 201)
    assert created["id"] == profile_id and created["version"] == 1
    assert response.headers["Location"].endswith(f"/api/v1/profiles/{profile_id}")
    assert [f["key"] for f in created["fields"]] == [f["key"] for f in COMMON_FIELDS]
    assert created["file_rules"]["max_files"] == 3
    assert created["file_rules"]["max_file_size"] == 100 * 1024 * 1024  # the default

    again = expect(
        manager.post(f"{API}/profiles", json=body(profile_id, name="Another name")), 409
    )["error"]
    assert again["code"] == "conflict" and again["fields"] == {"id": ["already used"]}
    assert (
        expect(manager.get(f"{API}/profiles/{profile_id}"), 200)["name"] == f"Profile {profile_id}"
    )


def test_editing_a_profile_adds_a_version_and_keeps_the_old_one(lodge_system, manager):
    profile_id = unique_id()
    expect(manager.post(f"{API}/profiles", json=body(profile_id)), 201)
    changed = body(
        profile_id,
        name=f"Renamed {profile_id}",
        allowed_groups=["faculty"],
        approval={"mode": "automatic"},
    )
    updated = expect(manager.put(f"{API}/profiles/{profile_id}", json=definition_of(changed)), 200)
    assert updated["version"] == 2 and updated["name"] == f"Renamed {profile_id}"
    third = expect(
        manager.put(
            f"{API}/profiles/{profile_id}", json=definition_of(body(profile_id, terms="Be nice."))
        ),
        200,
    )
    assert third["version"] == 3 and third["terms"] == "Be nice."

    current = expect(manager.get(f"{API}/profiles/{profile_id}"), 200)
    assert current["version"] == 3
    second = expect(manager.get(f"{API}/profiles/{profile_id}", params={"version": 2}), 200)
    assert second["version"] == 2 and second["approval"]["mode"] == "automatic"
    first = expect(manager.get(f"{API}/profiles/{profile_id}", params={"version": 1}), 200)
    assert first["version"] == 1 and first["name"] == f"Profile {profile_id}"
    assert first["approval"] == {"mode": "manual", "approver_groups": ["approvers"]}

    versions = expect(manager.get(f"{API}/profiles/{profile_id}/versions"), 200)["items"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert all(v["created_by"] and v["created_at"] for v in versions)

    missing = manager.put(f"{API}/profiles/{unique_id('missing')}", json=definition_of(body("x")))
    expect(missing, 404)


def test_invalid_profiles_are_refused_with_messages_per_field(lodge_system, manager):
    profile_id = unique_id()
    twice = body(
        profile_id,
        fields=[
            {"key": "title", "label": "Title", "type": "text", "dc": "title"},
            {"key": "title", "label": "Title again", "type": "text"},
        ],
    )
    error = expect(manager.post(f"{API}/profiles", json=twice), 422)["error"]
    assert error["code"] == "invalid_input"
    assert error["fields"] == {"fields": ["keys must be unique: title"]}

    untitled = body(
        profile_id,
        fields=[{"key": "abstract", "label": "Abstract", "type": "long_text", "dc": "description"}],
    )
    error = expect(manager.post(f"{API}/profiles", json=untitled), 422)["error"]
    assert error["fields"] == {"fields": ["one field must map to dc:title"]}

    wrong = body(
        "Not An Id",
        file_rules={"min_files": 5, "max_files": "many"},
        approval={"mode": "sometimes"},
    )
    error = expect(manager.post(f"{API}/profiles", json=wrong), 422)["error"]
    assert set(error["fields"]) == {"id", "file_rules", "approval"}
    assert error["fields"]["file_rules"] == {"max_files": ["Not a valid integer."]}

    nowhere = body(profile_id, target_collection="no-such-collection")
    error = expect(manager.post(f"{API}/profiles", json=nowhere), 422)["error"]
    assert error["fields"] == {"target_collection": ["unknown collection"]}

    clash = body(profile_id, name="Thesis")
    error = expect(manager.post(f"{API}/profiles", json=clash), 422)["error"]
    assert error["fields"] == {"name": ["already used"]}

    expect(manager.get(f"{API}/profiles/{profile_id}"), 404)  # nothing was saved


def test_patrons_may_not_create_or_change_profiles(lodge_system, manager):
    student = lodge_system.client("student")
    profile_id = unique_id()
    refused = expect(student.post(f"{API}/profiles", json=body(profile_id)), 403)["error"]
    assert refused["code"] == "forbidden"
    expect(manager.get(f"{API}/profiles/{profile_id}"), 404)
    expect(student.put(f"{API}/profiles/thesis", json=definition_of(body("thesis"))), 403)
    expect(student.get(f"{API}/profiles/thesis/versions"), 403)
    expect(lodge_system.client().get(f"{API}/profiles/thesis/versions"), 401)


def test_allowed_groups_decide_who_sees_and_uses_a_profile(lodge_system, manager):
    profile_id = unique_id("faculty-only")
    expect(manager.post(f"{API}/profiles", json=body(profile_id, allowed_groups=["faculty"])), 201)
    student, faculty = lodge_system.client("student"), lodge_system.client("faculty")

    listed = expect(student.get(f"{API}/profiles"), 200)["items"]
    assert profile_id not in [p["id"] for p in listed]
    assert "open-works" in [p["id"] for p in listed]
    expect(student.get(f"{API}/profiles/{profile_id}"), 403)
    refused = student.post(
        f"{API}/deposits", json={"profile_id": profile_id, "metadata": {"title": "Not mine"}}
    )
    assert expect(refused, 403)["error"]["fields"] == {"profile_id": ["not allowed"]}

    assert profile_id in [p["id"] for p in expect(faculty.get(f"{API}/profiles"), 200)["items"]]
    deposit = faculty.create_deposit(profile_id, {"title": "Faculty work"})
    assert deposit["profile_id"] == profile_id and deposit["profile_version"] == 1
    assert deposit["status"] == "draft"


def test_inactive_profiles_are_hidden_from_patrons_but_not_from_managers(lodge_system, manager):
    profile_id = unique_id("inactive")
    expect(manager.post(f"{API}/profiles", json=body(profile_id, active=False)), 201)
    student = lodge_system.client("student")
    assert profile_id not in [p["id"] for p in expect(student.get(f"{API}/profiles"), 200)["items"]]
    assert profile_id not in [
        p["id"]
        for p in expect(student.get(f"{API}/profiles", params={"include_inactive": "true"}), 200)[
            "items"
        ]
    ]
    everything = expect(manager.get(f"{API}/profiles", params={"include_inactive": "true"}), 200)[
        "items"
    ]
    assert profile_id in [p["id"] for p in everything]
    assert profile_id not in [p["id"] for p in expect(manager.get(f"{API}/profiles"), 200)["items"]]


def test_a_profile_names_who_may_deposit_with_it_for_a_patron(lodge_system, manager):
    """Deposits for a patron skip approval: an inactive or group-restricted profile allows
    them only for the staff roles or groups it names; an active open one, the staff role."""
    staff = lodge_system.client("staff")
    retired, restricted, opened = unique_id("retired"), unique_id("restricted"), unique_id("open")
    expect(manager.post(f"{API}/profiles", json=body(retired, active=False)), 201)
    expect(manager.post(f"{API}/profiles", json=body(restricted, allowed_groups=["faculty"])), 201)
    created = expect(manager.post(f"{API}/profiles", json=body(opened)), 201)
    assert created["mediators"] is None
    for profile_id in (retired, restricted):
        refused = staff.post(
            f"{API}/deposits",
            json={"profile_id": profile_id, "metadata": {}, "on_behalf_of": "student"},
        )
        assert expect(refused, 403)["error"]["fields"] == {
            "profile_id": ["does not name you among its mediators"]
        }
    offered = {
        p["id"]
        for p in expect(staff.get(f"{API}/profiles", params={"mediated": "true"}), 200)["items"]
    }
    assert opened in offered and not offered & {retired, restricted}
    assert (
        expect(
            lodge_system.client("student").get(f"{API}/profiles", params={"mediated": "true"}), 200
        )["items"]
        == []
    )
    made = expect(
        staff.post(
            f"{API}/deposits",
            json={"profile_id": opened, "metadata": {}, "on_behalf_of": "student"},
        ),
        201,
    )
    assert made["mediated_by"]["name"] == "Robin Staff"
    # naming the staff member's group opens the retired profile to them
    named = expect(
        manager.put(
            f"{API}/profiles/{retired}",
            json=definition_of(body(retired, active=False, mediators={"groups": ["library"]})),
        ),
        200,
    )
    assert named["mediators"] == {"roles": [], "groups": ["library"]}
    expect(
        staff.post(
            f"{API}/deposits",
            json={"profile_id": retired, "metadata": {}, "on_behalf_of": "student"},
        ),
        201,
    )
    # hostile values are refused per field, nothing is saved
    for mediators, field in (
        ({"roles": ["patron"]}, "roles"),
        ({"groups": ["x" * 201]}, "groups"),
        ({"roles": "staff"}, "roles"),
        ({"groups": [{"$ne": 1}]}, "groups"),
        ({"everyone": True}, "everyone"),
    ):
        error = expect(
            manager.put(
                f"{API}/profiles/{retired}", json=definition_of(body(retired, mediators=mediators))
            ),
            422,
        )["error"]
        assert field in str(error["fields"]), (mediators, error)
    assert expect(manager.get(f"{API}/profiles/{retired}"), 200)["version"] == 2
