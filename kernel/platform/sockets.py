"""Whether the peer has spoken on a socket (data, an error or a hang-up), without waiting.

poll(), not select(): select() cannot watch a descriptor numbered past 1024, and eventlet's
patched select module has no poll(), so the original module's is used (it never blocks
here: the timeout is 0)."""

from __future__ import annotations

from eventlet.patcher import original

_select = original("select")
_SPOKE = _select.POLLIN | _select.POLLPRI | _select.POLLERR | _select.POLLHUP


def spoke(descriptor) -> bool:
    """`descriptor`: a socket, or anything with fileno()."""
    poller = _select.poll()
    poller.register(descriptor, _SPOKE)
    return bool(poller.poll(0))
