"""Platform: the I/O plumbing every process uses."""
