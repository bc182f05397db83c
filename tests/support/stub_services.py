"""The gateway's RPC pool, stubbed: `services.<service>.<method>` answers what a dict holds
for "<service>.<method>", and each call is noted with how it was made (asked at once, or
waited for). For tests and benchmarks of what the gateway itself does with the answers."""

from __future__ import annotations

import contextlib


class Reply:
    def __init__(self, value) -> None:
        self.value = value

    def result(self):
        return self.value


class Method:
    def __init__(self, answer, calls: list, name: str) -> None:
        self.answer, self.calls, self.name = answer, calls, name

    def __call__(self, **arguments):
        self.calls.append((self.name, "waited for"))
        return self.answer

    def call_async(self, **arguments):
        self.calls.append((self.name, "asked at once"))
        return Reply(self.answer)


class Services:
    def __init__(self, answers: dict, calls: list, service: str = "") -> None:
        self.answers, self.calls, self.service = answers, calls, service

    def __getattr__(self, name: str):
        if not self.service:
            return Services(self.answers, self.calls, name)
        method = f"{self.service}.{name}"
        return Method(self.answers[method], self.calls, method)


class Pool:
    """In place of `app.extensions["lodge.rpc"]`."""

    def __init__(self, answers: dict) -> None:
        self.answers, self.calls = answers, []

    @contextlib.contextmanager
    def client(self):
        yield Services(self.answers, self.calls)
