"""Staff pages under /staff, one blueprint per module."""
