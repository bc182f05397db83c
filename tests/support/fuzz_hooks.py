"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS): tus sends its chunks as
application/offset+octet-stream, which is raw bytes like application/octet-stream."""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
