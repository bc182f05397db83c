"""Lodge behind a TLS-terminating proxy (Debian's nginx, with a self-signed certificate), and
the requests gunicorn refuses before the app runs.

The proxy connects from 127.0.0.2, which the e2e Lodge lists in LODGE_TRUSTED_PROXIES but
which is not gunicorn's own default of trusted addresses, so only Lodge's own decision
(gateway/http/proxies.py) can make the URLs https."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.system import expect, free_port, poll_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PROXY_ADDRESS = "127.0.0.2"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

NGINX_CONF = """
{user}
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  client_max_body_size 0;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {root}/cert.pem;
    ssl_certificate_key {root}/key.pem;
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_bind {proxy_address};
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def tls_proxy(lodge_system, tmp_path_factory):
    """nginx terminating TLS on a free port in front of the e2e Lodge; its https base URL
    and the certificate to trust."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: run scripts/ensure-services.sh --for-tests")
    root = tmp_path_factory.mktemp("nginx")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(root / "key.pem"),
            "-out",
            str(root / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    # as root, nginx's workers would otherwise drop to a user who cannot use these folders
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
    (root / "nginx.conf").write_text(
        NGINX_CONF.format(
            user=user, root=root, port=port, upstream=lodge_system.port, proxy_address=PROXY_ADDRESS
        )
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        poll_until(
            lambda: _port_open(port) or process.poll() is not None, description="nginx listening"
        )
        if process.poll() is not None:
            pytest.fail("nginx did not start: " + (root / "error.log").read_text()[-2000:])
        yield f"https://127.0.0.1:{port}", str(root / "cert.pem")
    finally:
        process.terminate()
        process.wait(10)


def test_behind_a_tls_proxy_every_url_lodge_makes_is_https(lodge_system, tls_proxy):
    base, certificate = tls_proxy
    proxied = requests.Session()
    proxied.verify = certificate
    proxied.trust_env = False  # REQUESTS_CA_BUNDLE would replace the certificate
    # the OpenID Connect redirect_uri
    start = proxied.get(f"{base}/login/institution", allow_redirects=False, timeout=30)
    assert start.status_code == 302
    [redirect_uri] = parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"]
    assert redirect_uri == f"{base}/login/institution/callback"
    # the tus upload's Location
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works")
    proxied.headers["Authorization"] = student.headers["Authorization"]
    created = proxied.post(
        f"{base}/api/v1/deposits/{deposit['id']}/uploads",
        timeout=30,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(PDF)),
            "Upload-Metadata": "filename dHVzLnBkZg==",
        },
    )
    expect(created, 201)
    assert created.headers["Location"].startswith(f"{base}/api/v1/deposits/{deposit['id']}/")


def _raw(lodge_system, request: bytes) -> bytes:
    """What gunicorn answers to these bytes, sent as they are."""
    with socket.create_connection(("127.0.0.1", lodge_system.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def _status(line: bytes) -> int:
    return int(line.split()[1])


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % n for n in range(61))
        + b"\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ids=[
        "long-request-line",
        "too-many-headers",
        "header-too-large",
        "content-length-word",
        "content-length-negative",
        "content-length-twice",
        "length-and-chunked",
    ],
)
def test_gunicorn_refuses_malformed_or_oversized_requests_with_a_4xx(lodge_system, request_bytes):
    assert 400 <= _status(_raw(lodge_system, request_bytes)) < 500


def test_requests_within_the_limits_reach_the_app(lodge_system):
    many = b"".join(b"X-H%d: v\r\n" % n for n in range(50))
    line = _raw(
        lodge_system, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"Connection: close\r\n\r\n"
    )
    assert _status(line) == 200
