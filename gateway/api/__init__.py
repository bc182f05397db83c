"""REST API v1: JSON in and out, the contract campus systems rely on; one blueprint per module."""
