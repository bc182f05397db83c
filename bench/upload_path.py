"""Upload path benchmark: the gateway's streaming upload code alone, side by side across
checkouts, without a Lodge (so without the broker, intake or validation).

For each checkout given (default: this one), starts gunicorn as the gateway runs it (two
gthread workers of 8 threads) on a small WSGI app that streams a raw POST into local storage
(`LocalStorage.save` reading `raw_chunks` of the request stream, as the files API does) and
takes tus PATCHes into an `UploadArea` (new connection per PATCH, 64 MiB each, as tuspy
sends them), finishing with the digests and a move into storage. Then, in rounds, for the
same file: the `dd conv=fdatasync` and `sha256sum` ceiling, and each checkout's POST and tus
upload in turn, printing MB/s, POST against the slower of dd and sha256sum (target: at
least 80%), tus against POST (target: at least 90%) and the workers' CPU seconds per GiB.

    python bench/upload_path.py --size 1024 --rounds 2 /path/to/older/checkout .
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.upload import BigReads  # noqa: E402

MiB = 1024 * 1024
APP = """
import os, sys
from pathlib import Path
sys.path.insert(0, os.environ["CODE"])
from werkzeug.wrappers import Request
from gateway.files.resumable import UploadArea
from gateway.files.uploads import raw_chunks
from kernel.platform.storage import LocalStorage, new_key
ROOT = Path(os.environ["ROOT"])
storage = LocalStorage(ROOT / "store")
area = UploadArea(ROOT / "uploads", 3600)

def app(environ, start_response):
    request = Request(environ)
    request.max_content_length = 2**50
    if request.path == "/post":
        body = storage.save(new_key("staging", "d"), raw_chunks(request.stream), 2**50).sha256
    elif request.path == "/tus":
        body = area.create("d", "me", "f.pdf", int(request.args["length"]), {}, 100, 2**50).id
    else:
        upload = area.get(request.path.split("/")[-1], "d", "me")
        offset = int(request.args["offset"])
        body = str(area.append(upload, offset, raw_chunks(request.stream), None))
        if int(body) == upload.length:
            digests = area.digests(upload)
            storage.adopt(new_key("staging", "d"), area.part_path(upload.id), digests)
            body = digests.sha256
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


class Server:
    """gunicorn serving the upload app from one checkout."""

    def __init__(self, checkout: Path, scratch: Path):
        self.checkout = checkout
        self.root = Path(tempfile.mkdtemp(dir=scratch))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        (self.root / "upload_app.py").write_text(APP)
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                *("-w", "2", "--threads", "8", "-k", "gthread", "--timeout", "600"),
                *("--chdir", str(self.root), "-b", f"127.0.0.1:{self.port}", "upload_app:app"),
            ],
            env={**os.environ, "CODE": str(checkout), "ROOT": str(self.root)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def cpu(self) -> float:
        """CPU seconds its workers have used."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        total = 0.0
        for pid in children.read_text().split():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def post(url: str, path: Path) -> str:
    with open(path, "rb") as handle:
        answer = requests.post(
            f"{url}/post",
            data=BigReads(handle),
            headers={"Content-Length": str(path.stat().st_size)},
            timeout=1800,
        )
    answer.raise_for_status()
    return answer.text


def tus(url: str, path: Path, chunk: int = 64 * MiB) -> str:
    size = path.stat().st_size
    upload_id = requests.post(f"{url}/tus", params={"length": size}, timeout=60).text
    offset = 0
    with open(path, "rb") as handle:
        while offset < size:
            data = handle.read(chunk)
            answer = requests.patch(
                f"{url}/tus/{upload_id}", params={"offset": offset}, data=data, timeout=1800
            )
            answer.raise_for_status()
            offset += len(data)
    return answer.text


def measure(server: Server, send, path: Path) -> tuple[float, float, str]:
    """MB/s, worker CPU seconds per GiB, and the SHA-256 the server took."""
    subprocess.run(["sync"], check=True)
    cpu, started = server.cpu(), time.perf_counter()
    digest = send(server.url, path)
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    return size / seconds / 1e6, (server.cpu() - cpu) * 1024 * MiB / size, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[REPO_ROOT])
    parser.add_argument("--size", type=int, default=1024, help="MiB")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    scratch_root = REPO_ROOT / "var" if (REPO_ROOT / "var").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="lodge-bench-upload-path-", dir=scratch_root) as tmp:
        scratch = Path(tmp)
        path = scratch / "bench.pdf"
        block = os.urandom(16 * MiB)
        with open(path, "wb") as handle:
            for _ in range(args.size * MiB // len(block)):
                handle.write(block)
        servers = [Server(checkout.resolve(), scratch) for checkout in args.checkouts]
        try:
            for _ in range(args.rounds):
                subprocess.run(["sync"], check=True)
                dd = timed(["dd", f"if={path}", f"of={scratch}/dd", "bs=1M", "conv=fdatasync"])
                (scratch / "dd").unlink()
                sha = timed(["sha256sum", str(path)])
                size = path.stat().st_size
                slower = min(size / dd, size / sha) / 1e6
                print(
                    f"ceiling: dd {size / dd / 1e6:.0f} MB/s, sha256sum {size / sha / 1e6:.0f} "
                    f"MB/s | load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                for server in servers:
                    plain, plain_cpu, plain_digest = measure(server, post, path)
                    resumable, tus_cpu, tus_digest = measure(server, tus, path)
                    assert plain_digest == tus_digest, "the two uploads' SHA-256 differ"
                    print(
                        f"  {server.checkout}: POST {plain:.0f} MB/s = {plain / slower:.0%} of "
                        f"the slower (target >= 80%) | tus {resumable:.0f} MB/s = "
                        f"{resumable / plain:.0%} of POST (target >= 90%) | worker CPU "
                        f"s/GiB: POST {plain_cpu:.2f}, tus {tus_cpu:.2f} | load "
                        f"{os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
                    shutil.rmtree(server.root / "store", ignore_errors=True)
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
