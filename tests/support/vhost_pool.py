"""Fresh RabbitMQ vhosts with Lodge's whole topology declared, made ahead of the tests that
take them.

Declaring the topology on a new vhost makes some fifty quorum queues: over a second of the
broker's time, which a test would otherwise wait for at its start, and a third of a second
more to delete the vhost at its end. A process of its own makes the next vhosts while a
test runs, and deletes the used ones after it: each test still gets a vhost nobody used.

The process reads one request a line on stdin: `make` (print the new vhost's name once its
topology is declared, or `!` and the error) and `drop NAME`. At the end of its input it
deletes every vhost it made that it was not told to drop, taken or not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import uuid

import eventlet

from tests.support.system import AMQP_HOST, REPO_ROOT, create_vhost, delete_vhost

log = logging.getLogger(__name__)
_unpatched_os = eventlet.patcher.original("os")


def amqp_uri(vhost: str) -> str:
    return f"amqp://guest:guest@{AMQP_HOST}/{vhost}"


def make_declared() -> str:
    """A new vhost with the topology of `lodge migrate`, on the settings of this process."""
    from lodge.topology import declare

    name = f"lodge-test-{uuid.uuid4().hex[:10]}"
    create_vhost(name)
    try:
        declare(amqp_uri(name))
    except BaseException:
        delete_vhost(name)
        raise
    return name


class VhostPool:
    """Keeps `ahead` declared vhosts ready, made with `settings` (LODGE_* variables that
    decide the topology, such as the handlers' retry delays). If the maker process fails,
    vhosts are made in this process instead, as slowly as before."""

    def __init__(self, settings: dict[str, str], ahead: int = 2):
        self.settings = settings
        self.ahead = ahead
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> VhostPool:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LODGE_") or key.startswith("LODGE_TEST_")  # the broker's
        }
        env.update(self.settings)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.vhost_pool"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            # a Ctrl-C ends pytest, whose end of the pipe then ends this process
            start_new_session=True,
        )
        for _ in range(self.ahead):
            self._ask("make")
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _ask(self, request: str) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            # not eventlet's os.write, which retries a broken pipe for ever
            _unpatched_os.write(self.process.stdin.fileno(), (request + "\n").encode())
        except (OSError, ValueError):
            return False
        return True

    def take(self) -> str:
        """A declared vhost nobody has used."""
        line = self.process.stdout.readline().strip() if self.process else ""
        if line and not line.startswith("!"):
            self._ask("make")
            return line
        log.warning("the vhost maker failed (%s): making one here", line or "it stopped")
        if line:
            self._ask("make")
        with _these_settings(self.settings):
            return make_declared()

    def drop(self, name: str) -> None:
        if not self._ask(f"drop {name}"):
            delete_vhost(name)


@contextlib.contextmanager
def _these_settings(settings: dict[str, str]):
    from kernel.platform.config import get_settings

    before = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def serve() -> None:
    made: set[str] = set()
    try:
        for line in sys.stdin:
            request, _, name = line.strip().partition(" ")
            if request == "make":
                try:
                    made.add(new := make_declared())
                except Exception as err:  # noqa: BLE001 - the test that takes it sees why
                    print(f"!{type(err).__name__}: {err}".replace("\n", " "), flush=True)
                else:
                    print(new, flush=True)
            elif request == "drop":
                made.discard(name)
                try:
                    delete_vhost(name)
                except Exception as err:  # noqa: BLE001 - a vhost left behind ends no test
                    print(f"deleting vhost {name}: {err}", file=sys.stderr, flush=True)
    finally:
        for name in made:
            with contextlib.suppress(Exception):
                delete_vhost(name)


if __name__ == "__main__":
    serve()
