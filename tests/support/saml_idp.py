"""A SAML 2.0 identity provider for the tests (pysaml2's `server.Server`), and the test
federation whose signed metadata lists it.

The IdP checks what it receives as a real one does: an AuthnRequest over HTTP-Redirect,
signed by the service provider its metadata names (read from Lodge's `/saml/metadata`),
with an assertion consumer URL from that metadata. It answers with a signed assertion for
the person a test sets (`idp.person`), by HTTP-POST: a page with a form the browser submits.
Tests make bad answers on purpose with `respond(..., sign_assertion=False, audience=...,
lifetime_seconds=-300)`.
"""

from __future__ import annotations

import base64
import html
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import Config, IdPConfig
from saml2.metadata import entities_descriptor, entity_descriptor
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary, security_context

from tests.support.system import free_port

XMLSEC = get_xmlsec_binary(["/usr/bin", "/usr/local/bin"])


def key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed RSA key and certificate as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = folder / f"{name}.key", folder / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class Federation:
    """The federation's metadata signing key, and its metadata files."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.key_file, self.cert_file = key_pair(folder, "federation")

    def metadata(self, idps: list[SamlIdp], name: str = "federation.xml", signer=None) -> Path:
        """A signed EntitiesDescriptor of `idps`; `signer` (a Federation) signs it instead
        of this one, for a badly signed copy."""
        signer = signer or self
        config = Config().load(
            {
                "entityid": "https://federation.test",
                "key_file": str(signer.key_file),
                "cert_file": str(signer.cert_file),
                "xmlsec_binary": XMLSEC,
            }
        )
        _, xml = entities_descriptor(
            [idp.descriptor() for idp in idps],
            valid_for=24,
            name="https://federation.test",
            ident=None,
            sign=True,
            secc=security_context(config),
        )
        path = self.folder / name
        path.write_text(xml)
        return path

    def unsigned_metadata(self, idps: list[SamlIdp], name: str = "unsigned.xml") -> Path:
        xml = entities_descriptor(
            [idp.descriptor() for idp in idps], 24, "https://federation.test", None, False, None
        )[0]
        path = self.folder / name
        path.write_text(str(xml))
        return path

    def lodge_env(self, metadata: Path) -> dict[str, str]:
        return {
            "LODGE_SAML_METADATA": str(metadata),
            "LODGE_SAML_METADATA_CERT": str(self.cert_file),
        }


class SamlIdp:
    """One identity provider. `base_url` is where its HTTP server listens once started
    (`with SamlIdp(...) as idp`); gateway tests call `respond` directly instead."""

    def __init__(
        self, folder: Path, label: str, display_name: str, posing_as: SamlIdp | None = None
    ):
        # an impostor takes a real IdP's address and entity id, with a key of its own
        self.port = posing_as.port if posing_as else free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.entity_id = posing_as.entity_id if posing_as else f"{self.base_url}/{label}"
        self.display_name = display_name
        self.key_file, self.cert_file = key_pair(folder, label)
        self.person: dict = {"subject": "p-1", "attributes": {}}
        self.sp_metadata_url: str | None = None
        self.requests_seen: list[dict] = []
        self._server = Server(config=self._config(sp_metadata=None))
        self._http: ThreadingHTTPServer | None = None

    def _config(self, sp_metadata: str | None) -> IdPConfig:
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "key_file": str(self.key_file),
                "cert_file": str(self.cert_file),
                "xmlsec_binary": XMLSEC,
                "metadata": {"inline": [sp_metadata]} if sp_metadata else {},
                "organization": {
                    "name": [(self.display_name, "en")],
                    "display_name": [(self.display_name, "en")],
                    "url": [(self.base_url, "en")],
                },
                "service": {
                    "idp": {
                        "name": self.display_name,
                        "endpoints": {
                            "single_sign_on_service": [
                                (f"{self.base_url}/sso", BINDING_HTTP_REDIRECT)
                            ]
                        },
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "want_authn_requests_signed": True,
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_URI,
                            }
                        },
                    }
                },
            }
        )
        return config

    def descriptor(self):
        return entity_descriptor(self._server.config)

    def trust_sp(self, sp_metadata: str) -> None:
        """Know the service provider (its keys and endpoints) from its metadata."""
        self._server = Server(config=self._config(sp_metadata))

    def respond(
        self,
        saml_request: str,
        query: dict[str, str] | None = None,
        *,
        sign_assertion: bool = True,
        audience: str | None = None,
        lifetime_seconds: int | None = None,
        in_response_to: str | None = None,
    ) -> tuple[str, str]:
        """(ACS URL, base64 SAMLResponse) answering an HTTP-Redirect AuthnRequest, whose
        signature is checked when `query` (the request's query string) is given."""
        query = query or {}
        request = self._server.parse_authn_request(
            saml_request,
            BINDING_HTTP_REDIRECT,
            relay_state=query.get("RelayState"),
            sigalg=query.get("SigAlg"),
            signature=query.get("Signature"),
        ).message
        self.requests_seen.append({"id": request.id, "issuer": request.issuer.text})
        acs = request.assertion_consumer_service_url
        sp = audience or request.issuer.text
        policy = None
        if lifetime_seconds is not None:
            from saml2.assertion import Policy

            policy = Policy(
                {
                    "default": {
                        "lifetime": {"seconds": lifetime_seconds},
                        "name_form": NAME_FORMAT_URI,
                    }
                },
                self._server.metadata,
            )
        response = self._server.create_authn_response(
            identity=dict(self.person["attributes"]),
            in_response_to=in_response_to or request.id,
            destination=acs,
            sp_entity_id=sp,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=self.person["subject"]),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_assertion=sign_assertion,
            sign_response=False,
            **({"release_policy": policy} if policy else {}),
        )
        return acs, base64.b64encode(str(response).encode()).decode()

    # --- the HTTP server, for the browser ---------------------------------------------------

    def __enter__(self) -> SamlIdp:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # http.server's name
                url = urlsplit(self.path)
                if url.path != "/sso":
                    self.send_error(404)
                    return
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                try:
                    if idp.sp_metadata_url:
                        idp.trust_sp(requests.get(idp.sp_metadata_url, timeout=10).text)
                    acs, response = idp.respond(query["SAMLRequest"], query)
                except Exception as err:  # noqa: BLE001  # whatever the IdP refuses is a 400
                    self.send_error(400, str(err)[:200])
                    return
                relay = html.escape(query.get("RelayState", ""))
                body = (
                    "<!doctype html><html lang=en><title>Test IdP</title><main>"
                    f"<h1>{html.escape(idp.display_name)}</h1>"
                    f'<form method="post" action="{html.escape(acs)}">'
                    f'<input type="hidden" name="SAMLResponse" value="{response}">'
                    f'<input type="hidden" name="RelayState" value="{relay}">'
                    "<button>Continue to the service</button></form></main></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
