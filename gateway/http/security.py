"""Security headers on every response; JSON bodies held to a size and depth before they are
parsed; and no text the services refuse (a NUL or other character XML cannot carry, a lone
surrogate, a bidirectional override) past the gateway: a client error here, never a server
error there."""

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from kernel.contracts.exceptions import InvalidInput, TooLarge
from kernel.policy import text
from kernel.policy.text import user_pattern

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SANITISED_ARGS = frozenset({"filename"})
MAX_JSON_BYTES = 1024 * 1024  # also every other body's limit, but an upload's
MAX_JSON_DEPTH = 32
# a JSON string (skipped whole) or a bracket: the tokens that nesting depth is counted on
_JSON_NESTING = user_pattern(rb'"(?:[^"\\]|\\.)*+"|[\[\]{}]')


def json_depth(body: bytes) -> int:
    """How deep a JSON document nests (0 if it has at most MAX_JSON_DEPTH brackets), counted
    without parsing it, so without recursion."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # too few brackets to nest too deep: no need to count
    depth = deepest = 0
    for token in _JSON_NESTING.finditer(body):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in (b"]", b"}"):
            depth -= 1
    return deepest


class BoundedJSONProvider(DefaultJSONProvider):
    """Every JSON body the gateway reads passes here: size and depth first, then the parser."""

    def loads(self, s, **kwargs):
        body = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else bytes(s)
        # a chunked body has no Content-Length: werkzeug stops reading it at the limit, so
        # one that reaches the limit was cut off there
        if len(body) >= MAX_JSON_BYTES:
            raise TooLarge(
                f"A JSON body may hold less than {MAX_JSON_BYTES} bytes.",
                fields={"body": [f"is {MAX_JSON_BYTES} bytes or larger"]},
            )
        if json_depth(body) > MAX_JSON_DEPTH:
            raise InvalidInput(
                f"JSON may nest at most {MAX_JSON_DEPTH} levels.",
                fields={"body": [f"nests deeper than {MAX_JSON_DEPTH} levels"]},
            )
        return super().loads(s, **kwargs)


def refuse_unsafe_text() -> None:
    # OAI-PMH answers bad arguments in its own protocol (badArgument), never with a 422
    if request.blueprint == "oai":
        return
    found: dict[str, str] = {}
    # an upload's file name is sanitised instead: control characters are dropped from it
    for name, value in request.args.items(multi=True):
        problem = text.problem(name) or (None if name in SANITISED_ARGS else text.problem(value))
        if problem:
            found[name] = problem
    path_problem = text.problem(request.path)
    if path_problem:
        found["path"] = path_problem
    # the campus door reads its own body, up to the inbox's limit, and its handler refuses
    # such text in the reply's terms
    if request.is_json and request.blueprint != "campus_events_api":
        found.update(text.refused_paths(request.get_json(silent=True)))
    elif request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ) and not request.path.startswith("/api/"):
        for name, value in request.form.items(multi=True):
            problem = text.problem(name) or text.problem(value)
            if problem:
                found[name] = problem
    if found:
        raise InvalidInput(
            "Text may not hold control characters, lone surrogates or bidirectional overrides.",
            fields={name: [problem] for name, problem in found.items()},
        )


def register(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)
    app.before_request(refuse_unsafe_text)

    @app.after_request
    def add_security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
