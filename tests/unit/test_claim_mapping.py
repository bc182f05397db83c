"""How an identity provider's claims become Lodge groups and roles."""

import json

import pytest

from gateway.auth.identity import ClaimMapping
from gateway.auth.oidc import load_mapping

MAPPING = {
    "group_claims": ["groups", "eduPersonAffiliation"],
    "groups": {"member": [], "faculty": ["staff-academic", "faculty"]},
    "roles": {"lib-approvers": "approver", "lib-admins": ["manager", "admin"]},
}


def test_values_of_every_group_claim_are_mapped_or_kept():
    groups, roles = ClaimMapping.from_dict(MAPPING).apply(
        {"groups": "lib-approvers", "eduPersonAffiliation": ["faculty", "member", "faculty"]}
    )
    assert groups == ["lib-approvers", "staff-academic", "faculty"]
    assert roles == ["patron", "approver"]


def test_unmapped_values_can_be_dropped_and_default_roles_changed():
    mapping = ClaimMapping.from_dict({**MAPPING, "keep_unmapped": False, "default_roles": []})
    assert mapping.apply({"groups": ["lib-admins", "chess-club"]}) == ([], ["manager", "admin"])
    assert mapping.apply({}) == ([], [])


def test_a_mapping_with_unknown_keys_or_roles_is_refused():
    with pytest.raises(ValueError, match="keys"):
        ClaimMapping.from_dict({"group": ["groups"]})
    with pytest.raises(ValueError, match="superuser"):
        ClaimMapping.from_dict({"roles": {"x": "superuser"}})


def test_the_mapping_comes_as_json_text_or_a_file(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(MAPPING))
    assert load_mapping(str(path)) == load_mapping(json.dumps(MAPPING))
    assert load_mapping("") == ClaimMapping()
