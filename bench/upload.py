"""Upload benchmark: large files streamed through the gateway into local storage.

Starts a Lodge of its own on embedded defaults (SQLite, local storage; tests/support/system.py),
then for each size (1 GiB and 2 GiB by default):
- measures this machine's ceiling in the same run: `dd conv=fdatasync` writing the file and
  `sha256sum` reading it (the gateway does both: it hashes and writes each byte once);
- streams the file as one POST /api/v1/deposits/{id}/files and prints MB/s and its ratio to
  the slower of the two (target: at least 80%, so hashing and writing overlap) and to both
  in turn;
- samples every gateway worker's RSS while it runs (peak growth; target at most 64 MiB) and
  reads the bytes the workers wrote from /proc/PID/io (target: at most 1.05x the file size,
  so no spooled temporary copy);
- with --tus, also sends the largest file as a resumable tus upload in 64 MiB PATCHes and
  checks its SHA-256 (DSpace broke above 2 GB), and prints its rate against the POST's
  (target: at least 90%): once with each PATCH's body sent as the POST's is, so the
  difference is what Lodge pays per PATCH, and once with tuspy, a client that reads each
  chunk into memory before it sends it.

    python bench/upload.py --sizes 1024 2048 --tus
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.system import LodgeSystem, expect  # noqa: E402

MiB = 1024 * 1024
TUS_CHUNK = 64 * MiB
OPEN_WORK = {
    "title": "Benchmark upload",
    "creators": [{"name": "Bench"}],
    "abstract": "x",
    "date": "2026",
}


def make_file(path: Path, size: int) -> str:
    """A file of `size` bytes that neither compresses nor repeats within a chunk; its SHA-256."""
    block = os.urandom(16 * MiB)
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        handle.write(b"%PDF-1.4\n")
        digest.update(b"%PDF-1.4\n")
        written = 9
        while written < size:
            piece = block[: min(len(block), size - written)]
            handle.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def ceiling(path: Path, scratch: Path) -> dict:
    subprocess.run(["sync"], check=True)
    copy = scratch / "dd-copy"
    dd = timed(["dd", f"if={path}", f"of={copy}", "bs=1M", "conv=fdatasync"])
    copy.unlink()
    sha = timed(["sha256sum", str(path)])
    size = path.stat().st_size
    return {"dd": size / dd / 1e6, "sha256sum": size / sha / 1e6, "both": size / (dd + sha) / 1e6}


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


class Watch:
    """Peak RSS growth and bytes written of the gateway workers while something runs."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.base_rss = {pid: rss(pid) for pid in pids}
        self.peak = dict(self.base_rss)
        self.base_written = {pid: written(pid) for pid in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.05):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss(pid))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.rss_growth = max(self.peak[p] - self.base_rss[p] for p in self.pids)
        self.bytes_written = sum(written(p) - self.base_written[p] for p in self.pids)


class BigReads:
    """`length` bytes of a file from `offset` on (all of it by default), which http.client
    sends in 1 MiB writes instead of the 8 or 16 KiB it asks for: sending a file that way,
    the client in Python was what limited the upload (curl and browsers send in large
    writes)."""

    def __init__(self, handle, offset: int = 0, length: int | None = None):
        self.handle = handle
        self.left = os.fstat(handle.fileno()).st_size - offset if length is None else length
        self.size = self.left
        handle.seek(offset)

    def __len__(self) -> int:
        return self.size

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(min(max(size, MiB), self.left))
        self.left -= len(data)
        return data


def upload_plain(client, deposit_id: str, path: Path) -> dict:
    with open(path, "rb") as handle:
        return expect(
            client.post(
                f"/api/v1/deposits/{deposit_id}/files",
                params={"filename": path.name},
                data=BigReads(handle),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(path.stat().st_size),
                },
                timeout=1800,
            ),
            201,
        )


def upload_tus_streamed(client, deposit_id: str, path: Path) -> dict:
    """The tus protocol's creation and PATCHes of TUS_CHUNK bytes, each PATCH's body sent as
    the POST's is (BigReads): the difference from a POST is then what Lodge pays per PATCH."""
    size = path.stat().st_size
    created = client.post(
        f"/api/v1/deposits/{deposit_id}/uploads",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(size),
            "Upload-Metadata": "filename " + base64.b64encode(path.name.encode()).decode(),
        },
    )
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    offset = 0
    with open(path, "rb") as handle:
        while offset < size:
            length = min(TUS_CHUNK, size - offset)
            answer = client.patch(
                url,
                data=BigReads(handle, offset, length),
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(length),
                },
                timeout=1800,
            )
            assert answer.status_code == 204, answer.text
            offset = int(answer.headers["Upload-Offset"])
    return expect(client.get(url), 200)["file"]


def upload_tus(client, deposit_id: str, path: Path) -> dict:
    """The same with tuspy, which reads each chunk into memory before it sends it."""
    from tusclient import client as tus

    uploader = tus.TusClient(
        client.api(f"deposits/{deposit_id}/uploads"),
        headers={"Authorization": client.headers["Authorization"]},
    ).uploader(file_path=str(path), chunk_size=TUS_CHUNK, metadata={"filename": path.name})
    uploader.upload()
    return expect(client.get(uploader.url), 200)["file"]


def report(label: str, size: int, seconds: float, limit: dict, watch: Watch) -> float:
    """Print one upload's figures beside their targets; its rate in MB/s."""
    rate = size / seconds / 1e6
    slower = min(limit["dd"], limit["sha256sum"])
    print(
        f"{label}: {size / MiB:.0f} MiB in {seconds:.1f} s = {rate:.0f} MB/s | ceiling "
        f"dd {limit['dd']:.0f} MB/s, sha256sum {limit['sha256sum']:.0f} MB/s, both in turn "
        f"{limit['both']:.0f} MB/s | {rate / slower:.0%} of the slower (target >= 80%), "
        f"{rate / limit['both']:.0%} of both in turn | RSS growth "
        f"{watch.rss_growth / MiB:.1f} MiB (target <= 64) | written "
        f"{watch.bytes_written / MiB:.0f} MiB = {watch.bytes_written / size:.2f}x the file "
        f"(target <= 1.05x)",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048], help="MiB")
    parser.add_argument("--tus", action="store_true", help="also a tus upload of the largest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(
        prefix="lodge-bench-upload-",
        dir=REPO_ROOT / "var" if (REPO_ROOT / "var").is_dir() else None,
    ) as scratch_dir:
        scratch = Path(scratch_dir)
        with LodgeSystem("sqlite", label="bench-upload", start_timeout=300) as system:
            assert system.data_dir is not None  # started
            client = system.client("student", timeout=1800)
            workers = system.gateway_workers()
            print(f"gateway workers {workers}; storage {system.data_dir / 'storage'}", flush=True)
            for size_mib in args.sizes:
                path = scratch / f"bench-{size_mib}.pdf"
                expected = make_file(path, size_mib * MiB)
                limit = ceiling(path, scratch)
                deposit = client.create_deposit("open-works", OPEN_WORK)
                with Watch(workers) as watch:
                    started = time.perf_counter()
                    created = upload_plain(client, deposit["id"], path)
                    seconds = time.perf_counter() - started
                assert created["sha256"] == expected, "the stored checksum differs"
                plain = report(f"POST {size_mib} MiB", path.stat().st_size, seconds, limit, watch)
                if args.tus and size_mib == max(args.sizes):
                    for label, send in (("tus", upload_tus_streamed), ("tuspy", upload_tus)):
                        deposit = client.create_deposit("open-works", OPEN_WORK)
                        with Watch(workers) as watch:
                            started = time.perf_counter()
                            created = send(client, deposit["id"], path)
                            seconds = time.perf_counter() - started
                        assert created["sha256"] == expected, f"{label}: the checksum differs"
                        rate = report(
                            f"{label:<6}{size_mib} MiB", path.stat().st_size, seconds, limit, watch
                        )
                        print(
                            f"{label} / POST {size_mib} MiB: {rate / plain:.0%} (target >= 90%)",
                            flush=True,
                        )
                path.unlink()


if __name__ == "__main__":
    main()
