"""How an RPC checks its keyword arguments and dumps its result, and the requests that
most calls extend."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from marshmallow import Schema, ValidationError, fields, validate

from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.fields import Strict
from kernel.contracts.people import ActorSchema

# a request header: the key a service applies a write call once by, for a caller that may
# send the call again as a new request (the gateway, from an Idempotency-Key); without it,
# the request's correlation id serves (kernel.platform.messaging.ReplyingRpc)
CALL_KEY_HEADER = "nameko.lodge-call-key"
CALL_KEY_LENGTH = 255


class PageRequest(Strict):
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))


class ActorRequest(Strict):
    actor = fields.Nested(ActorSchema, required=True)


class NoArguments(Strict):
    pass


def load_or_raise(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return cast(dict[str, Any], schema.load(data))
    except ValidationError as err:
        raise InvalidInput(
            "The request is not valid.", fields=cast(dict[str, Any], err.messages)
        ) from None


Method = Callable[..., Any]


def rpc_contract(
    request: type[Schema], response: Schema | None = None
) -> Callable[[Method], Method]:
    """Check an RPC's keyword arguments against `request` and dump its result with `response`.

    The wrapped method is called with the loaded arguments; callers pass keywords only.
    """
    request_schema = request()

    def decorate(method: Method) -> Method:
        @functools.wraps(method)
        def wrapper(self: Any, **kwargs: Any) -> Any:
            result = method(self, **load_or_raise(request_schema, kwargs))
            return response.dump(result) if response is not None else result

        del wrapper.__wrapped__  # nameko checks the call against the wrapper's signature
        return wrapper

    return decorate
