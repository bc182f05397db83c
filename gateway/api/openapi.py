"""The OpenAPI 3 document of REST API v1, built from the same marshmallow schemas the API uses."""
from __future__ import annotations

from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls

from gateway.api import schemas
from gateway.security import MAX_JSON_BYTES, MAX_JSON_DEPTH
from kernel.contracts.approval import (QUEUE_SORTS, QUEUE_TABS, QueuePageView, ReasonView,
                                       ReviewDetailView, ReviewPageView, ReviewTaskView)
from kernel.contracts.deposits import STATUSES, DepositPageView, DepositView
from kernel.contracts.inventory import CollectionSummaryView, ItemView
from kernel.contracts.letters import LetterPreviewView
from kernel.contracts.profiles import ProfileDefinitionSchema, ProfileVersionView, ProfileView
from kernel.contracts.quotas import QuotaView

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "fields"],
                             "properties": {"code": {"type": "string"},
                                            "message": {"type": "string"},
                                            "fields": {"type": "object"}}}},
}
ERRORS = {
    "400": "Malformed request", "401": "Not signed in", "403": "Not allowed",
    "404": "No such object, or not yours", "409": "Conflict or invalid transition",
    "413": "Too large", "422": "Invalid input, with per-field messages",
    "410": "The upload expired", "412": "Tus-Resumable missing or not 1.0.0",
    "415": "Wrong content type", "460": "Upload-Checksum does not match the chunk",
    "429": "Over a limit on unfinished work (drafts, uploads); see /api/v1/quota",
}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Send a POST again with the same key (1-255 visible ASCII characters, kept "
                   "a day per caller) to get the first successful answer again, marked "
                   "Idempotent-Replayed: true, instead of doing it twice. The same key with a "
                   "different request answers 422; while the first is still running, 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def _error_response(code: str) -> dict:
    return {"description": ERRORS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _idempotent_posts(document: dict) -> None:
    """Every POST takes an Idempotency-Key (gateway/idempotency.py)."""
    for operations in document["paths"].values():
        post = operations.get("post")
        if post is None:
            continue
        post.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        for code in ("409", "422"):
            post["responses"].setdefault(code, _error_response(code))


def _header(name: str, required: bool = True) -> dict:
    return {"name": name, "in": "header", "required": required, "schema": {"type": "string"}}


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema_type: str = "string", enum: tuple | None = None) -> dict:
    schema = {"type": schema_type}
    if enum:
        schema["enum"] = list(enum)
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _operation(summary: str, response: str | None, status: str = "200", body: str | None = None,
               params: list | None = None, errors: tuple[str, ...] = ("401", "404"),
               operation_id: str | None = None, links: dict | None = None) -> dict:
    responses = {status: {"description": "OK"}}
    if links:
        responses[status]["links"] = links
    if response:
        responses[status]["content"] = {"application/json": {"schema": {"$ref": response}}}
    for code in errors:
        responses[code] = _error_response(code)
    operation = {"summary": summary, "responses": responses, "parameters": params or []}
    if operation_id:
        operation["operationId"] = operation_id
    if body:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": body}}}}
    return operation


def _links(source: str, targets: dict[str, tuple[str, ...]]) -> dict:
    """OpenAPI links: each target operation takes its path parameters from `source`, a
    runtime expression such as `$response.body#/id`, so clients (and schemathesis's stateful
    tests) can follow what one call created into the next."""
    return {f"{operation_id}": {"operationId": operation_id,
                                "parameters": {name: expression for name, expression in
                                               zip(params, (source,) * len(params))}}
            for operation_id, params in targets.items()}


DEPOSIT_LINKS = {"getDeposit": ("deposit_id",), "updateDeposit": ("deposit_id",),
                 "uploadFile": ("deposit_id",), "depositAction": ("deposit_id",),
                 "reviewAction": ("deposit_id",), "depositLetters": ("deposit_id",),
                 "startUpload": ("deposit_id",)}
# a review's operations, for the calls that put a deposit in review
REVIEW_LINKS = {"getReview": ("deposit_id",), "reviewNotes": ("deposit_id",),
                "reviewColleagues": ("deposit_id",), "editReviewMetadata": ("deposit_id",),
                "letterPreview": ("deposit_id",)}


def _component_name(schema) -> str:
    """A nested schema's component: its class name without the contracts' Schema or View."""
    name = resolve_schema_cls(schema).__name__
    return name.removesuffix("Schema").removesuffix("View") or name


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    spec = APISpec(title="Lodge REST API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_component_name)],
                   info={"description": "Self-deposit for institutional repositories. "
                                        "Authenticate with a session cookie plus X-CSRFToken, "
                                        "or with 'Authorization: Bearer <token>'. A JSON "
                                        f"body holds less than {MAX_JSON_BYTES} bytes (413) "
                                        f"and nests at most {MAX_JSON_DEPTH} levels (422)."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("session", {"type": "apiKey", "in": "cookie",
                                                "name": "lodge_session"})
    spec.components.schema("Error", ERROR)
    for name, schema in {
        "Profile": ProfileView, "Deposit": DepositView, "DepositPage": DepositPageView,
        "ReviewTask": ReviewTaskView, "ReviewPage": ReviewPageView, "Reason": ReasonView,
        "Item": ItemView, "FileCreated": schemas.FileCreated,
        "CreateDeposit": schemas.CreateDepositBody, "UpdateDeposit": schemas.UpdateDepositBody,
        "DepositAction": schemas.DepositActionBody, "ReviewAction": schemas.ReviewActionBody,
        "CreateProfile": schemas.CreateProfileBody, "ProfileDefinition": ProfileDefinitionSchema,
        "ProfileVersion": ProfileVersionView, "Collection": CollectionSummaryView,
        "DeliveryLog": schemas.DeliveryLog,
        "WithdrawItem": schemas.WithdrawItemBody,
        "QueuePage": QueuePageView, "ReviewDetail": ReviewDetailView,
        "BulkDecision": schemas.BulkDecisionBody,
        "Note": schemas.NoteBody, "ReviewMetadata": schemas.ReviewMetadataBody,
        "LetterPreviewRequest": schemas.LetterPreviewBody, "LetterPreview": LetterPreviewView,
        "ReasonBody": schemas.ReasonBody, "Quota": QuotaView,
    }.items():
        spec.components.schema(name, schema=schema)

    deposit_id, item_id = _path_param("deposit_id"), _path_param("item_id")
    profile_id = _path_param("profile_id")
    spec.path("/api/v1/profiles", operations={
        "get": _operation("Profiles the caller may use, with form fields and file rules "
                          "(staff: include_inactive=true for all; mediated=true for those the "
                          "caller may deposit with on a patron's behalf)", None,
                          params=[_query("include_inactive", "boolean"),
                                  _query("mediated", "boolean")], errors=("401", "422"),
                          operation_id="listProfiles"),
        "post": _operation("Create a profile (managers)", _ref("Profile"), "201",
                           _ref("CreateProfile"), errors=("400", "401", "403", "409", "422"),
                           operation_id="createProfile", links=_links("$response.body#/id", {
                               "getProfile": ("profile_id",), "updateProfile": ("profile_id",),
                               "profileVersions": ("profile_id",)})),
    })
    spec.path("/api/v1/profiles/{profile_id}", operations={
        "get": _operation("One profile, its current or a given version", _ref("Profile"),
                          params=[profile_id, _query("version", "integer")],
                          errors=("401", "403", "404", "422"), operation_id="getProfile"),
        "put": _operation("Edit a profile: adds a version; deposits keep theirs (managers)",
                          _ref("Profile"), body=_ref("ProfileDefinition"), params=[profile_id],
                          errors=("400", "401", "403", "404", "422"),
                          operation_id="updateProfile"),
    })
    spec.path("/api/v1/profiles/{profile_id}/versions", operations={"get": _operation(
        "A profile's versions, newest first (managers)", None, params=[profile_id],
        errors=("401", "403", "404"), operation_id="profileVersions")})
    spec.path("/api/v1/collections", operations={
        "get": _operation("Every collection, with its OAI set and item count", None, errors=(),
                          operation_id="listCollections"),
        "post": _operation("Create a collection (managers)", _ref("Collection"), "201",
                           _ref("CreateCollection"), errors=("400", "401", "403", "409", "422"),
                           operation_id="createCollection", links=_links("$response.body#/id", {
                               "getCollection": ("collection_id",),
                               "updateCollection": ("collection_id",),
                               "collectionItems": ("collection_id",),
                               "deleteCollection": ("collection_id",)})),
    })
    spec.path("/api/v1/deposits", operations={
        "get": _operation("The caller's deposits (staff may filter by depositor)",
                          _ref("DepositPage"), params=[
                              _query("status", enum=STATUSES), _query("depositor"),
                              _query("page", "integer"), _query("per_page", "integer")],
                          errors=("401", "422"), operation_id="listDeposits"),
        "post": _operation("Create a draft deposit (429 when the depositor has as many "
                           "unfinished deposits as allowed)", _ref("Deposit"), "201",
                           _ref("CreateDeposit"),
                           errors=("400", "401", "403", "404", "422", "429"),
                           operation_id="createDeposit",
                           links=_links("$response.body#/id", DEPOSIT_LINKS)),
    })
    spec.path("/api/v1/deposits/{deposit_id}", operations={
        "get": _operation("A deposit with its history, files and validation report",
                          _ref("Deposit"), params=[deposit_id], operation_id="getDeposit"),
        "patch": _operation("Change the metadata, accept the terms, or choose the access of a "
                            "draft or returned deposit", _ref("Deposit"),
                            body=_ref("UpdateDeposit"), params=[deposit_id],
                            errors=("400", "401", "403", "404", "409", "422"),
                            operation_id="updateDeposit"),
    })
    spec.path("/api/v1/quota", operations={"get": _operation(
        "The caller's unfinished work against the site's limits: drafts (draft or returned "
        "deposits), staged bytes (their files plus unfinished uploads' declared lengths) and "
        "unfinished resumable uploads. Going over answers 429 (a count) or 413 (bytes).",
        _ref("Quota"), errors=("401",), operation_id="getQuota")})
    spec.path("/api/v1/deposits/{deposit_id}/letters", operations={"get": _operation(
        "The letters sent about a deposit (staff: all; a depositor: those sent to them)",
        _ref("DeliveryLog"), params=[deposit_id], operation_id="depositLetters")})
    spec.path("/api/v1/deposits/{deposit_id}/files", operations={"post": {
        **_operation("Upload a file: the request body named by ?filename=, or multipart "
                     "with a part named 'file'. Streamed and checksummed before 201.",
                     _ref("FileCreated"), "201", params=[deposit_id, _query("filename")],
                     errors=("401", "403", "404", "409", "413", "422"),
                     operation_id="uploadFile", links={"deleteFile": {
                         "operationId": "deleteFile", "parameters": {
                             "deposit_id": "$request.path.deposit_id",
                             "file_id": "$response.body#/id"}}}),
        "requestBody": {"required": True, "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}}}}}},
    }})
    tus_version = _header("Tus-Resumable")
    upload = [deposit_id, _path_param("upload_id"), tus_version]
    spec.path("/api/v1/deposits/{deposit_id}/uploads", operations={
        "options": _operation("tus 1.0 discovery: Tus-Version, Tus-Extension "
                              "(creation, termination, expiration, checksum), "
                              "Tus-Checksum-Algorithm, and to a caller who may upload to the "
                              "deposit Tus-Max-Size (its profile's largest file)", None, "204",
                              params=[deposit_id]),
        "post": _operation("Start a resumable (tus 1.0) upload: Upload-Length, and "
                           "Upload-Metadata with filename (and optionally the whole file's "
                           "sha256 / md5 in hex). 201 with Location and Upload-Expires.",
                           None, "201", params=[deposit_id, tus_version, _header("Upload-Length"),
                                                _header("Upload-Metadata")],
                           errors=("401", "404", "409", "412", "413", "422", "429"),
                           operation_id="startUpload"),
    })
    spec.path("/api/v1/deposits/{deposit_id}/uploads/{upload_id}", operations={
        "head": _operation("Where the upload stands: Upload-Offset, Upload-Length, "
                           "Upload-Expires, and the Upload-Metadata it was created with",
                           None, "200", params=upload, errors=("401", "404", "410", "412")),
        "get": _operation("The upload as JSON: offset, and the file with its pre-check once "
                          "complete", None, "200", params=upload[:2], errors=("401", "404", "410"),
                          operation_id="getUpload"),
        "patch": {**_operation(
            "Bytes at Upload-Offset (application/offset+octet-stream), optionally with "
            "Upload-Checksum (an algorithm of Tus-Checksum-Algorithm; another one is a 400). "
            "The last byte registers the file before the 204 (Lodge-File-Id). A client that "
            "can only POST sends it as a POST with X-HTTP-Method-Override: PATCH (DELETE "
            "likewise).",
            None, "204", params=[*upload, _header("Upload-Offset"),
                                 _header("Upload-Checksum", required=False)],
            errors=("400", "401", "404", "409", "410", "412", "413", "415", "422", "460"),
            operation_id="sendUploadBytes"),
            "requestBody": {"required": True, "content": {"application/offset+octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}},
        "delete": _operation("Abandon the upload", None, "204", params=upload,
                             errors=("401", "404", "412"), operation_id="abandonUpload"),
    })
    spec.path("/api/v1/deposits/{deposit_id}/files/{file_id}", operations={"delete": _operation(
        "Remove a file from a draft or returned deposit", None, "204",
        params=[deposit_id, _path_param("file_id")], errors=("401", "403", "404", "409"),
        operation_id="deleteFile")})
    spec.path("/api/v1/deposits/{deposit_id}/actions/{action}", operations={"post": _operation(
        "Submit or withdraw", _ref("Deposit"), body=_ref("DepositAction"), params=[
            deposit_id, {**_path_param("action"),
                         "schema": {"type": "string", "enum": ["submit", "withdraw"]}}],
        errors=("400", "401", "403", "404", "409", "422"), operation_id="depositAction",
        links=_links("$request.path.deposit_id", {"getDeposit": ("deposit_id",),
                                                  "reviewAction": ("deposit_id",),
                                                  **REVIEW_LINKS}))})
    spec.path("/api/v1/reviews", operations={"get": _operation(
        "The review queue", _ref("ReviewPage"), params=[
            _query("state", enum=("open", "claimed", "decided", "cancelled", "all")),
            _query("assignee"), _query("page", "integer"), _query("per_page", "integer")],
        errors=("401", "403", "422"), operation_id="listReviews")})
    spec.path("/api/v1/reviews/{deposit_id}/actions/{action}", operations={"post": _operation(
        "Claim, release, assign, approve, decline or return a deposit (403 on one's own "
        "deposit: nobody reviews what they deposited or mediated)", _ref("ReviewTask"),
        body=_ref("ReviewAction"), params=[deposit_id, {**_path_param("action"), "schema": {
            "type": "string", "enum": ["claim", "release", "assign", "approve", "decline",
                                       "return"]}}],
        errors=("400", "401", "403", "404", "409", "422"), operation_id="reviewAction",
        links=_links("$request.path.deposit_id", {"getDeposit": ("deposit_id",)}))})
    spec.path("/api/v1/reviews/queue", operations={"get": _operation(
        "The approver's queue: tabs with counts, filters, sort, bounded pages",
        _ref("QueuePage"), params=[
            _query("tab", enum=QUEUE_TABS), _query("profile_id"), _query("collection"),
            _query("depositor"), _query("older_than_days", "integer"),
            _query("overdue", "boolean"), _query("sort", enum=QUEUE_SORTS),
            _query("page", "integer"), _query("per_page", "integer")],
        errors=("401", "403", "422"), operation_id="reviewQueue")})
    spec.path("/api/v1/reviews/bulk", operations={"post": _operation(
        "One decision for several deposits; a status per deposit (403 for the caller's own)",
        None,
        body=_ref("BulkDecision"), errors=("401", "403", "422"), operation_id="bulkDecision")})
    spec.path("/api/v1/reviews/{deposit_id}", operations={"get": _operation(
        "A deposit under review: task, staff notes, changes since return, the deposit",
        _ref("ReviewDetail"), params=[deposit_id], errors=("401", "403", "404"),
        operation_id="getReview")})
    spec.path("/api/v1/reviews/{deposit_id}/notes", operations={
        "get": _operation("Staff-only notes", None, params=[deposit_id],
                          errors=("401", "403", "404"), operation_id="reviewNotes"),
        "post": _operation("Add a staff-only note", _ref("StaffNote"), "201", _ref("Note"),
                           params=[deposit_id], errors=("401", "403", "404", "422"),
                           operation_id="addReviewNote")})
    spec.path("/api/v1/reviews/{deposit_id}/metadata", operations={"put": _operation(
        "Correct the metadata before deciding (recorded in the history)", _ref("Deposit"),
        body=_ref("ReviewMetadata"), params=[deposit_id],
        errors=("401", "403", "404", "409", "422"), operation_id="editReviewMetadata")})
    spec.path("/api/v1/reviews/{deposit_id}/letter-preview", operations={"post": _operation(
        "The letter a decision would send, not sent", _ref("LetterPreview"),
        body=_ref("LetterPreviewRequest"), params=[deposit_id], errors=("401", "403", "404"),
        operation_id="letterPreview")})
    spec.path("/api/v1/reviews/{deposit_id}/colleagues", operations={"get": _operation(
        "Approvers a task can be assigned to", None, params=[deposit_id],
        errors=("401", "403", "404"), operation_id="reviewColleagues")})
    spec.path("/api/v1/reviews/{deposit_id}/files/{file_id}", operations={"get": _operation(
        "A file under review, inline for previewable media", None,
        params=[deposit_id, _path_param("file_id")], errors=("401", "403", "404"),
        operation_id="reviewFile")})
    spec.path("/api/v1/reasons", operations={"get": _operation(
        "Decline and return reasons", None, errors=("401", "403"), operation_id="listReasons")})
    spec.path("/api/v1/reasons/{kind}/{code}", operations={
        "put": _operation("Add or relabel a reason (managers)", _ref("Reason"),
                          body=_ref("ReasonBody"),
                          params=[_path_param("kind"), _path_param("code")],
                          errors=("401", "403", "422"), operation_id="saveReason",
                          links={"deleteReason": {"operationId": "deleteReason", "parameters": {
                              "kind": "$request.path.kind", "code": "$request.path.code"}}}),
        "delete": _operation("Remove a reason (managers)", None, "204",
                             params=[_path_param("kind"), _path_param("code")],
                             errors=("401", "403", "404", "409"), operation_id="deleteReason")})
    spec.path("/api/v1/items/{item_id}", operations={"get": _operation(
        "An item in the repository", _ref("Item"), params=[item_id], errors=("404",),
        operation_id="getItem", links={"downloadItemFile": {
            "operationId": "downloadItemFile", "parameters": {
                "item_id": "$request.path.item_id",
                "file_id": "$response.body#/representations/0/files/0/id"}},
            **_links("$request.path.item_id", {"itemEvents": ("item_id",),
                                               "withdrawItem": ("item_id",)})})})
    spec.path("/api/v1/items/{item_id}/actions/withdraw", operations={"post": _operation(
        "Withdraw an item (managers): a tombstone stays and OAI-PMH reports it deleted",
        _ref("Item"), body=_ref("WithdrawItem"), params=[item_id],
        errors=("400", "401", "403", "404", "409", "422"), operation_id="withdrawItem")})
    spec.path("/api/v1/items/{item_id}/files/{file_id}", operations={"get": {
        **_operation("Download an item's file, honouring access rights", None,
                     params=[item_id, _path_param("file_id")], errors=("404",),
                     operation_id="downloadItemFile"),
    }})
    from gateway.api import inventory
    inventory.document(spec, _operation, _path_param, _query, _ref)
    from gateway.api import staff  # imports the API module, which imports this one
    staff.describe(spec, _operation, _query)
    document = spec.to_dict()
    _idempotent_posts(document)
    document["security"] = [{"bearer": []}, {"session": []}]
    return document
