"""A private clamd for tests: temp config, a local socket, and a signature database made on
the spot that knows the EICAR test file, listening on a local socket and a free TCP port (the
network is closed, so freshclam cannot run).

Its limits are small on purpose (MaxFileSize 2 MiB, StreamMaxLength 4 MiB) so tests can
show that files over clamd's limits are reported, not passed as clean (AlertExceedsMax).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from services.validation.scanner import Clamd
from tests.support.system import free_port

# The EICAR anti-virus test file, assembled here so no scanner flags this source file.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS" + "-TEST-FILE!$H+H*").encode()
MAX_FILE_SIZE = 2 * 1024 * 1024
STREAM_MAX_LENGTH = 4 * 1024 * 1024

CONFIG = """\
LocalSocket {root}/clamd.sock
TCPSocket {port}
TCPAddr 127.0.0.1
FixStaleSocket yes
DatabaseDirectory {root}/db
TemporaryDirectory {root}/tmp
LogFile {root}/clamd.log
PidFile {root}/clamd.pid
Foreground yes
Bytecode no
MaxThreads 4
ReadTimeout 30
CommandReadTimeout 30
StreamMaxLength {stream_max}
MaxFileSize {max_file}
MaxScanSize {max_scan}
MaxRecursion 8
AlertExceedsMax yes
"""


def clamd_binary() -> str:
    found = shutil.which("clamd") or next(
        (p for p in ("/usr/sbin/clamd", "/usr/bin/clamd") if Path(p).exists()), None
    )
    if not found:
        raise RuntimeError(
            "clamd is not installed; run scripts/ensure-services.sh --for-tests "
            "(Debian package clamav-daemon)"
        )
    return found


class ClamdProcess:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.socket = str(self.root / "clamd.sock")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> ClamdProcess:
        for sub in ("db", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # an extended (body) signature: name, any target type, any offset, the bytes in hex
        (self.root / "db" / "lodge-test.ndb").write_text(
            f"Eicar-Test-Signature:0:*:{EICAR.hex()}\n"
        )
        config = self.root / "clamd.conf"
        config.write_text(
            CONFIG.format(
                root=self.root,
                port=self.port,
                stream_max=STREAM_MAX_LENGTH,
                max_file=MAX_FILE_SIZE,
                max_scan=4 * STREAM_MAX_LENGTH,
            )
        )
        stderr = open(self.root / "clamd.stderr", "wb")  # noqa: SIM115 - clamd's, while it runs
        self.process = subprocess.Popen(
            [clamd_binary(), f"--config-file={config}"], stdout=subprocess.DEVNULL, stderr=stderr
        )
        clients = (
            Clamd(socket_path=self.socket, timeout=5),
            Clamd(address=self.address, timeout=5),
        )
        deadline = time.monotonic() + timeout
        while not all(client.ping() for client in clients):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("clamd did not start:\n" + self.log())
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")
            for p in (self.root / "clamd.log", self.root / "clamd.stderr")
            if p.exists()
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
