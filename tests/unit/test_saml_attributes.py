"""SAML attributes become Lodge groups and roles through the claim mapping, whether the
identity provider names them by OID or by friendly name."""

import pytest

from gateway.auth.identity import ClaimMapping
from gateway.auth.saml import DEFAULT_MAPPING, claims_of, friendly_name, load_mapping

AFFILIATION = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"
ENTITLEMENT = "urn:oid:1.3.6.1.4.1.5923.1.1.1.7"
IS_MEMBER_OF = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"


def test_eduperson_oids_are_read_by_their_friendly_names():
    assert friendly_name(AFFILIATION) == "eduPersonAffiliation"
    assert friendly_name(ENTITLEMENT) == "eduPersonEntitlement"
    assert friendly_name(IS_MEMBER_OF) == "isMemberOf"
    assert friendly_name("urn:oid:0.9.2342.19200300.100.1.3") == "mail"
    assert friendly_name("something-local") == "something-local"


def test_attributes_by_oid_and_by_name_map_to_the_same_groups_and_roles():
    mapping = load_mapping(
        '{"roles": {"urn:mace:uni.example:lodge:approve": ["approver"], "faculty": ["staff"]},'
        ' "groups": {"member": []}}'
    )
    by_oid = claims_of(
        {
            AFFILIATION: ["faculty", "member"],
            ENTITLEMENT: "urn:mace:uni.example:lodge:approve",
            IS_MEMBER_OF: ["theses"],
            "urn:oid:2.16.840.1.113730.3.1.241": ["Ann Example"],
        }
    )
    by_name = claims_of(
        {
            "eduPersonAffiliation": ["faculty", "member"],
            "eduPersonEntitlement": ["urn:mace:uni.example:lodge:approve"],
            "isMemberOf": ["theses"],
            "displayName": ["Ann Example"],
        }
    )
    expected = (
        ["faculty", "urn:mace:uni.example:lodge:approve", "theses"],
        ["patron", "approver", "staff"],
    )
    assert mapping.apply(by_oid) == mapping.apply(by_name) == expected
    assert by_oid["name"] == by_name["name"] == ["Ann Example"]


def test_a_name_is_made_from_given_name_and_surname_without_a_display_name():
    claims = claims_of({"givenName": ["Ann"], "sn": ["Example"], "mail": ["ann@uni.example"]})
    assert claims["name"] == ["Ann Example"] and claims["email"] == ["ann@uni.example"]


def test_the_mapping_keeps_saml_defaults_for_keys_left_out():
    assert load_mapping("") == DEFAULT_MAPPING
    mapping = load_mapping('{"default_roles": []}')
    assert mapping.group_claims == DEFAULT_MAPPING.group_claims
    assert mapping.username_claim == "eduPersonPrincipalName" and mapping.default_roles == ()
    assert load_mapping('{"group_claims": ["isMemberOf"]}').group_claims == ("isMemberOf",)


@pytest.mark.parametrize(
    "text", ['{"roles": {"x": ["emperor"]}}', '{"surprise": 1}', '{"default_roles": ["root"]}']
)
def test_a_wrong_mapping_is_refused(text):
    with pytest.raises(ValueError):
        load_mapping(text)


def test_the_default_mapping_reads_the_eduperson_attributes():
    groups, roles = DEFAULT_MAPPING.apply(
        claims_of({AFFILIATION: ["student"], IS_MEMBER_OF: ["chemistry"]})
    )
    assert groups == ["student", "chemistry"] and roles == ["patron"]
    assert isinstance(DEFAULT_MAPPING, ClaimMapping)
