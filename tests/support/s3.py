"""A real S3 endpoint for tests: `moto_server` (moto[server]) on a free port of this machine.

    with S3Endpoint() as s3:
        bucket = s3.new_bucket("inventory")
        storage = S3Storage(bucket, client=s3.client())
        env = s3.lodge_env(bucket)       # for a `lodge run` that keeps its files in S3

Each test takes a bucket of its own, so tests never see each other's objects. No pytest
here: tests/conftest.py wraps it in the session fixture `s3_endpoint`.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
import time
import uuid

import requests

from tests.support.system import free_port

# moto accepts any credentials; these are not secrets
ACCESS_KEY, SECRET_KEY, REGION = "lodge-test", "lodge-test-secret", "us-east-1"


class S3Endpoint:
    def __init__(self, start_timeout: float = 60.0):
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.url: str | None = None
        self.process: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> S3Endpoint:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # a file, not a pipe: moto logs every request, and a full pipe nobody reads would
        # stop it mid-answer
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as moto does
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"moto_server exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                if requests.get(f"{self.url}/moto-api/", timeout=2).status_code < 500:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not answer within {self.start_timeout} s")
            time.sleep(0.1)

    def log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    @functools.cached_property
    def _client(self):
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def client(self):
        """A boto3 S3 client for this endpoint: one for the session, shared by the tests
        (boto3's clients are thread-safe; making one reads its service model, about a
        second of CPU, which each test paid twice)."""
        return self._client

    def new_bucket(self, label: str = "lodge") -> str:
        """A fresh, empty bucket with a unique name."""
        name = f"{label}-{uuid.uuid4().hex[:12]}".lower()
        self.client().create_bucket(Bucket=name)
        return name

    def lodge_env(self, bucket: str) -> dict[str, str]:
        """Environment variables that make Lodge keep its files in `bucket` here."""
        return {
            "LODGE_STORAGE_BACKEND": "s3",
            "LODGE_S3_ENDPOINT_URL": self.url,
            "LODGE_S3_BUCKET": bucket,
            "LODGE_S3_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def objects(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in `bucket` (under `prefix`), sorted."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def multipart_uploads_in_progress(self, bucket: str) -> list[str]:
        answer = self.client().list_multipart_uploads(Bucket=bucket)
        return [upload["Key"] for upload in answer.get("Uploads", [])]
