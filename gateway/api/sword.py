"""SWORD v2 at /sword/: the service document, collections (one per profile), and each
deposit's edit, edit-media and statement IRIs. The documents are gateway/campus/sword.py's;
files go through the upload path of gateway/api/deposits.py.

Token only: HTTP Basic with an API token as the password (the user name is not read) or
Bearer. A session cookie counts for nothing here, so no request can be forged from a page
(the blueprint is exempt from CSRF). A campus system's token makes the collections its
registration names; `On-Behalf-Of` is for a system whose mode for the profile is `mediated`.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
import uuid
from collections.abc import Callable

from flask import Blueprint, Response, current_app, g, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header

from gateway.api.deposits import find_account, register_staged_file, stage, upload_room
from gateway.auth.guard import token_holder
from gateway.campus import packages, systems
from gateway.campus import sword as documents
from gateway.campus.sword import SwordError
from gateway.files.quotas import reserved_by_uploads, room_for_file
from gateway.files.uploads import check_declared_length, raw_chunks, sanitise_filename
from gateway.rpc import rpc
from kernel.contracts import exceptions as domain
from kernel.contracts.campus import Mode
from kernel.platform.config import get_settings
from kernel.platform.storage import get_storage

sword = Blueprint("sword", __name__, url_prefix="/sword")

SCOPE = "deposit"
ATOM_ENTRY = "application/atom+xml"
EDITABLE = ("draft", "returned")
MIME = {
    "receipt": "application/atom+xml;type=entry",
    "feed": documents.STATEMENT_ATOM,
    "ore": documents.STATEMENT_ORE,
    "service": "application/atomsvc+xml",
    "error": "application/xml",
}


# --- who is asking -------------------------------------------------------------------------


def _token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            return None
        return password or None
    return None


@sword.before_request
def authenticate():
    g.actor, g.token_scopes, g.system = None, None, None  # a session cookie counts for nothing
    token = _token()
    held = token_holder(token) if token else None
    if held is None:
        raise SwordError(
            "unauthorized",
            "Send an API token as the password of HTTP Basic, or as 'Authorization: Bearer'.",
            status=401,
        )
    g.actor, g.token_scopes = held
    if SCOPE not in g.token_scopes:
        raise SwordError("forbidden", f"This API token lacks the scope '{SCOPE}'.", status=403)
    with current_app.extensions["lodge.database"].reading() as session:
        g.system = systems.by_account(session, g.actor.id)


# --- errors --------------------------------------------------------------------------------

DOMAIN_ERRORS: dict[type[domain.LodgeError], tuple[str, int]] = {
    domain.InvalidInput: ("ErrorBadRequest", 400),
    domain.TooLarge: ("MaxUploadSizeExceeded", 413),
    domain.InvalidTransition: ("MethodNotAllowed", 405),
    domain.NotFound: ("not_found", 404),
    domain.Forbidden: ("forbidden", 403),
    domain.Conflict: ("conflict", 409),
    domain.QuotaExceeded: ("quota_exceeded", 429),
    domain.Unavailable: ("unavailable", 503),
}


def _error_response(error: SwordError) -> Response:
    response = Response(documents.error_document(error), error.status, mimetype=MIME["error"])
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="SWORD"'
    return response


@sword.errorhandler(SwordError)
def on_sword_error(error: SwordError):
    return _error_response(error)


@sword.errorhandler(domain.LodgeError)
def on_domain_error(error: domain.LodgeError):
    name, status = DOMAIN_ERRORS.get(type(error), (error.code, 400))
    return _error_response(SwordError(name, error.message, status, error.fields))


@sword.errorhandler(HTTPException)
def on_http_error(error: HTTPException):
    status = error.code or 400
    name = {413: "MaxUploadSizeExceeded", 405: "MethodNotAllowed", 400: "ErrorBadRequest"}.get(
        status, (error.name or "error").lower().replace(" ", "_")
    )
    return _error_response(SwordError(name, error.description or error.name, status))


# --- what the caller may use ---------------------------------------------------------------


def _profiles(services) -> dict[str, dict]:
    """The profiles the caller may deposit with: a user's are intake's list for them; a
    system's are those its registration names that intake lets its account use (by itself,
    or as a mediator for the mediated ones)."""
    found = {
        p["id"]: p
        for p in services.intake.list_profiles(
            actor=g.actor, include_inactive=False, mediated=False
        )
    }
    if g.system is None:
        return found
    found.update(
        (p["id"], p)
        for p in services.intake.list_profiles(actor=g.actor, include_inactive=False, mediated=True)
    )
    return {key: value for key, value in found.items() if g.system.mode_for(key) is not None}


def _profile(services, profile_id: str) -> dict:
    definition = _profiles(services).get(profile_id)
    if definition is None:
        raise SwordError("not_found", "There is no such collection for you.", status=404)
    return definition


def _on_behalf_of(profile_id: str):
    """The patron named by On-Behalf-Of, if any: only a system whose mode for the profile is
    mediated may name one, and only an account Lodge knows (by username or e-mail)."""
    reference = request.headers.get("On-Behalf-Of", "").strip()
    if not reference:
        return None
    if g.system is None or g.system.mode_for(profile_id) is not Mode.MEDIATED:
        raise SwordError(
            "MediationNotAllowed",
            "Only a campus system registered for mediated deposits with this profile may "
            "deposit on someone's behalf.",
        )
    patron = find_account(reference)
    if patron is None or patron.id == g.actor.id:
        raise SwordError("TargetOwnerUnknown", f"There is no account {reference!r} here.")
    return patron


def _origin(profile_id: str, mediated: bool) -> dict | None:
    """A campus system's deposit for a patron says where it came from. Without
    On-Behalf-Of the deposit is the system's own, an ordinary one (intake's origin is for
    deposits made for a patron), and its client follows it by the statement."""
    if g.system is None or not mediated:
        return None
    return {
        "system": g.system.name,
        "source": "sword",
        "event_id": uuid.uuid4().hex,
        "mode": str(Mode.MEDIATED),
    }


# --- the request's body and headers --------------------------------------------------------


def _in_progress() -> bool:
    value = request.headers.get("In-Progress", "true").strip().lower()
    if value not in ("true", "false"):
        raise SwordError("ErrorBadRequest", "In-Progress is true or false.")
    return value == "true"


def _content_md5() -> dict[str, str]:
    """Content-MD5 as SWORD clients send it: hex (most do) or base64 (RFC 1864)."""
    value = request.headers.get("Content-MD5", "").strip()
    if not value:
        return {}
    if len(value) == 32:
        try:
            return {"md5": bytes.fromhex(value).hex()}
        except ValueError:
            pass
    try:
        return {"md5": base64.b64decode(value, validate=True).hex()}
    except (binascii.Error, ValueError):
        raise SwordError(
            "ErrorChecksumMismatch", "Content-MD5 is neither hex nor base64."
        ) from None


def _packaging() -> str:
    packaging = request.headers.get("Packaging", documents.BINARY).strip()
    if packaging not in documents.ACCEPT_PACKAGING:
        raise SwordError(
            "ErrorContent",
            f"Lodge takes the packaging {' or '.join(documents.ACCEPT_PACKAGING)}.",
        )
    return packaging


def _filename() -> str:
    _, options = parse_options_header(request.headers.get("Content-Disposition", ""))
    raw = options.get("filename")
    if not raw:
        raise SwordError(
            "ErrorBadRequest", "Name the file: Content-Disposition: attachment; filename=…"
        )
    return sanitise_filename(urllib.parse.unquote(raw))


def _is_entry() -> bool:
    return request.mimetype == ATOM_ENTRY


def _entry_metadata(definition: dict) -> documents.EntryMetadata:
    check_declared_length(request.content_length, documents.MAX_ENTRY_BYTES)
    request.max_content_length = documents.MAX_ENTRY_BYTES + 1
    body = request.stream.read(documents.MAX_ENTRY_BYTES + 1)
    return documents.entry_metadata(documents.parse_entry(body), definition["fields"])


# --- files ---------------------------------------------------------------------------------


def _file_body() -> tuple[str, str | None]:
    """The packaging of a file body, and its file name (Binary) taken from
    Content-Disposition; checked before anything changes."""
    if request.mimetype.startswith("multipart/"):
        raise SwordError("ErrorContent", "Send the file as the body; multipart is not taken.")
    packaging = _packaging()
    return packaging, _filename() if packaging == documents.BINARY else None


def _add_files(deposit: dict, filename: str | None) -> list[str]:
    """The body as the deposit's file `filename`, or a SimpleZip's files; the ids of what
    was added. Files added before a refusal are removed again."""
    deposit_id = deposit["id"]
    policy, limit = upload_room(deposit_id)
    expected = _content_md5()
    added: list[str] = []

    def register(name: str, stored) -> None:
        created = register_staged_file(deposit_id, name, stored, policy["file_rules"])
        added.append(created["id"])

    try:
        if filename is not None:
            check_declared_length(request.content_length, limit)
            request.max_content_length = limit  # the app's default is for JSON
            register(filename, _stage(deposit_id, raw_chunks(request.stream), limit, expected))
        else:
            _unpack(deposit, policy, expected, register)
    except BaseException:
        _remove_files(deposit_id, added)
        raise
    return added


def _stage(deposit_id: str, chunks, limit: int, expected: dict[str, str]):
    try:
        return stage(deposit_id, chunks, limit, expected)
    except domain.InvalidInput as err:
        if "md5" in err.fields:
            raise SwordError("ErrorChecksumMismatch", err.message) from None
        raise


def _unpack(deposit: dict, policy: dict, expected: dict[str, str], register: Callable) -> None:
    rules = policy["file_rules"]
    used = sum(file["size"] for file in deposit["files"])
    # the package may be as large as the deposit's and the quota's room for all its files
    whole = {**policy, "max_file_size": rules["max_total_size"] - used}
    room = room_for_file(whole, reserved_by_uploads(g.actor.id))
    check_declared_length(request.content_length, room)
    request.max_content_length = room
    storage = get_storage()
    package = _stage(deposit["id"], raw_chunks(request.stream), room, expected)
    try:
        with storage.open(package.key) as source:
            packages.unpack(
                source,
                max_files=rules["max_files"] - len(deposit["files"]),
                max_file_size=min(rules["max_file_size"], room),
                max_total=room,
                save=lambda chunks, size: storage.save(
                    package.key + "-" + uuid.uuid4().hex[:8], chunks, max_size=size
                ),
                register=register,
            )
    finally:
        storage.delete(package.key)


def _remove_files(deposit_id: str, file_ids: list[str]) -> None:
    with rpc() as services:
        for file_id in file_ids:
            services.intake.remove_file(actor=g.actor, deposit_id=deposit_id, file_id=file_id)


# --- deposits ------------------------------------------------------------------------------


def _iris(deposit_id: str) -> documents.DepositIris:
    base = get_settings().site.base_url

    def iri(endpoint: str) -> str:
        return base + url_for(endpoint, deposit_id=deposit_id)

    return documents.DepositIris(
        edit=iri("sword.edit"),
        edit_media=iri("sword.edit_media"),
        statement_atom=iri("sword.statement_atom"),
        statement_ore=iri("sword.statement_ore"),
        alternate=base + url_for("portal.deposit", deposit_id=deposit_id),
        file_base=iri("sword.edit_media"),
    )


def _deposit(services, deposit_id: str) -> dict:
    deposit = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
    if deposit["status"] == "withdrawn":
        raise SwordError("gone", "This deposit was deleted.", status=410)
    _check_on_behalf_of(deposit)
    return deposit


def _check_on_behalf_of(deposit: dict) -> None:
    """A client may repeat On-Behalf-Of on every request: it must name the depositor."""
    patron = _on_behalf_of(deposit["profile_id"])
    if patron is not None and patron.id != deposit["depositor"]["id"]:
        raise SwordError(
            "TargetOwnerUnknown", "On-Behalf-Of names someone else than the depositor."
        )


def _editable(deposit: dict) -> None:
    if deposit["status"] not in EDITABLE:
        raise SwordError(
            "MethodNotAllowed",
            f"The deposit is {deposit['status']}: only a draft or a returned deposit changes.",
        )


def _complete(services, deposit: dict) -> dict:
    """In-Progress: false: accept the profile's terms (the collection policy) and submit."""
    if g.system is not None and g.system.mode_for(deposit["profile_id"]) is Mode.DRAFT:
        raise SwordError(
            "forbidden",
            "This system's deposits with this profile stay drafts for the depositor to submit.",
            status=403,
            fields={"In-Progress": ["must be true"]},
        )
    services.intake.update_deposit(
        actor=g.actor, deposit_id=deposit["id"], metadata=None, accept_terms=True, access=None
    )
    return services.intake.submit(actor=g.actor, deposit_id=deposit["id"])


def _receipt(services, deposit_id: str, status: int, packaging: str | None = None) -> Response:
    deposit = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
    definition = _profiles(services).get(deposit["profile_id"], {"fields": []})
    iris = _iris(deposit_id)
    body = documents.deposit_receipt(
        deposit, definition["fields"], iris, _treatment(deposit), packaging
    )
    response = Response(body, status, mimetype=MIME["receipt"])
    if status == 201:
        response.headers["Location"] = iris.edit
    return response


def _treatment(deposit: dict) -> str:
    if deposit["status"] in EDITABLE:
        return "Kept as a draft in Lodge; complete it with In-Progress: false to submit it."
    if deposit.get("mediated_by"):
        return "Deposited on the depositor's behalf: checked, then archived without approval."
    return "Submitted: Lodge checks the files, the profile's approvers decide, then it is archived."


@sword.get("/servicedocument")
def service_document():
    with rpc() as services:
        profiles = list(_profiles(services).values())
    base = get_settings().site.base_url
    collections = [
        documents.Collection(
            href=base + url_for("sword.collection", profile_id=p["id"]),
            title=p["name"],
            abstract=p.get("description") or "",
            policy=p.get("terms") or "",
            mediation=g.system is not None and g.system.mode_for(p["id"]) is Mode.MEDIATED,
            treatment=(
                "Kept as a draft for the depositor to submit."
                if g.system is not None and g.system.mode_for(p["id"]) is Mode.DRAFT
                else "Checked, then approved as the profile says, then archived."
            ),
        )
        for p in profiles
    ]
    biggest = max((p["file_rules"]["max_total_size"] for p in profiles), default=None)
    body = documents.service_document(get_settings().site.repository_name, collections, biggest)
    return Response(body, 200, mimetype=MIME["service"])


@sword.post("/collections/<profile_id>")
def collection(profile_id):
    """Create a deposit: an Atom entry (metadata), or a file (Binary) or package (SimpleZip)."""
    in_progress = _in_progress()
    packaging, filename = (None, None) if _is_entry() else _file_body()
    with rpc() as services:
        definition = _profile(services, profile_id)
        patron = _on_behalf_of(profile_id)
        metadata = _entry_metadata(definition).metadata if packaging is None else {}
        deposit = services.intake.create_deposit(
            actor=g.actor,
            profile_id=profile_id,
            metadata=metadata,
            on_behalf_of=patron,
            origin=_origin(profile_id, patron is not None),
        )
        try:
            if packaging is not None:
                _add_files(deposit, filename)
            if not in_progress:
                _complete(services, deposit)
        except BaseException:
            # nothing half made: the new draft goes (its files were removed already)
            services.intake.withdraw(
                actor=g.actor, deposit_id=deposit["id"], note="The SWORD deposit was refused."
            )
            raise
        return _receipt(services, deposit["id"], 201, packaging)


@sword.route("/deposits/<deposit_id>", methods=["GET", "PUT", "POST", "DELETE"])
def edit(deposit_id):
    """The Edit-IRI (and SE-IRI): the receipt; replace (PUT) or add to (POST) the metadata;
    POST a file or package to add it; an empty POST with In-Progress: false completes the
    deposit; DELETE deletes a draft."""
    with rpc() as services:
        deposit = _deposit(services, deposit_id)
        if request.method == "GET":
            return _receipt(services, deposit_id, 200)
        _editable(deposit)
        if request.method == "DELETE":
            services.intake.withdraw(
                actor=g.actor, deposit_id=deposit_id, note="Deleted over SWORD."
            )
            return Response(status=204)
        in_progress = _in_progress()
        if request.method == "POST" and request.content_length and not _is_entry():
            _add_files(deposit, _file_body()[1])
        elif request.content_length or _is_entry():
            if not _is_entry():
                raise SwordError("ErrorContent", "PUT on the Edit-IRI takes an Atom entry.")
            definition = _profile(services, deposit["profile_id"])
            given = _entry_metadata(definition).metadata
            metadata = given if request.method == "PUT" else _added(deposit["metadata"], given)
            services.intake.update_deposit(
                actor=g.actor,
                deposit_id=deposit_id,
                metadata=metadata,
                accept_terms=None,
                access=None,
            )
        if not in_progress:
            _complete(services, deposit)
        return _receipt(services, deposit_id, 200)


def _added(metadata: dict, given: dict) -> dict:
    """POST to the Edit-IRI adds: a list gains the new values, a single value is set."""
    merged = dict(metadata)
    for key, value in given.items():
        old = merged.get(key)
        merged[key] = [*old, *value] if isinstance(old, list) and isinstance(value, list) else value
    return merged


@sword.route("/deposits/<deposit_id>/media", methods=["GET", "PUT", "POST", "DELETE"])
def edit_media(deposit_id):
    """The EM-IRI: the files (as an Atom feed), replaced (PUT), added to (POST) or removed
    (DELETE) while the deposit is a draft. The profile gives these no In-Progress: they
    never complete a deposit."""
    with rpc() as services:
        deposit = _deposit(services, deposit_id)
        if request.method == "GET":
            body = documents.atom_statement(deposit, _iris(deposit_id))
            return Response(body, 200, mimetype=MIME["feed"])
        _editable(deposit)
        packaging, filename = _file_body() if request.method != "DELETE" else (None, None)
        if request.method in ("PUT", "DELETE"):
            _remove_files(deposit_id, [file["id"] for file in deposit["files"]])
            deposit = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
        if packaging is None:
            return Response(status=204)
        added = _add_files(deposit, filename)
        if request.method == "PUT":
            return Response(status=204)
        response = _receipt(services, deposit_id, 201, packaging)
        # the profile: POST to the EM-IRI answers with the deposited file's own IRI
        if len(added) == 1:
            response.headers["Location"] = _iris(deposit_id).file(added[0])
        return response


@sword.route("/deposits/<deposit_id>/media/<file_id>", methods=["GET", "DELETE"])
def file_media(deposit_id, file_id):
    """One file's EM-IRI: DELETE removes it from a draft. Lodge does not serve a deposit's
    files back over SWORD; an archived item's files are on its page."""
    with rpc() as services:
        deposit = _deposit(services, deposit_id)
        if request.method == "GET":
            raise SwordError("MethodNotAllowed", "Lodge does not serve deposited files over SWORD.")
        _editable(deposit)
        services.intake.remove_file(actor=g.actor, deposit_id=deposit_id, file_id=file_id)
    return Response(status=204)


@sword.get("/deposits/<deposit_id>/statement.atom")
def statement_atom(deposit_id):
    with rpc() as services:
        deposit = _deposit(services, deposit_id)
    body = documents.atom_statement(deposit, _iris(deposit_id))
    return Response(body, 200, mimetype=MIME["feed"])


@sword.get("/deposits/<deposit_id>/statement.rdf")
def statement_ore(deposit_id):
    with rpc() as services:
        deposit = _deposit(services, deposit_id)
    body = documents.ore_statement(deposit, _iris(deposit_id))
    return Response(body, 200, mimetype=MIME["ore"])
