"""Resumable uploads over tus 1.0 (core, creation, termination, expiration, checksum).

    OPTIONS /api/v1/deposits/<id>/uploads            what this server supports
    POST    /api/v1/deposits/<id>/uploads            Upload-Length, Upload-Metadata (filename)
    HEAD    /api/v1/deposits/<id>/uploads/<upload>   Upload-Offset: where to continue
    PATCH   /api/v1/deposits/<id>/uploads/<upload>   bytes at Upload-Offset
    DELETE  /api/v1/deposits/<id>/uploads/<upload>   abandon it
    POST    /api/v1/deposits/<id>/uploads/<upload>   with X-HTTP-Method-Override: PATCH or DELETE
    GET     /api/v1/deposits/<id>/uploads/<upload>   JSON: progress, and the file once finished

Same sign-in, CSRF and ownership rules as the plain upload: an upload belongs to the person
who created it, and anyone else gets 404. The PATCH that delivers the last byte checks the
whole file's checksums, moves it into staging storage, registers it with intake, and only
then answers 204 (with `Lodge-File-Id`).
"""

from __future__ import annotations

from email.utils import formatdate

from flask import Blueprint, g, jsonify, make_response, request, url_for

from gateway.api.deposits import register_staged_file
from gateway.api.spec import header, operation, path_param
from gateway.auth.guard import login_required
from gateway.files.quotas import upload_area
from gateway.files.resumable import (
    CHUNK_CHECKSUMS,
    ChecksumMismatch,
    Gone,
    UnsupportedChecksum,
    Upload,
    UploadArea,
    parse_metadata,
)
from gateway.files.uploads import check_declared_length, raw_chunks, sanitise_filename
from gateway.http.errors import error_response
from gateway.rpc import rpc
from kernel.contracts.exceptions import InvalidInput, LodgeError
from kernel.platform.config import get_settings
from kernel.platform.storage import get_storage, new_key
from kernel.policy.text import user_pattern

TUS_VERSION = "1.0.0"
TUS_HEADERS = {"Tus-Resumable": TUS_VERSION}
OFFSET_TYPE = "application/offset+octet-stream"

tus = Blueprint("tus", __name__, url_prefix="/api/v1/deposits/<deposit_id>/uploads")


@tus.after_request
def tus_headers(response):
    response.headers.update(TUS_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


@tus.errorhandler(Gone)
def on_gone(err):
    return error_response(410, err.code, err.message, err.fields)


@tus.errorhandler(UnsupportedChecksum)
def on_unsupported_checksum(err):
    return error_response(400, err.code, err.message, err.fields)


@tus.errorhandler(ChecksumMismatch)
def on_checksum_mismatch(err):
    return error_response(460, err.code, err.message, err.fields)


@tus.before_request
def require_tus_version():
    if request.method in ("OPTIONS", "GET"):
        return None
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        response = error_response(
            412,
            "precondition_failed",
            f"Send 'Tus-Resumable: {TUS_VERSION}'; no other version is served.",
            {"Tus-Resumable": [f"must be {TUS_VERSION}"]},
        )
        response.headers["Tus-Version"] = TUS_VERSION
        return response
    return None


def _header_int(name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isdigit():
        raise InvalidInput(
            f"The {name} header must be a whole number of bytes.",
            fields={name: ["is required" if not value else "not a number"]},
        )
    return int(value)


def _expires(upload: Upload) -> str:
    return formatdate(upload.expires_at, usegmt=True)


@tus.route("", methods=["OPTIONS"], provide_automatic_options=False)
def options(deposit_id):
    """Discovery. The largest upload is the deposit's profile's: it is told to a caller
    who may upload to this deposit."""
    response = make_response("", 204)
    response.headers.update(
        {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": "creation,termination,expiration,checksum",
            "Tus-Checksum-Algorithm": ",".join(CHUNK_CHECKSUMS),
        }
    )
    if g.actor is not None:
        try:
            with rpc() as services:
                policy = services.intake.upload_policy(actor=g.actor, deposit_id=deposit_id)
        except LodgeError:
            return response  # not theirs, or no longer open to files: discovery only
        response.headers["Tus-Max-Size"] = str(policy["max_file_size"])
    return response


@tus.post("")
@login_required
def create(deposit_id):
    if "Upload-Defer-Length" in request.headers:
        raise InvalidInput(
            "Declare the length up front.", fields={"Upload-Defer-Length": ["not supported"]}
        )
    length = _header_int("Upload-Length")
    metadata = parse_metadata(request.headers.get("Upload-Metadata"))
    filename = sanitise_filename(metadata.get("filename") or metadata.get("name"))
    with rpc() as services:
        policy = services.intake.upload_policy(actor=g.actor, deposit_id=deposit_id)
    check_declared_length(length, policy["max_file_size"])
    if length == 0:
        raise InvalidInput("The file is empty.", fields={"file": ["is empty"]})
    allowed = [ext.lower().lstrip(".") for ext in policy["allowed_extensions"]]
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if allowed and extension not in allowed:
        raise InvalidInput(
            f"Files of type .{extension or '?'} are not accepted for this profile.",
            fields={"file": [f"accepted: {', '.join('.' + a for a in allowed)}"]},
        )
    expected = {
        name: metadata[name].strip().lower() for name in ("sha256", "md5") if metadata.get(name)
    }
    staged = policy["quota"]["staged_bytes"]
    upload = upload_area().create(
        deposit_id,
        g.actor.id,
        filename,
        length,
        expected,
        max_uploads=get_settings().quotas.uploads,
        staged_room=staged["limit"] - staged["used"],
        file_rules=policy["file_rules"],
        metadata=request.headers.get("Upload-Metadata", ""),
    )
    response = make_response("", 201)
    response.headers["Location"] = url_for(
        "tus.status", deposit_id=deposit_id, upload_id=upload.id, _external=True
    )
    response.headers["Upload-Expires"] = _expires(upload)
    return response


@tus.route("/<upload_id>", methods=["GET", "HEAD"])
@login_required
def status(deposit_id, upload_id):
    """HEAD: the tus offset. GET: the same as JSON, with the file and its pre-check once done."""
    area = upload_area()
    upload = area.settled(upload_id, deposit_id, g.actor.id)
    if request.method == "HEAD":
        response = make_response("", 200)
        response.headers.update(
            {
                "Upload-Offset": str(area.offset(upload)),
                "Upload-Length": str(upload.length),
                "Upload-Expires": _expires(upload),
            }
        )
        if upload.metadata:
            response.headers["Upload-Metadata"] = upload.metadata
        return response
    return jsonify(
        id=upload.id,
        filename=upload.filename,
        length=upload.length,
        offset=area.offset(upload),
        complete=upload.file is not None,
        expires=_expires(upload),
        file=upload.file,
        precheck=upload.precheck,
    )


@tus.patch("/<upload_id>")
@login_required
def patch(deposit_id, upload_id):
    area = upload_area()
    upload = area.get(upload_id, deposit_id, g.actor.id)
    if request.mimetype != OFFSET_TYPE:
        return error_response(
            415,
            "unsupported_media_type",
            f"Send the bytes as {OFFSET_TYPE}.",
            {"Content-Type": [f"must be {OFFSET_TYPE}"]},
        )
    area.require_unfinished(upload)
    offset = _header_int("Upload-Offset")
    declared = request.content_length
    if declared is not None:
        check_declared_length(offset + declared, upload.length)
    # gunicorn marks its input terminated, so werkzeug bounds the stream by this and answers
    # 413 on reaching it: one byte of room, so a body that fills the upload exactly still fits
    # and a longer one is refused by the upload's own length check
    request.max_content_length = upload.length - offset + 1
    finished: dict = {}
    offset = area.append(
        upload,
        offset,
        raw_chunks(request.stream),
        request.headers.get("Upload-Checksum"),
        complete=lambda: finished.update(_finish(area, upload)),
    )
    response = make_response("", 204)
    if finished:
        response.headers["Lodge-File-Id"] = finished["id"]
    response.headers.update({"Upload-Offset": str(offset), "Upload-Expires": _expires(upload)})
    return response


UPLOAD_PATH = user_pattern(r"^/api/v1/deposits/[^/]+/uploads/[^/]+/?$")
OVERRIDABLE = frozenset({"PATCH", "DELETE"})


def method_override(wsgi_app):
    """tus: a client that can only POST sends `X-HTTP-Method-Override: PATCH` (or DELETE)
    to an upload's URL. Honoured there only; everything else about the request (CSRF,
    sign-in, ownership) is checked as for the method it stands for."""

    def app(environ, start_response):
        override = environ.get("HTTP_X_HTTP_METHOD_OVERRIDE", "").strip().upper()
        if (
            environ.get("REQUEST_METHOD") == "POST"
            and override in OVERRIDABLE
            and UPLOAD_PATH.match(environ.get("PATH_INFO", ""))
        ):
            environ["REQUEST_METHOD"] = override
        return wsgi_app(environ, start_response)

    return app


def _finish(area: UploadArea, upload: Upload) -> dict:
    """Checksums checked, bytes in staging storage, file registered: only then success.
    Anything refused here ends the upload, so nothing partial stays behind."""
    try:
        digests = area.digests(upload)
        wrong = {
            name: ["does not match the uploaded bytes"]
            for name, value in upload.expected.items()
            if getattr(digests, name) != value
        }
        if wrong:
            raise InvalidInput(
                "The file arrived damaged: its checksum differs from the one sent.", fields=wrong
            )
        stored = get_storage().adopt(
            new_key("staging", upload.deposit_id), area.part_path(upload.id), digests
        )
        created = register_staged_file(
            upload.deposit_id, upload.filename, stored, upload.file_rules
        )
    except BaseException:
        area.delete(upload.id)
        raise
    precheck = created.pop("precheck")
    area.finished(upload, created, precheck)
    return created


@tus.delete("/<upload_id>")
@login_required
def terminate(deposit_id, upload_id):
    area = upload_area()
    upload = area.get(upload_id, deposit_id, g.actor.id)
    if upload.file is None:
        with area.locked(upload):
            area.delete(upload.id)
    else:
        area.delete(upload.id)
    return "", 204


def describe(spec) -> None:
    """This module's paths in the OpenAPI document."""
    deposit_id = path_param("deposit_id")
    tus_version = header("Tus-Resumable")
    upload = [deposit_id, path_param("upload_id"), tus_version]
    spec.path(
        "/api/v1/deposits/{deposit_id}/uploads",
        operations={
            "options": operation(
                "tus 1.0 discovery: Tus-Version, Tus-Extension "
                "(creation, termination, expiration, checksum), "
                "Tus-Checksum-Algorithm, and to a caller who may upload to the "
                "deposit Tus-Max-Size (its profile's largest file)",
                None,
                "204",
                params=[deposit_id],
            ),
            "post": operation(
                "Start a resumable (tus 1.0) upload: Upload-Length, and "
                "Upload-Metadata with filename (and optionally the whole file's "
                "sha256 / md5 in hex). 201 with Location and Upload-Expires.",
                None,
                "201",
                params=[
                    deposit_id,
                    tus_version,
                    header("Upload-Length"),
                    header("Upload-Metadata"),
                ],
                errors=("401", "404", "409", "412", "413", "422", "429"),
                operation_id="startUpload",
            ),
        },
    )
    spec.path(
        "/api/v1/deposits/{deposit_id}/uploads/{upload_id}",
        operations={
            "head": operation(
                "Where the upload stands: Upload-Offset, Upload-Length, "
                "Upload-Expires, and the Upload-Metadata it was created with",
                None,
                "200",
                params=upload,
                errors=("401", "404", "410", "412"),
            ),
            "get": operation(
                "The upload as JSON: offset, and the file with its pre-check once complete",
                None,
                "200",
                params=upload[:2],
                errors=("401", "404", "410"),
                operation_id="getUpload",
            ),
            "patch": {
                **operation(
                    "Bytes at Upload-Offset (application/offset+octet-stream), optionally with "
                    "Upload-Checksum (an algorithm of "
                    "Tus-Checksum-Algorithm; another one is a 400). "
                    "The last byte registers the file before "
                    "the 204 (Lodge-File-Id). A client that "
                    "can only POST sends it as a POST with X-HTTP-Method-Override: PATCH (DELETE "
                    "likewise).",
                    None,
                    "204",
                    params=[
                        *upload,
                        header("Upload-Offset"),
                        header("Upload-Checksum", required=False),
                    ],
                    errors=("400", "401", "404", "409", "410", "412", "413", "415", "422", "460"),
                    operation_id="sendUploadBytes",
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/offset+octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
            },
            "delete": operation(
                "Abandon the upload",
                None,
                "204",
                params=upload,
                errors=("401", "404", "412"),
                operation_id="abandonUpload",
            ),
        },
    )
