"""Files in and out: streamed and resumable uploads, quotas, downloads and who may have them."""
