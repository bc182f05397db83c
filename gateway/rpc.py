"""A pool of nameko RPC clients: the gateway reuses broker connections, never one per request.

nameko's ClusterRpcClient serves one thread at a time, so each request borrows a started
client and gives it back. A client whose connection broke is dropped and replaced.
"""
from __future__ import annotations

import contextlib
import queue
import threading

from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcClient


class RpcPool:
    def __init__(self, amqp_uri: str, size: int, timeout: float):
        self.amqp_uri = amqp_uri
        self.timeout = timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _new_client(self):
        runner = ClusterRpcClient(timeout=self.timeout, uri=self.amqp_uri)
        return runner, runner.start()

    @contextlib.contextmanager
    def client(self):
        with self._slots:
            try:
                runner, proxy = self._idle.get_nowait()
            except queue.Empty:
                runner, proxy = self._new_client()
            try:
                yield proxy
            except (RpcTimeout, OperationalError, OSError):
                # the reply may still come, or the connection is gone: never reuse it
                with contextlib.suppress(Exception):
                    runner.stop()
                raise
            except BaseException:
                self._idle.put((runner, proxy))
                raise
            else:
                self._idle.put((runner, proxy))

    def close(self) -> None:
        while True:
            try:
                runner, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                runner.stop()
