"""SAML 2.0 sign-in through pysaml2: Lodge as a service provider of the institution's
federation. Framework-free; gateway/web/saml.py holds the pages. This module holds the
settings, the claims and the requests; gateway/auth/saml_provider.py the work pysaml2 does,
imported only where SAML is configured: pysaml2 builds its XML schemas when it is imported,
about a second of CPU in every gateway and inbox process.

- The identity providers come from signed metadata (a federation's aggregate, by URL or
  file): it is refused unless signed at its root by the configured federation certificate,
  and read again every LODGE_SAML_METADATA_REFRESH_HOURS.
- Every response must carry a signed assertion for Lodge's entity id (audience), still
  valid (NotOnOrAfter), answering a request this browser made and nobody answered yet
  (`SamlRequest`); anything else is refused, never a sign-in.
- A person is keyed by (identity provider's entity id, subject): the persistent NameID when
  the IdP sends one, else the `subject-id` attribute, else `eduPersonPrincipalName`. A
  transient NameID keys nobody.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from gateway.auth.identity import ClaimMapping
from gateway.models import SamlRequest
from kernel.platform.config import Settings, get_settings

log = logging.getLogger(__name__)

# the default mapping: the eduPerson attributes federations release to research services
DEFAULT_MAPPING = ClaimMapping(
    group_claims=("eduPersonAffiliation", "eduPersonEntitlement", "isMemberOf"),
    username_claim="eduPersonPrincipalName",
)
REQUEST_LIFETIME = timedelta(minutes=10)


class SamlRefused(Exception):
    """A response, or metadata, that must not be believed; the message says why (for logs)."""


class MetadataUnavailable(Exception):
    """The metadata could not be read (and no earlier good copy is at hand)."""


@dataclass(frozen=True)
class Person:
    issuer: str
    subject: str
    claims: dict


# --- attribute names ------------------------------------------------------------------------


@functools.cache
def _friendly_names() -> dict[str, str]:
    from saml2.attribute_converter import ac_factory  # pysaml2 only when SAML is used

    names: dict[str, str] = {}
    for converter in ac_factory():
        names.update(converter._fro or {})
    return names


def friendly_name(name: str) -> str:
    """`urn:oid:1.3.6.1.4.1.5923.1.1.1.1` → `eduPersonAffiliation`; other names stay."""
    return _friendly_names().get(name, name)


def claims_of(attributes: dict) -> dict:
    """Attributes by friendly name, with `name` and `email` as identity.provision_user reads
    them."""
    claims: dict[str, Any] = {}
    for name, values in attributes.items():
        claims.setdefault(friendly_name(str(name)), []).extend(
            values if isinstance(values, list) else [values]
        )
    full_name = " ".join(
        str(part[0]) for part in (claims.get("givenName"), claims.get("sn")) if part
    )
    name = claims.get("displayName") or claims.get("cn") or ([full_name] if full_name else [])
    return {**claims, "name": name, "email": claims.get("mail") or []}


# --- settings -------------------------------------------------------------------------------


def _pem_or_path(value: str) -> str:
    value = value.strip()
    return value if value.startswith("-----BEGIN") else Path(value).read_text()


def load_mapping(value: str) -> ClaimMapping:
    """JSON text, or the path of a JSON file; empty for DEFAULT_MAPPING. Keys not given
    keep DEFAULT_MAPPING's values."""
    value = value.strip()
    if not value:
        return DEFAULT_MAPPING
    data = json.loads(value if value.startswith("{") else Path(value).read_text())
    if isinstance(data, dict):
        data = {
            "group_claims": DEFAULT_MAPPING.group_claims,
            "username_claim": DEFAULT_MAPPING.username_claim,
            **data,
        }
    return ClaimMapping.from_dict(data)


def _generated_key_pair(folder: Path) -> tuple[str, str]:
    """A self-signed key pair kept in the data folder, for local runs only (production
    start refuses SAML without a configured one). Key and certificate share one file,
    created at once or not at all, so gateway workers starting together agree on it."""
    path = folder / "generated-sp.pem"
    if not path.exists():
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lodge SAML (local)")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ) + cert.public_bytes(serialization.Encoding.PEM)
        write_private(path, pem.decode(), replace=False)
    text = path.read_text()
    split = text.index("-----BEGIN CERTIFICATE-----")
    return text[:split], text[split:]


def write_private(path: Path, content: str, replace: bool = True) -> None:
    """Written whole under a temporary name, then put in place (readable by the owner
    only): another process never reads half a file. With `replace=False` a file already
    there stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        if replace:
            os.replace(temporary, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


@dataclass(frozen=True)
class SamlSettings:
    entity_id: str
    acs_url: str
    metadata_source: str
    metadata_cert: str
    refresh_seconds: float
    sp_key: str
    sp_cert: str
    idps: tuple[str, ...]
    display_name: str
    mapping: ClaimMapping
    work_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SamlSettings | None:
        """None unless LODGE_SAML_METADATA is set. Metadata without a certificate to check
        it with is never read: SAML then stays off, loudly."""
        settings = settings or get_settings()
        saml = settings.saml
        if not saml.metadata.strip():
            return None
        if not saml.metadata_cert.strip():
            raise ValueError("LODGE_SAML_METADATA needs LODGE_SAML_METADATA_CERT to check it")
        work_dir = settings.data_dir / "saml"
        if saml.sp_key and saml.sp_cert:
            key, cert = _pem_or_path(saml.sp_key), _pem_or_path(saml.sp_cert)
        else:
            key, cert = _generated_key_pair(work_dir)
        base = settings.site.base_url
        return cls(
            entity_id=saml.entity_id.strip() or f"{base}/saml/metadata",
            acs_url=f"{base}/saml/acs",
            metadata_source=saml.metadata.strip(),
            metadata_cert=_pem_or_path(saml.metadata_cert),
            refresh_seconds=saml.metadata_refresh_hours * 3600,
            sp_key=key,
            sp_cert=cert,
            idps=saml.idps,
            display_name=saml.name,
            mapping=load_mapping(saml.attribute_mapping),
            work_dir=work_dir,
        )


# --- metadata -------------------------------------------------------------------------------


def forget_old_requests(session: Session) -> None:
    """Requests nobody answered in time, and answered ones, are no use after their lifetime."""
    session.execute(
        delete(SamlRequest).where(SamlRequest.created_at < datetime.now(UTC) - REQUEST_LIFETIME)
    )
