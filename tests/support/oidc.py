"""A real OpenID Connect provider for tests: oidc-provider-mock, run as its own process on
a free port. Users and their claims are set over its HTTP API; people sign in on its form."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import requests

from tests.support.system import free_port, poll_until

CLIENT_ID = "lodge-test"
# what the tests' institution sends, and how Lodge maps it
CLAIM_MAPPING = {
    "group_claims": ["groups", "eduPersonAffiliation"],
    "groups": {"member": []},
    "roles": {"repository-approvers": ["approver"]},
    "default_roles": ["patron"],
}


class OidcProvider:
    def __init__(self):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - the provider's log, while it runs

    def __enter__(self) -> OidcProvider:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oidc_provider_mock",
                "--port",
                str(self.port),
                "--require-nonce",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        poll_until(self._answers, timeout=60, description="the OIDC provider answering")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            self.log.seek(0)
            raise RuntimeError(f"oidc-provider-mock exited: {self.log.read().decode()[-2000:]}")
        try:
            return requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).ok
        except requests.RequestException:
            return False

    def __exit__(self, *exc_info) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.log.close()

    def lodge_env(self) -> dict[str, str]:
        return {
            "LODGE_OIDC_ISSUER": self.issuer,
            "LODGE_OIDC_CLIENT_ID": CLIENT_ID,
            "LODGE_OIDC_CLIENT_SECRET": "test-secret-from-the-environment",
            "LODGE_OIDC_NAME": "Example University",
            "LODGE_OIDC_CLAIM_MAPPING": json.dumps(CLAIM_MAPPING),
        }

    def set_user(self, sub: str, claims: dict) -> None:
        """The claims the provider will assert for `sub` from the next sign-in on."""
        requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10).raise_for_status()
