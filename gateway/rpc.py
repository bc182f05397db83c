"""A pool of nameko RPC clients: the gateway reuses broker connections, never one per request.

nameko's ClusterRpcClient serves one thread at a time, so each request borrows a started
client and gives it back. A client whose connection broke is dropped and replaced.
"""
from __future__ import annotations

import contextlib
import queue
import socket
import threading

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcClient, ReplyListener

CONNECTION_LOST = (AmqpConnectionError, OperationalError, OSError)


class KeptReplyListener(ReplyListener):
    """Waits for replies on one broker connection for the client's whole life.

    nameko's standalone listener starts a new `consume()`, and so opens a new connection,
    for every reply it waits for: about 8 ms on each call. This one keeps its consumer, and
    when the broker has closed the idle connection it reconnects once; the reply queue
    outlives the connection, so no reply is lost.
    """
    replies = None

    def start(self):
        super().start()
        # nobody drains an idle pooled connection, so the broker would count its heartbeats
        # as missed and close it every few minutes; like nameko's publisher connections it
        # relies on TCP keepalive instead
        self.consumer.heartbeat = None

    def consume_reply(self, correlation_id):
        if self.consumer.should_stop:
            raise RuntimeError("Stopped and can no longer be used")
        reconnected = False
        while not self.pending.get(correlation_id):
            if self.replies is None:
                self.replies = self.consumer.consume(timeout=self.timeout)
            try:
                next(self.replies)
            except socket.timeout:
                self.close_consumer()
                raise RpcTimeout() from None
            except CONNECTION_LOST:
                self.close_consumer()
                if reconnected:
                    raise
                reconnected = True
        return self.pending.pop(correlation_id)

    def close_consumer(self) -> None:
        if self.replies is not None:
            with contextlib.suppress(Exception):
                self.replies.close()  # leaves kombu's consumer context: the connection closes
            self.replies = None

    def stop(self):
        super().stop()
        self.close_consumer()


class KeptRpcClient(ClusterRpcClient):
    def __init__(self, **options):
        super().__init__(**options)
        # ClusterRpcClient builds its listener itself; this only swaps in the keeping kind
        self.reply_listener.__class__ = KeptReplyListener


class RpcPool:
    def __init__(self, amqp_uri: str, size: int, timeout: float):
        self.amqp_uri = amqp_uri
        self.timeout = timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _new_client(self):
        runner = KeptRpcClient(timeout=self.timeout, uri=self.amqp_uri)
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
            except (RpcTimeout, *CONNECTION_LOST):
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
