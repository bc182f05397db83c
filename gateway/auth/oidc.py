"""OpenID Connect sign-in through Authlib: configuration from the environment, and the
client that asks the institution's identity provider who someone is.

Authlib keeps the state, the nonce and the PKCE verifier of each sign-in in the session,
checks the state on return, sends the verifier with the code, and checks the ID token's
signature, issuer, audience, expiry and nonce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

from gateway.auth.identity import ClaimMapping
from kernel.platform.config import get_settings

CLIENT_NAME = "institution"


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    display_name: str
    mapping: ClaimMapping

    @classmethod
    def from_settings(cls) -> OidcSettings | None:
        """None unless LODGE_OIDC_ISSUER and LODGE_OIDC_CLIENT_ID are set."""
        settings = get_settings()
        issuer = settings.sign_in.oidc_issuer.strip().rstrip("/")
        client_id = settings.sign_in.oidc_client_id.strip()
        if not issuer or not client_id:
            return None
        scopes = list(settings.sign_in.oidc_scopes)
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        return cls(
            issuer=issuer,
            client_id=client_id,
            client_secret=settings.sign_in.oidc_client_secret,
            scopes=" ".join(scopes),
            display_name=settings.sign_in.oidc_name,
            mapping=load_mapping(settings.sign_in.oidc_claim_mapping),
        )


def load_mapping(value: str) -> ClaimMapping:
    """JSON text, or the path of a JSON file; empty for the default mapping."""
    value = value.strip()
    if not value:
        return ClaimMapping()
    text = value if value.startswith("{") else Path(value).read_text()
    return ClaimMapping.from_dict(json.loads(text))


def register(app: Flask) -> None:
    settings = OidcSettings.from_settings()
    app.extensions["lodge.oidc"] = settings
    app.jinja_env.globals["oidc_name"] = settings.display_name if settings else None
    if settings is None:
        return
    oauth = OAuth(app)
    oauth.register(
        CLIENT_NAME,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": settings.scopes, "code_challenge_method": "S256"},
    )
    app.extensions["lodge.oauth"] = oauth


def settings() -> OidcSettings | None:
    return current_app.extensions.get("lodge.oidc")


def client():
    return current_app.extensions["lodge.oauth"].create_client(CLIENT_NAME)
