"""Stored files sent to a browser or client, from either storage backend, with byte ranges
(media players seek, interrupted downloads resume) and the checksum as ETag."""

from __future__ import annotations

from flask import request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wrappers import Response

from gateway.http.usage import count_download
from kernel.contracts.exceptions import NotFound
from kernel.platform.storage import get_storage


def send_stored(
    stored: dict, *, inline: bool, mimetype: str | None = None, item_id: str | None = None
) -> Response:
    """`stored` as a file service returns it (storage_key, filename, size, sha256,
    media_type). An S3 object is read by ranged GETs, so a range costs only its bytes.
    With `item_id`, the item's file counts as a download (a review preview does not)."""
    try:
        source = get_storage().open(stored["storage_key"])
    except FileNotFoundError:
        raise NotFound("There is no such file.") from None
    response = send_file(
        source,
        mimetype=mimetype or stored["media_type"],
        as_attachment=not inline,
        download_name=stored["filename"],
        conditional=False,
        etag=stored["sha256"],
    )
    # send_file knows no size for an open object, and without it offers no ranges
    response.content_length = stored["size"]
    try:
        sent = response.make_conditional(
            request.environ, accept_ranges=True, complete_length=stored["size"]
        )
    except RequestedRangeNotSatisfiable:
        response.close()
        raise
    if item_id is not None and starts_a_download(sent.status_code):
        count_download(item_id, stored["id"])
    return sent


def starts_a_download(status: int) -> bool:
    """COUNTER counts successful answers, 200 and 304 (7.1), and a file once however it is
    fetched: a HEAD fetches nothing, and a range that does not start at the first byte
    continues a download already counted."""
    if request.method != "GET" or status not in (200, 206, 304):
        return False
    ranges = request.range
    return ranges is None or ranges.ranges[0][0] == 0
