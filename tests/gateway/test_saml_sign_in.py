"""SAML sign-in against identity providers the test runs (pysaml2 as IdP), on a real
gateway database: signed assertions answering this browser's own request sign in, with
groups and roles from the attribute mapping; anything forged, unsigned, for another
service, expired, unsolicited or replayed is a 400 page and no session."""

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from gateway.auth.saml import SamlRefused
from gateway.auth.saml_provider import verify_metadata
from gateway.models import User
from lodge.migrations import upgrade
from tests.gateway.conftest import NO_BROKER, sign_in
from tests.support.saml_idp import Federation, SamlIdp

MAPPING = {"roles": {"library-staff": ["approver"]}, "groups": {"member": []}}
ANN = {
    "subject": "ann-persistent-1",
    "attributes": {
        "eduPersonAffiliation": ["staff", "member"],
        "isMemberOf": ["library-staff"],
        "eduPersonPrincipalName": ["ann@uni.example"],
        "displayName": ["Ann Example"],
        "mail": ["ann@uni.example"],
    },
}


@pytest.fixture
def federation(tmp_path):
    return Federation(tmp_path / "federation")


@pytest.fixture
def idps(tmp_path):
    one = SamlIdp(tmp_path / "idps", "one", "University One")
    two = SamlIdp(tmp_path / "idps", "two", "College Two")
    one.person = two.person = ANN
    return one, two


def _saml_env(lodge_env, federation, metadata, **extra):
    from kernel.platform.config import get_settings

    for name, value in {
        **federation.lodge_env(metadata),
        "LODGE_SAML_ATTRIBUTE_MAPPING": json.dumps(MAPPING),
        "LODGE_SAML_NAME": "University One",
        **extra,
    }.items():
        lodge_env.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def one_idp_env(lodge_env, federation, idps):
    _saml_env(lodge_env, federation, federation.metadata([idps[0]]))


@pytest.fixture
def saml_app(one_idp_env, gateway_app):
    return gateway_app


def _app(lodge_env, postgres_database):
    """A gateway app as the gateway_app fixture makes it, after the test set its SAML
    environment (the metadata the test wants)."""
    from gateway.app import create_app

    url = postgres_database("gateway")
    lodge_env.setenv("LODGE_GATEWAY_DATABASE_URL", url)
    lodge_env.setenv("LODGE_AMQP_URI", NO_BROKER)
    upgrade("gateway", url)
    return create_app({"TESTING": True, "SESSION_COOKIE_SECURE": False})


def _ask(client, idp, next_path="/account/tokens"):
    """Start a sign-in at `idp`; the IdP learns Lodge from its metadata. The AuthnRequest's
    query as the IdP receives it."""
    idp.trust_sp(client.get("/saml/metadata").get_data(as_text=True))
    answer = client.get("/saml/login", query_string={"idp": idp.entity_id, "next": next_path})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    assert location.startswith(f"{idp.base_url}/sso?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def _answer(client, idp, **respond):
    query = _ask(client, idp)
    _, response = idp.respond(query["SAMLRequest"], query, **respond)
    return response, client.post("/saml/acs", data={"SAMLResponse": response})


def _signed_in(client) -> bool:
    return client.get("/account/tokens").status_code == 200


def test_a_signed_assertion_signs_in_with_mapped_groups_and_roles(saml_app, idps):
    client = saml_app.test_client()
    _, answer = _answer(client, idps[0])
    assert answer.status_code == 302 and answer.headers["Location"] == "/account/tokens"
    page = client.get("/account/tokens").get_data(as_text=True)
    assert "Ann Example" in page and "approver" in page
    with saml_app.extensions["lodge.database"].reading() as session:
        ann = session.scalar(select(User).where(User.oidc_subject == "ann-persistent-1"))
        assert ann.oidc_issuer == idps[0].entity_id
        assert ann.username == "ann@uni.example" and ann.email == "ann@uni.example"
        # member is mapped to no group; unmapped values are groups of their own
        assert ann.groups == ["staff", "library-staff"]
        assert ann.roles == ["patron", "approver"]


def test_roles_are_recomputed_at_each_sign_in(saml_app, idps):
    _answer(saml_app.test_client(), idps[0])
    idps[0].person = {**ANN, "attributes": {**ANN["attributes"], "isMemberOf": []}}
    client = saml_app.test_client()
    _, answer = _answer(client, idps[0])
    assert answer.status_code == 302
    with saml_app.extensions["lodge.database"].reading() as session:
        ann = session.scalar(select(User).where(User.oidc_subject == "ann-persistent-1"))
        assert ann.roles == ["patron"]
        assert session.query(User).filter(User.oidc_subject.isnot(None)).count() == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"sign_assertion": False},
        {"audience": "https://another-service.example/sp"},
        {"lifetime_seconds": -600},
        {"in_response_to": "id-nobody-asked-for"},
    ],
    ids=["unsigned", "wrong-audience", "expired", "unsolicited"],
)
def test_a_bad_response_is_a_400_page_and_no_session(saml_app, idps, bad):
    client = saml_app.test_client()
    _, answer = _answer(client, idps[0], **bad)
    assert answer.status_code == 400
    assert "did not work" in answer.get_data(as_text=True)
    assert not _signed_in(client)


def test_a_response_signed_by_an_impostor_is_refused(saml_app, idps, tmp_path):
    impostor = SamlIdp(tmp_path / "impostor", "impostor", "Impostor", posing_as=idps[0])
    impostor.person = {**ANN, "attributes": {**ANN["attributes"], "isMemberOf": ["admins"]}}
    client = saml_app.test_client()
    query = _ask(client, idps[0])
    impostor.trust_sp(client.get("/saml/metadata").get_data(as_text=True))
    _, forged = impostor.respond(query["SAMLRequest"], query)
    answer = client.post("/saml/acs", data={"SAMLResponse": forged})
    assert answer.status_code == 400 and not _signed_in(client)


def test_a_response_counts_once_and_only_in_the_browser_that_asked(saml_app, idps):
    client = saml_app.test_client()
    query = _ask(client, idps[0])
    request_cookie = client.get_cookie("lodge_saml", path="/saml/acs").value
    _, response = idps[0].respond(query["SAMLRequest"], query)
    # another browser (no request cookie of its own) cannot use it
    thief = saml_app.test_client()
    assert thief.post("/saml/acs", data={"SAMLResponse": response}).status_code == 400
    assert client.post("/saml/acs", data={"SAMLResponse": response}).status_code == 302
    # replayed, even with the request's cookie, it signs in nobody
    replay = saml_app.test_client()
    replay.set_cookie("lodge_saml", request_cookie, path="/saml/acs")
    assert replay.post("/saml/acs", data={"SAMLResponse": response}).status_code == 400
    assert not _signed_in(replay)


@pytest.mark.parametrize(
    "response",
    [
        "",
        "not base64 at all \x00\x1b",
        base64.b64encode(b"<samlp:Response xmlns:samlp='x'>" * 40000).decode(),
        base64.b64encode(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;</r>'
        ).decode(),
        base64.b64encode(b"<a>" * 5000 + b"</a>" * 5000).decode(),
    ],
    ids=["empty", "garbage", "oversized", "entities", "deep"],
)
def test_hostile_responses_are_refused_without_a_trace(saml_app, idps, response):
    client = saml_app.test_client()
    _ask(client, idps[0])
    answer = client.post("/saml/acs", data={"SAMLResponse": response})
    # control characters (422) and an oversized form (413) are refused before the page
    assert answer.status_code in {400, 413, 422}
    assert "Traceback" not in answer.get_data(as_text=True)
    assert not _signed_in(client)


def test_a_deactivated_account_is_refused(saml_app, idps):
    _answer(saml_app.test_client(), idps[0])
    with saml_app.extensions["lodge.database"].unit_of_work() as uow:
        from gateway.auth import identity

        ann = uow.session.scalar(select(User).where(User.oidc_subject == "ann-persistent-1"))
        identity.deactivate(uow.session, ann)
    client = saml_app.test_client()
    _, answer = _answer(client, idps[0])
    assert answer.status_code == 403 and not _signed_in(client)


def test_the_metadata_names_lodge_its_key_and_its_assertion_consumer(saml_app):
    answer = saml_app.test_client().get("/saml/metadata")
    xml = answer.get_data(as_text=True)
    assert answer.mimetype == "application/samlmetadata+xml"
    assert 'entityID="http://127.0.0.1:8000/saml/metadata"' in xml
    assert 'Location="http://127.0.0.1:8000/saml/acs"' in xml and "X509Certificate" in xml
    assert 'WantAssertionsSigned="true"' in xml


def test_the_login_page_offers_saml_beside_the_local_form(saml_app):
    page = saml_app.test_client().get("/login").get_data(as_text=True)
    assert "Sign in with University One" in page and 'name="password"' in page


def test_several_identity_providers_are_chosen_from(lodge_env, federation, idps, postgres_database):
    _saml_env(lodge_env, federation, federation.metadata(list(idps)))
    app = _app(lodge_env, postgres_database)
    client = app.test_client()
    page = client.get("/saml/login?next=/account/tokens").get_data(as_text=True)
    assert "College Two" in page and "University One" in page
    assert page.index("College Two") < page.index("University One")
    assert (
        client.get("/saml/login", query_string={"idp": "https://evil.example"}).status_code == 400
    )
    _, answer = _answer(client, idps[1])
    assert answer.status_code == 302 and _signed_in(client)
    app.extensions["lodge.database"].engine.dispose()


def test_unsigned_or_badly_signed_metadata_is_refused(federation, idps, tmp_path):
    other = Federation(tmp_path / "other")
    cert = federation.cert_file.read_text()
    good = federation.metadata([idps[0]]).read_bytes()
    assert "EntitiesDescriptor" in verify_metadata(good, cert, tmp_path / "work")
    for bad in (
        federation.unsigned_metadata([idps[0]]).read_bytes(),
        federation.metadata([idps[0]], name="other.xml", signer=other).read_bytes(),
        # the signed document's content changed after signing
        good.replace(b"University One", b"Evil University"),
    ):
        with pytest.raises(SamlRefused):
            verify_metadata(bad, cert, tmp_path / "work")


def test_sign_in_is_unavailable_while_the_metadata_is_badly_signed(
    lodge_env, federation, idps, tmp_path, postgres_database
):
    other = Federation(tmp_path / "other")
    _saml_env(lodge_env, federation, federation.metadata([idps[0]], signer=other))
    app = _app(lodge_env, postgres_database)
    answer = app.test_client().get("/saml/login", query_string={"idp": idps[0].entity_id})
    assert answer.status_code == 503
    app.extensions["lodge.database"].engine.dispose()


def test_a_local_account_signs_in_beside_saml(saml_app):
    client = saml_app.test_client()
    assert sign_in(client, "pat").status_code == 302 and _signed_in(client)
