"""A local DataCite for tests: a real HTTP server speaking as much of DataCite's REST API
as Lodge uses, on a free loopback port.

- `POST /dois`, `PUT /dois/{doi}` (an upsert, as DataCite's) and `GET /dois/{doi}`, with
  JSON:API bodies and DataCite's answers: 201 created, 200 updated or found, 401 without the
  repository account, 404 unknown, 415 not JSON, 422 refused with JSON:API `errors`.
- Every payload that registers or publishes a DOI (or changes one that is not a draft) is
  validated against DataCite's kernel 4.5 JSON schema (the `datacite` package's
  `schema45`); an invalid one is a 422 naming what is wrong. Events move a DOI's state as
  DataCite's do: publish → findable, register and hide → registered.
- GET without credentials sees only findable DOIs, as DataCite's public API.
- A test can make it misbehave (`misbehave`): fail with 500, answer garbage, JSON nested
  too deep or an oversize body, answer slowly or drip its answer; `stop()` and `start()` again (same
  port) play DataCite being down.

It runs in a process of its own (its requests each on a thread of a ThreadingHTTPServer),
not on a thread of the test process: the tests' eventlet monkey patch would make that a
green thread, starved whenever a test blocks outside eventlet (a browser driver, say).
The test process talks to it over HTTP, the API above plus `/_control/...`.

    with DataCiteServer() as datacite:
        ...point Lodge at datacite.env()...
        datacite.get(doi)["state"] == "findable"
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import requests

from tests.support.system import REPO_ROOT, free_port, poll_until

USERNAME, PASSWORD, PREFIX = "LODGE.TEST", "datacite-test-password", "10.80000"
MAX_BODY = 1 << 20
MODES = ("ok", "fail", "garbage", "nested", "oversize", "slow", "drip")


class DataCiteServer:
    def __init__(self, prefix: str = PREFIX):
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> DataCiteServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.datacite", str(self.port), self.prefix],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
        )
        poll_until(self._answers, timeout=30, description="the DataCite stand-in answering")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the DataCite stand-in exited with {self.process.returncode}")
        try:
            return requests.get(f"{self.url}/heartbeat", timeout=2).ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        """DataCite down: connections are refused until `start()`. Its DOIs go with it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> DataCiteServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The environment that points Lodge at this server."""
        return {
            "LODGE_DATACITE_ENABLED": "true",
            "LODGE_DATACITE_API_URL": self.url,
            "LODGE_DATACITE_PREFIX": self.prefix,
            "LODGE_DATACITE_USERNAME": USERNAME,
            "LODGE_DATACITE_PASSWORD": PASSWORD,
            "LODGE_DATACITE_TIMEOUT": "2",
        }

    def get(self, doi: str) -> dict | None:
        """A DOI's attributes (with `state`) as the repository account sees them, or None."""
        response = requests.get(f"{self.url}/dois/{doi}", auth=(USERNAME, PASSWORD), timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()["data"]["attributes"]

    def misbehave(self, mode: str, delay: float = 0.0) -> None:
        """From now on answer every POST and PUT as `mode` says (MODES); "ok" to recover.
        `delay`: seconds a "slow" answer waits, or a "drip" answer takes per byte."""
        requests.post(
            f"{self.url}/_control/mode", json={"mode": mode, "delay": delay}, timeout=10
        ).raise_for_status()

    def requests_seen(self) -> list[dict]:
        """Every POST and PUT so far: method, DOI, status answered."""
        return requests.get(f"{self.url}/_control/log", timeout=10).json()


# --- the server, in its own process ------------------------------------------------------


def _validation_errors(attributes: dict) -> list[dict]:
    from datacite import schema45

    return [
        {
            "source": "/".join(str(part) for part in error.absolute_path) or "attributes",
            "title": error.message[:300],
        }
        for error in schema45.validator.iter_errors(attributes)
    ]


class _State:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.lock = threading.RLock()
        self.dois: dict[str, dict[str, Any]] = {}
        self.mode, self.delay = "ok", 0.0
        self.log: list[dict] = []


def _handler(state: _State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the test's output is for the test
            pass

        # --- answers -------------------------------------------------------------

        def _send(self, status: int, body: dict | bytes, content_type: str = "") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/vnd.api+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, title: str, source: str | None = None) -> None:
            error = {"status": str(status), "title": title}
            if source:
                error["source"] = source
            self._send(status, {"errors": [error]})

        def _record(self, status: int, doi: str | None) -> None:
            with state.lock:
                state.log.append({"method": self.command, "doi": doi, "status": status})

        def _authorised(self) -> bool:
            expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
            return self.headers.get("Authorization", "") == f"Basic {expected}"

        def _document(self, doi: str) -> dict:
            stored = state.dois[doi]
            prefix, _, suffix = doi.partition("/")
            attributes = {
                **stored["attributes"],
                "doi": doi,
                "prefix": prefix,
                "suffix": suffix,
                "state": stored["state"],
            }
            return {"data": {"id": doi, "type": "dois", "attributes": attributes}}

        # --- misbehaving -----------------------------------------------------------

        def _misbehaved(self) -> bool:
            mode, delay = state.mode, state.delay
            if mode == "ok":
                return False
            if mode == "fail":
                self._error(500, "Internal server error")
            elif mode == "garbage":
                self._send(200, b"\x00\xff<html>not json" * 10, "text/html")
            elif mode == "nested":  # JSON nested past any parser's recursion limit
                self._send(201, b"[" * 100_000 + b"]" * 100_000)
            elif mode == "oversize":
                self._send(200, b"{" + b" " * (4 * MAX_BODY))
            elif mode == "slow":
                time.sleep(delay)
                with contextlib.suppress(OSError):  # the client gave up, as it should
                    self._error(500, "answered too late")
            elif mode == "drip":
                body = b'{"data": {"id": "x", "attributes": {}}}' + b" " * 200
                self.send_response(201)
                self.send_header("Content-Type", "application/vnd.api+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(delay)
                except OSError:  # the client gave up, as it should
                    pass
            self._record(-1, None)
            return True

        # --- the API ---------------------------------------------------------------

        def do_GET(self):
            if self.path == "/heartbeat":
                self._send(200, b"OK", "text/plain")
            elif self.path == "/_control/log":
                with state.lock:
                    self._send(200, state.log, "application/json")
            elif self.path.startswith("/dois/"):
                doi = unquote(self.path[len("/dois/") :]).lower()
                with state.lock:
                    visible = doi in state.dois and (
                        self._authorised() or state.dois[doi]["state"] == "findable"
                    )
                    if visible:
                        self._send(200, self._document(doi))
                        return
                self._error(404, "The resource you are looking for doesn't exist.")
            else:
                self._error(404, "The resource you are looking for doesn't exist.")

        def do_POST(self):
            if self.path == "/_control/mode":
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with state.lock:
                    state.mode, state.delay = body["mode"], float(body.get("delay", 0))
                self._send(200, {"mode": state.mode}, "application/json")
            elif self.path == "/dois":
                self._write(None)
            else:
                self._error(404, "The resource you are looking for doesn't exist.")

        def do_PUT(self):
            if self.path.startswith("/dois/"):
                self._write(unquote(self.path[len("/dois/") :]).lower())
            else:
                self._error(404, "The resource you are looking for doesn't exist.")

        def _body(self) -> dict | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._error(413, "Payload too large")
                return None
            raw = self.rfile.read(length)
            if self.headers.get("Content-Type", "").split(";")[0] not in (
                "application/vnd.api+json",
                "application/json",
            ):
                self._error(415, "The content type is not recognized.")
                return None
            try:
                body = json.loads(raw)
                attributes = body["data"]["attributes"]
                if body["data"].get("type", "dois") != "dois" or not isinstance(attributes, dict):
                    raise TypeError
            except (ValueError, TypeError, KeyError):
                self._error(400, "You need to provide a payload following the JSONAPI spec")
                return None
            return attributes

        def _write(self, doi: str | None) -> None:
            if self._misbehaved():
                return
            if not self._authorised():
                self._record(401, doi)
                self._error(401, "Bad credentials.")
                return
            attributes = self._body()
            if attributes is None:
                self._record(400, doi)
                return
            named = str(attributes.get("doi") or "").lower()
            doi = doi or named
            if not doi or (named and named != doi):
                self._record(422, doi)
                self._error(422, "DOI in the path and the payload differ", "doi")
                return
            if doi.partition("/")[0] != state.prefix:
                self._record(422, doi)
                self._error(422, f"the prefix of {doi} is not this repository's", "doi")
                return
            event = attributes.pop("event", None)
            with state.lock:
                existing = state.dois.get(doi)
                if self.command == "POST" and existing is not None:
                    self._record(422, doi)
                    self._error(422, "This DOI has already been taken", "doi")
                    return
                merged = {**(existing or {}).get("attributes", {}), **attributes}
                current = existing["state"] if existing else "draft"
                target = {"publish": "findable", "register": "registered", "hide": "registered"}
                new_state = target.get(event, current) if event else current
                if event not in (None, *target):
                    self._record(422, doi)
                    self._error(422, f"unknown event {event!r}", "event")
                    return
                if new_state != "draft":
                    errors = _validation_errors({**merged, "doi": doi})
                    if not merged.get("url"):
                        errors.append({"source": "url", "title": "can't be blank"})
                    if errors:
                        self._record(422, doi)
                        self._send(422, {"errors": errors})
                        return
                state.dois[doi] = {"attributes": merged, "state": new_state}
                status = 200 if existing else 201
                self._record(status, doi)
                self._send(status, self._document(doi))

    return Handler


def _serve(port: int, prefix: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(_State(prefix)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="datacite", daemon=True)
    thread.start()
    thread.join()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2])
