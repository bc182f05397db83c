"""The service provider itself: pysaml2's client on verified metadata, the requests it
sends and the responses it believes (the rules are gateway/auth/saml.py's docstring).
Imported only where SAML is configured."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from defusedxml import DefusedXmlException, ElementTree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.sigver import CryptoBackendXmlSec1, get_xmlsec_binary
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.auth.saml import (
    REQUEST_LIFETIME,
    MetadataUnavailable,
    Person,
    SamlRefused,
    SamlSettings,
    claims_of,
    write_private,
)
from gateway.models import SamlRequest

log = logging.getLogger(__name__)

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
SUBJECT_ID = "urn:oasis:names:tc:SAML:attribute:subject-id"
MAX_METADATA_BYTES = 256 * 1024 * 1024  # eduGAIN's aggregate is under 100 MB
MAX_SUBJECT = 300  # the users table's key column
METADATA_TIMEOUT = 30


def read_metadata(source: str) -> bytes:
    """The metadata's bytes from an http(s) URL or a file, at most MAX_METADATA_BYTES."""
    if source.startswith(("https://", "http://")):
        with requests.get(source, timeout=METADATA_TIMEOUT, stream=True) as answer:
            answer.raise_for_status()
            body = b""
            for chunk in answer.iter_content(1 << 20):
                body += chunk
                if len(body) > MAX_METADATA_BYTES:
                    raise SamlRefused("the metadata is too large")
            return body
    path = Path(source)
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise SamlRefused("the metadata is too large")
    return path.read_bytes()


def verify_metadata(xml: bytes, cert_pem: str, work_dir: Path) -> str:
    """The metadata's text once its root is signed by `cert_pem`; SamlRefused otherwise.
    The signature must sit at the root and name the root, so a signed document wrapped in
    a forged one (signature wrapping) is refused too."""
    try:
        root = ElementTree.fromstring(xml)
    except (ElementTree.ParseError, DefusedXmlException) as err:
        raise SamlRefused(f"the metadata is not well-formed XML: {err}") from None
    kinds = {f"{{{MD}}}EntitiesDescriptor", f"{{{MD}}}EntityDescriptor"}
    if root.tag not in kinds:
        raise SamlRefused("the metadata's root is no EntitiesDescriptor or EntityDescriptor")
    signatures = root.findall(f"{{{DS}}}Signature")
    if len(signatures) != 1:
        raise SamlRefused("the metadata is not signed at its root")
    references = signatures[0].findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    root_id = root.get("ID")
    if len(references) != 1 or references[0].get("URI") not in {"", f"#{root_id}"}:
        raise SamlRefused("the metadata's signature does not cover its root")
    work_dir.mkdir(parents=True, exist_ok=True)
    cert_file = work_dir / "metadata-signer.pem"
    write_private(cert_file, cert_pem)
    text = xml.decode("utf-8")
    crypto = CryptoBackendXmlSec1(get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]))
    try:
        valid = crypto.validate_signature(
            text, str(cert_file), "pem", root.tag[len(MD) + 2 :], None
        )
    except Exception as err:  # noqa: BLE001  # xmlsec1's refusal comes as several kinds
        raise SamlRefused(f"the metadata's signature is not valid: {err}") from None
    if not valid:
        raise SamlRefused("the metadata's signature is not valid")
    return text


# --- the service provider -------------------------------------------------------------------


class ServiceProvider:
    """pysaml2's client, built on verified metadata and rebuilt when it is due for a
    refresh. One per gateway process; threads share it under a lock."""

    def __init__(self, settings: SamlSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._client: Saml2Client | None = None
        self._loaded_at = 0.0

    def client(self) -> Saml2Client:
        with self._lock:
            due = time.monotonic() - self._loaded_at > self.settings.refresh_seconds
            if self._client is None or due:
                try:
                    self._client = self._build()
                    self._loaded_at = time.monotonic()
                except Exception as err:  # noqa: BLE001  # refused, unreadable, expired (pysaml2)
                    log.error("SAML metadata refused or unreadable: %s", err)
                    if self._client is None:
                        raise MetadataUnavailable(str(err)) from None
                    # the last good metadata serves until the next try
                    self._loaded_at = time.monotonic() - self.settings.refresh_seconds + 300
            return self._client

    def _build(self) -> Saml2Client:
        s = self.settings
        metadata = verify_metadata(read_metadata(s.metadata_source), s.metadata_cert, s.work_dir)
        key_file, cert_file = s.work_dir / "sp-key.pem", s.work_dir / "sp-cert.pem"
        write_private(key_file, s.sp_key)
        write_private(cert_file, s.sp_cert)
        config = SPConfig()
        config.load(
            {
                "entityid": s.entity_id,
                "key_file": str(key_file),
                "cert_file": str(cert_file),
                "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
                "metadata": {"inline": [metadata]},
                "allow_unknown_attributes": True,
                "accepted_time_diff": 60,
                "service": {
                    "sp": {
                        "name": "Lodge",
                        "endpoints": {
                            "assertion_consumer_service": [(s.acs_url, BINDING_HTTP_POST)]
                        },
                        "want_assertions_signed": True,
                        "want_response_signed": False,
                        "authn_requests_signed": True,
                        "allow_unsolicited": False,
                        "name_id_format": NAMEID_FORMAT_PERSISTENT,
                        "name_id_format_allow_create": True,
                    }
                },
            }
        )
        return Saml2Client(config)

    def identity_providers(self) -> list[tuple[str, str]]:
        """(entity id, display name) of each identity provider offered, by name."""
        client = self.client()
        known = set(client.metadata.identity_providers())
        wanted = (
            [idp for idp in self.settings.idps if idp in known] if self.settings.idps else known
        )
        return sorted(((idp, self._name(client, idp)) for idp in wanted), key=lambda p: p[1])

    @staticmethod
    def _name(client: Saml2Client, idp: str) -> str:
        names = client.metadata.mdui_uiinfo_display_name(idp, langpref="en")
        for name in names or ():
            return str(name)
        return client.metadata.name(idp) or idp

    def metadata_xml(self) -> str:
        return create_metadata_string(None, config=self.client().config, valid=24 * 7).decode()

    def start(self, session: Session, idp: str, after_sign_in: str) -> tuple[str, str]:
        """An AuthnRequest to `idp` by HTTP-Redirect: (the IdP's URL, the browser's secret
        for the request cookie). The request waits in `saml_requests` for its answer."""
        client = self.client()
        if idp not in dict(self.identity_providers()):
            raise SamlRefused("no such identity provider")
        request_id, info = client.prepare_for_authenticate(
            entityid=idp, binding=BINDING_HTTP_REDIRECT, sign=True
        )
        browser_secret = secrets.token_urlsafe(32)
        session.add(
            SamlRequest(
                id=request_id,
                idp=idp,
                browser_hash=_sha256(browser_secret),
                after_sign_in=after_sign_in[:2000],
            )
        )
        location = dict(info["headers"])["Location"]
        return location, browser_secret

    def finish(
        self, session: Session, saml_response: str, browser_secret: str
    ) -> tuple[Person, str]:
        """The person a response vouches for, and where they were going; SamlRefused for a
        response that is forged, unsigned, for someone else, expired, unsolicited or
        replayed. The request it answers is used up in `session`'s transaction."""
        client = self.client()
        now = datetime.now(UTC)
        pending = session.scalars(
            select(SamlRequest).where(
                SamlRequest.browser_hash == _sha256(browser_secret),
                SamlRequest.used_at.is_(None),
                SamlRequest.created_at > now - REQUEST_LIFETIME,
            )
        ).all()
        if not pending:
            raise SamlRefused("this browser has no sign-in waiting for an answer")
        try:
            response = client.parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding={r.id: "/" for r in pending}
            )
        except Exception as err:  # noqa: BLE001  # pysaml2 refuses with a dozen kinds
            raise SamlRefused(f"{type(err).__name__}: {err}") from None
        if response is None:
            raise SamlRefused("no response")
        answered = next((r for r in pending if r.id == response.in_response_to), None)
        issuer = response.issuer()
        if answered is None:
            raise SamlRefused("the response answers no request of this browser")
        if issuer != answered.idp:
            raise SamlRefused(f"answered by {issuer}, asked {answered.idp}")
        if not response.assertion or not getattr(response.assertion, "signature", None):
            raise SamlRefused("the assertion is not signed")
        # used once: of two requests presenting it together, one wins
        used = session.execute(
            update(SamlRequest)
            .where(SamlRequest.id == answered.id, SamlRequest.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
            raise SamlRefused("the response was used already")
        claims = claims_of(response.ava or {})
        return Person(issuer, _subject(response, claims), claims), answered.after_sign_in


def _subject(response, claims: dict) -> str:
    name_id = response.name_id
    if name_id is not None and name_id.format == NAMEID_FORMAT_PERSISTENT and name_id.text:
        subject = name_id.text.strip()
    else:
        values = claims.get(SUBJECT_ID) or claims.get("eduPersonPrincipalName") or []
        subject = str(values[0]).strip() if values else ""
    if not subject or len(subject) > MAX_SUBJECT:
        raise SamlRefused("the response names nobody Lodge can key an account by")
    return subject


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
