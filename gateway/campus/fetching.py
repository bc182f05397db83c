"""The files of a campus system's deposit request, fetched by reference into staging: from an
HTTPS URL, from an object the system staged on Lodge's S3 endpoint, or given inline.

Fetching by URL must not be a way into the campus network. A URL's host (and each redirect's)
must be on the system's allow-list; its name is resolved here and the connection goes to the
address checked, so a second DNS answer cannot point it elsewhere. Addresses that are not
public (private, loopback, link-local, multicast, reserved, unspecified, and IPv4 ones hidden
in IPv6) are refused unless the allow-list names that address itself. Time, silence and bytes
are capped; nothing is decompressed. Whatever arrives must have the size and SHA-256 the
reference declares, or it is deleted and the file refused.

Allow-list entries (`campus_systems.allowed_hosts`):
- `host` or `host:port`: HTTPS to that host, on 443 or that port (`[v6]:port` for IPv6);
- `http://host[:port]`: plain HTTP to that host, on 80 or that port (a test's loopback server,
  or a campus server without TLS that the operator chose to trust);
- `s3://bucket`: objects in that bucket on Lodge's S3 endpoint (never Lodge's own buckets).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from kernel.contracts.exceptions import InvalidInput
from kernel.platform.config import FetchSettings, get_settings
from kernel.platform.storage import CHUNK_SIZE, StoredObject, get_storage, new_key
from kernel.policy.text import user_pattern

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Chunks = Generator[bytes, None, None]  # closed when done with: it may hold a connection
DEFAULT_PORTS = {"https": 443, "http": 80}
REDIRECTS = (301, 302, 303, 307, 308)
BUCKET = user_pattern(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
HOST_NAME = user_pattern(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")
URL_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"  # left as they are in a request target: reserved, %
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # an IPv4 address in the last 32 bits


@dataclass(frozen=True)
class AllowList:
    origins: frozenset[tuple[str, str, int]]  # (scheme, host, port)
    addresses: frozenset[tuple[Address, int]]  # non-public ones named outright, with the port
    buckets: frozenset[str]

    @classmethod
    def of(cls, entries: Sequence[str]) -> AllowList:
        origins, addresses, buckets = set(), set(), set()
        for entry in entries:
            if not isinstance(entry, str):  # a stored list is JSON: it could hold anything
                log.warning("allow-list entry %r is not text", entry)
                continue
            try:
                kind, host, port = parse_entry(entry)
            except ValueError:
                log.warning(
                    "allow-list entry %r is not a host, http:// host or s3:// bucket", entry
                )
                continue
            if kind == "s3":
                buckets.add(host)
                continue
            origins.add((kind, host, port))
            if (address := ipaddress_or_none(host)) is not None:
                addresses.add((address, port))
        return cls(frozenset(origins), frozenset(addresses), frozenset(buckets))


def parse_entry(entry: str) -> tuple[str, str, int]:
    """An allow-list entry as (scheme or "s3", host or bucket, port); ValueError if it is none
    of the forms above (the module's docstring). Registering a system should store only
    entries this reads, spelled as `canonical_entry` gives them."""
    entry = entry.strip()
    if not entry.isprintable() or " " in entry:
        raise ValueError("must not hold spaces or control characters")
    if entry.startswith("s3://"):
        bucket = entry[len("s3://") :]
        if not BUCKET.fullmatch(bucket):
            raise ValueError("an S3 bucket name is 3 to 63 small letters, digits, dots and hyphens")
        return "s3", bucket, 0
    scheme = "https"
    if entry.lower().startswith("http://"):
        scheme, entry = "http", entry[len("http://") :]
    parts = urlsplit(f"//{entry}")
    if any((parts.username, parts.password, parts.path, parts.query, parts.fragment)):
        raise ValueError("must be host, host:port or http://host:port")
    host = canonical_host(parts.hostname or "")
    if not (ipaddress_or_none(host) or HOST_NAME.fullmatch(host)) or parts.port == 0:
        raise ValueError("must be host, host:port or http://host:port")
    return scheme, host, parts.port or DEFAULT_PORTS[scheme]


def canonical_entry(entry: str) -> str:
    """An allow-list entry as it is stored: `files.example.edu`, `[::1]:8443`,
    `http://127.0.0.1:8000`, `s3://bucket` (a default port left out); ValueError as
    `parse_entry`."""
    scheme, host, port = parse_entry(entry)
    if scheme == "s3":
        return f"s3://{host}"
    shown = f"[{host}]" if ":" in host else host
    if port != DEFAULT_PORTS[scheme]:
        shown = f"{shown}:{port}"
    return f"http://{shown}" if scheme == "http" else shown


def ipaddress_or_none(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def canonical_host(host: str) -> str:
    """A host name as it is compared: IDNA, lower case, no final dot; an address as written
    by `ipaddress`."""
    if (address := ipaddress_or_none(host)) is not None:
        return str(address)
    name = host.rstrip(".").encode("idna").decode("ascii").lower()
    if not name:
        raise ValueError("no host")
    return name


def public(address: Address) -> bool:
    """Whether an address is on the public internet: IPv4 addresses carried inside IPv6
    (mapped, 6to4, NAT64) count as themselves."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return public(inner)
    # is_global alone lets some through (multicast, ::/8 reserved ones like ::127.0.0.1)
    return address.is_global and not any(
        (
            address.is_multicast,
            address.is_reserved,
            address.is_private,
            address.is_loopback,
            address.is_link_local,
            address.is_unspecified,
        )
    )


def fetch(
    reference: dict[str, Any],
    *,
    allowed_hosts: Sequence[str],
    max_size: int,
    deposit_id: str,
) -> StoredObject:
    """Fetch the file of a loaded FileReferenceSchema into staging storage and return what was
    stored. A reference Lodge may not follow, or a file that is not what it declares, is
    InvalidInput with field messages keyed by the reference's own field names (the caller
    adds the file's index), and leaves nothing in storage."""
    size, sha256 = reference["size"], reference["sha256"]
    if size > max_size:
        raise InvalidInput(
            f"The file is larger than the limit of {max_size} bytes.",
            {"size": [f"larger than the limit of {max_size} bytes"]},
        )
    settings = get_settings()
    allowed = AllowList.of(allowed_hosts)
    deadline = time.monotonic() + settings.fetching.seconds
    if "content" in reference:
        chunks = _inline(reference["content"], settings.fetching.inline_bytes)
    elif "s3" in reference:
        chunks = _s3_object(reference["s3"], allowed, size, deadline)
    else:
        chunks = _download(reference["url"], allowed, size, deadline, settings.fetching)
    storage = get_storage()
    key = new_key("staging", deposit_id)
    try:
        stored = storage.save(key, _at_most(chunks, size), max_size=size)
    except BaseException:
        storage.delete(key)
        raise
    finally:
        chunks.close()
    if stored.size != size or stored.sha256 != sha256:
        storage.delete(key)
        if stored.size != size:
            raise InvalidInput(
                f"The file fetched has {stored.size} bytes, not the {size} declared.",
                {"size": [f"the file fetched has {stored.size} bytes"]},
            )
        raise InvalidInput(
            "The file fetched does not have the SHA-256 declared.",
            {"sha256": ["does not match the file fetched"]},
        )
    return stored


def _at_most(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Stop at the first byte past the declared size, whatever the source said about it."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > size:
            raise InvalidInput(
                f"The file is larger than its declared {size} bytes.",
                {"size": [f"the file is larger than {size} bytes"]},
            )
        yield chunk


# --- inline ---------------------------------------------------------------------------------


def _inline(content: str, limit: int) -> Chunks:
    if len(content) > 4 * -(-limit // 3):  # longer than any encoding of `limit` bytes
        raise InvalidInput(
            f"Inline content is limited to {limit} bytes; give a URL or an S3 object.",
            {"content": [f"larger than {limit} bytes"]},
        )
    try:
        data = base64.b64decode(content.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidInput(
            "The inline content is not base64.", {"content": ["not valid base64"]}
        ) from None
    if len(data) > limit:
        raise InvalidInput(
            f"Inline content is limited to {limit} bytes; give a URL or an S3 object.",
            {"content": [f"larger than {limit} bytes"]},
        )
    yield data


# --- S3 -------------------------------------------------------------------------------------


def _s3_object(location: dict[str, str], allowed: AllowList, size: int, deadline: float) -> Chunks:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = location["bucket"], location["key"]
    if bucket not in allowed.buckets or bucket in _own_buckets():
        raise InvalidInput(
            "The system may not stage files in this bucket.",
            {"s3": {"bucket": ["not a bucket this system may stage files in"]}},
        )
    try:
        answer = _s3_client().get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404"):
            raise InvalidInput("No such object.", {"s3": {"key": ["no such object"]}}) from None
        raise InvalidInput(
            f"The object could not be read ({code}).", {"s3": [f"could not be read ({code})"]}
        ) from None
    except BotoCoreError as err:
        raise InvalidInput(
            f"The object could not be read: {err}", {"s3": ["could not be read"]}
        ) from None
    body = answer["Body"]
    try:
        if answer.get("ContentLength", 0) > size:
            raise InvalidInput(
                f"The object is larger than its declared {size} bytes.",
                {"size": [f"the file is larger than {size} bytes"]},
            )
        for chunk in body.iter_chunks(CHUNK_SIZE):
            if time.monotonic() > deadline:
                raise _too_slow("s3")
            yield chunk
    except (BotoCoreError, OSError) as err:
        raise InvalidInput(
            f"The object could not be read: {err}", {"s3": ["could not be read"]}
        ) from None
    finally:
        body.close()


def _own_buckets() -> set[str]:
    """Lodge's own buckets, which no system reads through a reference."""
    settings = get_settings()
    own = {settings.storage.s3_bucket}
    if settings.preservation.bag_target.startswith("s3://"):
        own.add(settings.preservation.bag_target[len("s3://") :].partition("/")[0])
    return own


def _s3_client():
    storage, fetching = get_settings().storage, get_settings().fetching
    return _client_for(
        storage.s3_endpoint_url, storage.s3_region, fetching.connect_seconds, fetching.idle_seconds
    )


@lru_cache(maxsize=4)
def _client_for(endpoint_url: str | None, region: str | None, connect: float, idle: float):
    import boto3
    from botocore.config import Config

    # credentials come from the standard AWS environment variables or profile, as storage's
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region or "us-east-1",
        config=Config(
            connect_timeout=connect,
            read_timeout=idle,
            retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


# --- HTTPS ----------------------------------------------------------------------------------


def _download(
    url: str, allowed: AllowList, size: int, deadline: float, settings: FetchSettings
) -> Chunks:
    """The body of `url`, redirects followed by hand, each hop checked like the first."""
    tls = ssl.create_default_context()  # per fetch: the CA store as it is now
    for _hop in range(settings.redirects + 1):
        scheme, host, port, target = _checked_url(url, allowed)
        address = _checked_address(host, port, allowed)
        connection = _Pinned(host, port, address, _remaining(deadline, settings.connect_seconds))
        if scheme == "https":
            connection.tls = tls
            connection.default_port = 443
        watchdog = _Watchdog(connection, deadline)
        try:
            response = _ask(connection, target, _remaining(deadline, settings.idle_seconds))
            if response.status in REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise _unfetchable(f"the server answered {response.status} without a Location")
                url = urljoin(url, location.strip())
                continue
            if response.status != 200:
                raise _unfetchable(f"the server answered {response.status} {response.reason}")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > size:
                raise InvalidInput(
                    f"The server says the file has {declared} bytes, not the {size} declared.",
                    {"size": [f"the file is larger than {size} bytes"]},
                )
            yield from _body(connection, response, deadline, settings.idle_seconds)
            if watchdog.fired:
                raise _too_slow("url")
            return
        except (OSError, http.client.HTTPException, ValueError) as err:
            if watchdog.fired or time.monotonic() >= deadline:
                raise _too_slow("url") from None
            if isinstance(err, TimeoutError):
                silent = f"the server was silent for {settings.idle_seconds:g} seconds"
                raise _unfetchable(silent) from None
            raise _unfetchable(f"{type(err).__name__}: {err}") from None
        finally:
            watchdog.cancel()
            connection.close()
    raise InvalidInput(
        f"More than {settings.redirects} redirects.",
        {"url": [f"more than {settings.redirects} redirects"]},
    )


def _checked_url(url: str, allowed: AllowList) -> tuple[str, str, int, str]:
    """(scheme, host, port, request target) of a URL the allow-list lets Lodge fetch."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = canonical_host(parts.hostname or "")
        port = DEFAULT_PORTS.get(scheme, 0) if parts.port is None else parts.port
    except (ValueError, UnicodeError):
        raise _unfetchable(f"not a URL Lodge can fetch: {url[:200]!r}") from None
    if scheme not in DEFAULT_PORTS:
        raise InvalidInput("Only https URLs are fetched.", {"url": ["must be an https URL"]})
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "A URL may not carry credentials.", {"url": ["must not carry credentials"]}
        )
    if (scheme, host, port) not in allowed.origins:
        if scheme == "http" and ("https", host, 443 if port == 80 else port) in allowed.origins:
            raise InvalidInput("Only https URLs are fetched.", {"url": ["must be an https URL"]})
        shown = host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
        raise InvalidInput(
            f"{scheme}://{shown} is not on the system's list of allowed hosts.",
            {"url": [f"{scheme}://{shown} is not an allowed host"]},
        )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # spaces and other characters HTTP does not allow in a request line, percent-encoded
    return scheme, host, port, quote(target, safe=URL_CHARACTERS)


def _checked_address(host: str, port: int, allowed: AllowList) -> str:
    """The address to connect to: the first the name resolves to that is public, or named
    with this port on the allow-list. The connection goes to it, whatever the name resolves
    to later."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _unfetchable(f"{host} does not resolve") from None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if public(address) or (address, port) in allowed.addresses:
            return str(address)
    raise InvalidInput(
        f"{host} is not on the public internet, and the allow-list does not name its address.",
        {"url": [f"{host} resolves to an address that is not public"]},
    )


class _Pinned(http.client.HTTPConnection):
    """A connection to a checked address, speaking to the host by its name: Host header,
    TLS server name and certificate check all use the URL's host."""

    tls: ssl.SSLContext | None = None

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        if self.tls:  # the plain socket is already in place, for the watchdog to cut
            self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)


class _Watchdog:
    """Cuts a connection at the deadline, whatever it is blocked in (a slow TLS handshake,
    headers dripping in), so no fetch outlives its time."""

    def __init__(self, connection: _Pinned, deadline: float):
        self.connection, self.fired, self.stopped = connection, False, False
        self.lock = threading.Lock()  # no cut once the connection is being closed
        self.timer = threading.Timer(max(deadline - time.monotonic(), 0), self._cut)
        self.timer.daemon = True
        self.timer.start()

    def _cut(self) -> None:
        with self.lock:
            if self.stopped:
                return
            self.fired = True
            sock = self.connection.sock
            if sock is None:
                return
            # through a duplicate: the TLS state of the socket in use is left to its reader
            with (
                contextlib.suppress(OSError),
                socket.fromfd(sock.fileno(), sock.family, sock.type) as twin,
            ):
                twin.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        with self.lock:
            self.stopped = True
        self.timer.cancel()


def _ask(connection: _Pinned, target: str, idle: float) -> http.client.HTTPResponse:
    connection.connect()
    connection.sock.settimeout(idle)  # from here on, silence is what is timed
    connection.putrequest("GET", target, skip_accept_encoding=True)
    connection.putheader("Accept-Encoding", "identity")  # bytes as stored: nothing to inflate
    connection.putheader("User-Agent", "Lodge (campus file fetch)")
    connection.endheaders()
    return connection.getresponse()


def _body(
    connection: _Pinned, response: http.client.HTTPResponse, deadline: float, idle: float
) -> Iterator[bytes]:
    """The response body as it arrives, each read waiting no longer than the silence allowed
    or the time left."""
    while True:
        if connection.sock is not None:
            connection.sock.settimeout(_remaining(deadline, idle))
        chunk = response.read1(CHUNK_SIZE)
        if not chunk:
            return
        yield chunk


def _remaining(deadline: float, cap: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _too_slow("url")
    return min(left, cap)


def _too_slow(field: str) -> InvalidInput:
    seconds = get_settings().fetching.seconds
    return InvalidInput(
        f"Fetching the file took longer than {seconds:g} seconds.",
        {field: [f"took longer than {seconds:g} seconds"]},
    )


def _unfetchable(why: str) -> InvalidInput:
    return InvalidInput(
        f"The file could not be fetched: {why}", {"url": [f"could not be fetched: {why}"]}
    )
