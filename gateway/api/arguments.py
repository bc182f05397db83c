"""A request's JSON body and query arguments, loaded with the API's marshmallow schemas."""

from __future__ import annotations

from flask import request

from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.rpc import load_or_raise


def json_object() -> dict:
    """The body as a JSON object, unchecked: for domain code that loads it itself."""
    data: object
    if not request.data:
        data = {}
    else:
        data = request.get_json(silent=True)
        if data is None:
            raise InvalidInput("The body is not valid JSON.", fields={"body": ["malformed JSON"]})
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", fields={"body": ["not an object"]})
    return data


def json_body(schema) -> dict:
    return load_or_raise(schema(), json_object())


def query_args(schema) -> dict:
    return load_or_raise(schema(), request.args.to_dict())
