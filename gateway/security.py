"""Security headers on every response, and no NUL character into any service: databases
refuse them, so they are a client error here rather than a server error there."""
from flask import Flask, request

from services.common.exceptions import InvalidInput

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
NUL = "\x00"
SANITISED_ARGS = frozenset({"filename"})


def _nul_fields(value, path: str) -> list[str]:
    """The JSON paths of strings (keys too) that hold a NUL character."""
    if isinstance(value, str):
        return [path or "body"] if NUL in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found += [child] if NUL in str(key) else _nul_fields(item, child)
        return found
    if isinstance(value, list):
        return [f for i, item in enumerate(value) for f in _nul_fields(item, f"{path}[{i}]")]
    return []


def refuse_nul_characters() -> None:
    # OAI-PMH answers bad arguments in its own protocol (badArgument), never with a 422
    if request.blueprint == "oai":
        return
    # an upload's file name is sanitised instead: control characters are dropped from it
    fields = [name for name, value in request.args.items(multi=True)
              if NUL in name or (NUL in value and name not in SANITISED_ARGS)]
    if NUL in request.path:
        fields.append("path")
    if request.is_json:
        fields += _nul_fields(request.get_json(silent=True), "")
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") \
            and not request.path.startswith("/api/"):
        fields += [name for name, value in request.form.items(multi=True)
                   if NUL in name or NUL in value]
    if fields:
        raise InvalidInput("Text may not contain NUL characters.",
                           fields={name: ["contains a NUL character"] for name in fields})


def register(app: Flask) -> None:
    app.before_request(refuse_nul_characters)

    @app.after_request
    def add_security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
