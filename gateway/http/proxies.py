"""Where a request comes from: the one place that decides the client's address and scheme.

Headers anyone could send (X-Forwarded-For, X-Forwarded-Proto) are believed only when the
socket's peer is in `LODGE_TRUSTED_PROXIES` (addresses or CIDR networks). X-Forwarded-For
is then walked from the right, skipping every hop a trusted proxy added; the first address
that is not a trusted proxy is the client. Werkzeug's ProxyFix counts a fixed number of
hops instead, which is wrong as soon as a request takes one more or one less proxy.

`ClientAddress` applies the decision to the WSGI environ before Flask sees it, so
`request.remote_addr` is the client everywhere (sign-in rate limits, campus access) and
gunicorn's access log, which reads the same environ, logs the client too; and
`wsgi.url_scheme` is https behind a TLS-terminating proxy, so every URL Flask builds is.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from kernel.platform.config import get_settings

SCHEMES = ("http", "https")


@lru_cache(maxsize=8)
def networks(specs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def parse_address(text: str | None):
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def within(address, among) -> bool:
    return address is not None and any(address in network for network in among)


def trusted_proxies() -> tuple:
    return networks(get_settings().network.trusted_proxies)


def client_address(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The client's address; None when a hop our proxies passed on is not an address."""
    proxies = trusted_proxies()
    peer = parse_address(remote_addr)
    if not within(peer, proxies) or not forwarded_for:
        return str(peer) if peer else None
    # right to left: the last hop our proxies did not add is the client
    for hop in reversed(forwarded_for.split(",")):
        address = parse_address(hop)
        if address is None:
            return None
        if not within(address, proxies):
            return str(address)
    return str(peer)


def client_scheme(remote_addr: str | None, forwarded_proto: str | None, scheme: str) -> str:
    """https when a trusted proxy says the client used it; the socket's scheme otherwise."""
    if not forwarded_proto or not within(parse_address(remote_addr), trusted_proxies()):
        return scheme
    # the proxy nearest to us appends last
    claimed = forwarded_proto.split(",")[-1].strip().lower()
    return claimed if claimed in SCHEMES else scheme


class ClientAddress:
    """WSGI middleware: REMOTE_ADDR and wsgi.url_scheme as the client sees them."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR")
        environ["REMOTE_ADDR"] = (
            client_address(peer, environ.get("HTTP_X_FORWARDED_FOR")) or "unknown"
        )
        environ["wsgi.url_scheme"] = client_scheme(
            peer, environ.get("HTTP_X_FORWARDED_PROTO"), environ.get("wsgi.url_scheme", "http")
        )
        return self.app(environ, start_response)
